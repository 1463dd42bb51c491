"""Alert rules (PrometheusRule groups) for GPUs and every served model, in the metric names they really emit."""

from __future__ import annotations

from dataclasses import dataclass

from policies.rules.metric_names import GPU_SERIES, KV_CACHE_USAGE, QUEUED_REQUESTS

GPU_TEMPERATURE_CELSIUS = 90  # A770 throttles from ~95 C
GPU_POWER_WATTS = 225  # A770 board power
QUEUE_DEPTH = 10
KV_CACHE_FRACTION = 0.95


@dataclass(frozen=True)
class ServedModel:
    """What the alerts need to know of one model service and its pool."""

    model: str
    served_name: str
    namespace: str
    generation: str  # vLLM metric generation: v0 | v1
    pool: str
    loads_model: bool
    epp_ready_series: str  # the EPP generation's ready-endpoints series, labelled `name=<pool>`


def _alert(name: str, expr: str, duration: str, severity: str, summary: str, **labels: str) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, **labels},
        "annotations": {"summary": summary},
    }


def gpu_alerts(exporter_generation: str) -> list[dict]:
    series = GPU_SERIES[exporter_generation]
    by = f"node, {series['gpu_label']}"
    return [
        # The threshold alerts below say nothing when the series is missing (an exporter that maps no GPU, as
        # XPU Manager v1 may under DRA): say so instead.
        _alert("GpuMetricsAbsent", f"absent({series['utilization']})", "15m", "warning",
               f"No GPU utilization series ({series['utilization'].split('{')[0]}) reaches Prometheus: the GPU "
               "exporter is down, unscraped, or sees no GPU"),
        _alert("GpuTemperatureHigh", f"max by ({by}) ({series['temperature']}) > {GPU_TEMPERATURE_CELSIUS}", "5m", "warning",
               f"GPU {{{{ $labels.{series['gpu_label']} }}}} on {{{{ $labels.node }}}} is above {GPU_TEMPERATURE_CELSIUS} C"),
        _alert("GpuPowerHigh", f"max by ({by}) ({series['power']}) > {GPU_POWER_WATTS}", "10m", "warning",
               f"GPU {{{{ $labels.{series['gpu_label']} }}}} on {{{{ $labels.node }}}} draws more than {GPU_POWER_WATTS} W"),
    ]


def model_alerts(m: ServedModel) -> list[dict]:
    vllm = f'namespace="{m.namespace}", model_name="{m.served_name}"'
    pods = f'namespace="{m.namespace}", pod=~"{m.model}-decode-.+"'
    alerts = [
        _alert("ModelServerDown", f"up{{{pods}}} == 0", "5m", "critical",
               f"A {m.served_name} model server is not answering /metrics", model=m.model),
        _alert("RequestQueueBuildingUp", f"sum({QUEUED_REQUESTS[m.generation]}{{{vllm}}}) > {QUEUE_DEPTH}", "5m", "warning",
               f"More than {QUEUE_DEPTH} requests wait for {m.served_name}", model=m.model),
        _alert("KvCacheSaturated", f"max({KV_CACHE_USAGE[m.generation]}{{{vllm}}}) > {KV_CACHE_FRACTION}", "10m", "warning",
               f"The KV cache of {m.served_name} is over {KV_CACHE_FRACTION:.0%} full", model=m.model),
        _alert("EppNoReadyEndpoints", f'max({m.epp_ready_series}{{name="{m.pool}"}}) == 0', "2m", "critical",
               f"The endpoint picker of {m.pool} has no ready model server", model=m.model),
    ]
    if m.loads_model:
        alerts.append(
            _alert("ModelLoaderFailed",
                   f'max(kube_job_status_failed{{namespace="{m.namespace}", job_name=~"{m.model}-load-.+"}}) > 0', "1m",
                   "critical", f"Unpacking the ModelKit of {m.served_name} failed", model=m.model)
        )
    return alerts


def rule_groups(models: list[ServedModel], exporter_generation: str | None) -> list[dict]:
    groups = []
    if exporter_generation:
        groups.append({"name": "llm-d-gpus", "rules": gpu_alerts(exporter_generation)})
    groups.append({"name": "llm-d-serving", "rules": [a for m in models for a in model_alerts(m)]})
    return groups
