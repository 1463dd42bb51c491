"""Metric names each engine generation emits: the one list EPP flags, guards, alerts, dashboards and rules use.

Part of the policy pack (which must stand alone); the program imports it from here."""

from __future__ import annotations

from .versions import image_tag, release

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
        version = release(image_tag(image))
        return "v0" if version is not None and version[:2] < (0, 10) else "v1"
    return "v1"


def metrics_generation_of_image(image: str) -> str:
    """The generation of whatever engine an image is (what a policy rule sees in chart values)."""
    if "ipex-llm" in image:
        return metrics_generation("ipex-llm", image)
    if "llm-d-inference-sim" in image:
        return metrics_generation("sim", image)
    return metrics_generation("vllm", image)


# Intel XPU Manager: v1 exporter (`xpum_*`, :29999) and v2 xpumd (`hw_*`, :8080).
XPUM_METRICS: dict[str, frozenset[str]] = {
    "v1": frozenset(
        {
            "xpum_engine_group_ratio",
            "xpum_memory_used_bytes",
            "xpum_memory_ratio",
            "xpum_temperature_celsius",
            "xpum_power_watts",
            "xpum_frequency_mhz",
        }
    ),
    "v2": frozenset(
        {
            "hw_gpu_utilization_ratio",
            "hw_memory_usage_bytes",
            "hw_memory_utilization_ratio",
            "hw_temperature_celsius",
            "hw_power_watts",
            "hw_frequency_hertz",
        }
    ),
}

# GPU series per exporter generation, as PromQL selectors, and the label that tells GPUs apart.
GPU_SERIES: dict[str, dict[str, str]] = {
    "v1": {
        "utilization": 'xpum_engine_group_ratio{type="compute"}',
        "memory_used": "xpum_memory_used_bytes",
        "temperature": 'xpum_temperature_celsius{location="gpu"}',
        "power": "xpum_power_watts",
        "gpu_label": "pci_bdf",  # also on v1 series, and unique per GPU
    },
    "v2": {
        "utilization": "hw_gpu_utilization_ratio",
        "memory_used": "hw_memory_usage_bytes",
        "temperature": 'hw_temperature_celsius{hw_sensor_location="gpu",statistic="max"}',
        "power": 'hw_power_watts{hw_sensor_location="gpu"}',
        "gpu_label": "pci_bdf",
    },
}

# Endpoint Picker (GAIE) pool metrics, and the Kubernetes series the alerts use.
EPP_METRICS = frozenset({"inference_pool_ready_pods", "inference_pool_average_queue_size", "inference_pool_average_kv_cache_utilization"})
KUBE_METRICS = frozenset({"up", "kube_job_status_failed"})

# Serving series per vLLM generation (the dashboard and alerts pick by the engine's generation).
SERVING_SERIES: dict[str, dict[str, str]] = {
    "v0": {
        "itl_histogram": "vllm:time_per_output_token_seconds",
        "prefix_hit_rate": "vllm:gpu_prefix_cache_hit_rate{{{selector}}}",
    },
    "v1": {
        "itl_histogram": "vllm:inter_token_latency_seconds",
        "prefix_hit_rate": "rate(vllm:prefix_cache_hits_total{{{selector}}}[5m]) / rate(vllm:prefix_cache_queries_total{{{selector}}}[5m])",
    },
}

HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def known_metric(name: str, allowed: frozenset[str]) -> bool:
    """A series name is known when it, or the histogram it is a `_bucket`/`_count`/`_sum` of, is in `allowed`."""
    if name in allowed:
        return True
    return any(name.endswith(s) and name[: -len(s)] in allowed for s in HISTOGRAM_SUFFIXES)
