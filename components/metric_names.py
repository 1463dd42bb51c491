"""Metric names each engine generation emits: the one list EPP flags, guards, alerts and dashboards use."""

from __future__ import annotations

# vLLM V0 engine (IPEX-LLM's vLLM 0.8.3) and V1 engine (vLLM >= 0.10, only these from 0.12; the llm-d simulator).
VLLM_METRICS: dict[str, frozenset[str]] = {
    "v0": frozenset(
        {
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:gpu_cache_usage_perc",
            "vllm:gpu_prefix_cache_hit_rate",
            "vllm:time_to_first_token_seconds",
            "vllm:time_per_output_token_seconds",
            "vllm:e2e_request_latency_seconds",
            "vllm:lora_requests_info",
            "vllm:cache_config_info",
        }
    ),
    "v1": frozenset(
        {
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc",
            "vllm:prefix_cache_queries_total",
            "vllm:prefix_cache_hits_total",
            "vllm:time_to_first_token_seconds",
            "vllm:inter_token_latency_seconds",
            "vllm:e2e_request_latency_seconds",
            "vllm:lora_requests_info",
            "vllm:cache_config_info",
        }
    ),
}

KV_CACHE_USAGE = {"v0": "vllm:gpu_cache_usage_perc", "v1": "vllm:kv_cache_usage_perc"}
QUEUED_REQUESTS = {"v0": "vllm:num_requests_waiting", "v1": "vllm:num_requests_waiting"}
# EPP flags that name a model-server metric; their value must be one the engine emits.
EPP_METRIC_FLAG_NAMES = ("kv-cache-usage-percentage-metric", "total-queued-requests-metric", "lora-info-metric")
