"""The serving dashboard, generated: request rate, latency, queue, KV cache, prefix cache, GPUs."""

from __future__ import annotations

import json

from policies.rules.metric_names import GPU_SERIES, KV_CACHE_USAGE, QUEUED_REQUESTS, SERVING_SERIES

UID = "llm-d-serving"
SELECTOR = 'model_name=~"$model"'


def _panel(index: int, title: str, unit: str, targets: list[tuple[str, str]]) -> dict:
    return {
        "id": index + 1,
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "targets": [
            {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend} for i, (expr, legend) in enumerate(targets)
        ],
    }


def _per_generation(generations: list[str], build) -> list[tuple[str, str]]:
    return [build(g) for g in generations]


def dashboard(generations: list[str], exporter_generation: str | None) -> dict:
    """Panels use each metric name of the vLLM generations in use and of the exporter generation, nothing else."""
    gens = sorted(set(generations))
    p95 = "histogram_quantile(0.95, sum by (le, model_name) (rate({metric}_bucket{{" + SELECTOR + "}}[5m])))"
    panels = [
        ("Request rate", "reqps", [(f"sum by (model_name) (rate(vllm:e2e_request_latency_seconds_count{{{SELECTOR}}}[5m]))",
                                    "{{model_name}}")]),
        ("Time to first token (p95)", "s", [(p95.format(metric="vllm:time_to_first_token_seconds"), "{{model_name}}")]),
        ("Inter-token latency (p95)", "s",
         _per_generation(gens, lambda g: (p95.format(metric=SERVING_SERIES[g]["itl_histogram"]), "{{model_name}}"))),
        ("Queue depth", "short",
         _per_generation(gens, lambda g: (f"sum by (model_name) ({QUEUED_REQUESTS[g]}{{{SELECTOR}}})", "{{model_name}}"))),
        ("KV cache use", "percentunit",
         _per_generation(gens, lambda g: (f"max by (pod) ({KV_CACHE_USAGE[g]}{{{SELECTOR}}})", "{{pod}}"))),
        ("Prefix-cache hit rate", "percentunit",
         _per_generation(gens, lambda g: (SERVING_SERIES[g]["prefix_hit_rate"].format(selector=SELECTOR), "{{pod}}"))),
    ]
    if exporter_generation:
        gpu = GPU_SERIES[exporter_generation]
        legend = "{{node}} {{" + gpu["gpu_label"] + "}}"
        by = f"node, {gpu['gpu_label']}"
        panels += [
            ("GPU utilisation", "percentunit", [(f"avg by ({by}) ({gpu['utilization']})", legend)]),
            ("GPU memory used", "bytes", [(f"max by ({by}) ({gpu['memory_used']})", legend)]),
            ("GPU temperature", "celsius", [(f"max by ({by}) ({gpu['temperature']})", legend)]),
        ]
    return {
        "uid": UID,
        "title": "llm-d serving",
        "schemaVersion": 39,
        "editable": False,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "tags": ["llm-d", "vllm", "intel-gpu"],
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source"},
                {
                    "name": "model",
                    "type": "query",
                    "label": "Model",
                    "datasource": {"type": "prometheus", "uid": "${datasource}"},
                    "query": "label_values(vllm:num_requests_waiting, model_name)",
                    "includeAll": True,
                    "multi": True,
                    "refresh": 2,
                },
            ]
        },
        "panels": [_panel(i, title, unit, targets) for i, (title, unit, targets) in enumerate(panels)],
    }


def dashboard_json(generations: list[str], exporter_generation: str | None) -> str:
    return json.dumps(dashboard(generations, exporter_generation), indent=2, sort_keys=True)


def expressions(board: dict) -> list[str]:
    return [t["expr"] for panel in board["panels"] for t in panel["targets"]]
