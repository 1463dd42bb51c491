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


def metrics_generation(kind: str, image: str) -> str:
    """Which vLLM metric names an engine emits: IPEX-LLM is vLLM 0.8.3 (V0), vLLM >= 0.10 and the simulator V1."""
    if kind == "ipex-llm":
        return "v0"
    if kind == "vllm":
        tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
        parts = tag.lstrip("v").split("-")[0].split(".")
        try:
            return "v0" if (int(parts[0]), int(parts[1])) < (0, 10) else "v1"
        except (ValueError, IndexError):
            return "v1"
    return "v1"


def metrics_generation_of_image(image: str) -> str:
    """The generation of whatever engine an image is (what a policy rule sees in chart values)."""
    if "ipex-llm" in image:
        return metrics_generation("ipex-llm", image)
    if "llm-d-inference-sim" in image:
        return metrics_generation("sim", image)
    return metrics_generation("vllm", image)
