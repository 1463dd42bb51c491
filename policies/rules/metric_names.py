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
# The core-metrics-extractor's engineConfigs fields that name a model-server metric (EPP >= GAIE v1.4, llm-d-router).
ENGINE_SPEC_FIELDS = ("queuedRequestsSpec", "runningRequestsSpec", "kvUsageSpec", "loraSpec", "cacheInfoSpec")


def engine_metric_specs(generation: str) -> dict[str, str]:
    """A `vllm` engine config for the core-metrics-extractor: the metric names an engine generation emits."""
    return {
        "queuedRequestsSpec": QUEUED_REQUESTS[generation],
        "runningRequestsSpec": "vllm:num_requests_running",
        "kvUsageSpec": KV_CACHE_USAGE[generation],
        "loraSpec": "vllm:lora_requests_info",
        "cacheInfoSpec": "vllm:cache_config_info",
    }


# Whose release an engine image's tag names. llm-d's images (ghcr.io/llm-d/llm-d-xpu, -cuda, ...) are tagged with
# the llm-d release, not the vLLM one: the vLLM each is built on, where known (llm-d v0.9.0: vLLM 0.26).
LLMD_RELEASE_VLLM: dict[tuple[int, int], tuple[int, int]] = {(0, 9): (0, 26)}
LLMD_IMAGE = "/llm-d/llm-d-"
SIMULATOR_IMAGE = "llm-d-inference-sim"


def engine_family(image: str) -> str:
    """`ipex-llm`, `sim` (llm-d's simulator), `llm-d` (llm-d's vLLM builds: tags are llm-d releases) or `vllm`
    (vllm/vllm-openai-xpu, intel/vllm and other vLLM builds: tags are vLLM releases)."""
    if "ipex-llm" in image:
        return "ipex-llm"
    if SIMULATOR_IMAGE in image:
        return "sim"
    if LLMD_IMAGE in image:
        return "llm-d"
    return "vllm"


def gpu_backend(image: str) -> str:
    """What an engine image is built for: `xpu` (Intel GPUs), `rocm` (AMD), `cpu`, `cuda` (NVIDIA: vllm/vllm-openai
    and any other vLLM build that does not say xpu, rocm or cpu), `none` (the simulator)."""
    lowered = image.lower()
    if engine_family(image) == "sim":
        return "none"
    for backend in ("rocm", "xpu", "cpu"):
        if backend in lowered:
            return backend
    return "cuda"


def vllm_release(image: str) -> tuple[int, int] | None:
    """The vLLM (major, minor) a vLLM image is built on; None when its tag does not tell."""
    found = release(image_tag(image))
    if found is None:
        return None
    if engine_family(image) == "llm-d":
        return LLMD_RELEASE_VLLM.get(found[:2])
    return found[:2]


def metrics_generation(kind: str, image: str) -> str:
    """Which vLLM metric names an engine emits: IPEX-LLM is vLLM 0.8.3 (V0), vLLM >= 0.10 and the simulator V1. An
    llm-d image whose llm-d release is not in the table is taken as V1 (the `engine-release-known` guard says so)."""
    if kind == "ipex-llm":
        return "v0"
    if kind == "vllm":
        version = vllm_release(image)
        return "v0" if version is not None and version < (0, 10) else "v1"
    return "v1"


def metrics_generation_of_image(image: str) -> str:
    """The generation of whatever engine an image is (what a policy rule sees in chart values)."""
    family = engine_family(image)
    return metrics_generation(family if family in ("ipex-llm", "sim") else "vllm", image)


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

# Endpoint Picker pool series per EPP line (each labelled `name=<pool>`): GAIE's, and llm-d-router's renamed ones
# (the old names are still exported there, deprecated).
EPP_POOL_SERIES: dict[str, dict[str, str]] = {
    "gaie": {"ready_endpoints": "inference_pool_ready_pods", "average_queue_size": "inference_pool_average_queue_size",
             "average_kv_cache_utilization": "inference_pool_average_kv_cache_utilization"},
    "llm-d-router": {"ready_endpoints": "llm_d_epp_ready_endpoints", "average_queue_size": "llm_d_epp_average_queue_size",
                     "average_kv_cache_utilization": "llm_d_epp_average_kv_cache_utilization"},
}
EPP_METRICS = frozenset(name for series in EPP_POOL_SERIES.values() for name in series.values())
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
