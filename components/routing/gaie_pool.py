"""The GAIE `inferencepool` chart line (EPP + InferencePool): its values layout per chart version.

Chart versions are GAIE release tags; the release name is the pool's name, the EPP Service `<release>-epp`.
"""

from __future__ import annotations

from typing import Any

import yaml

from policies.rules.metric_names import KV_CACHE_USAGE, QUEUED_REQUESTS
from policies.rules.versions import release

from ..values import deep_merge
from .contract import POOL_GROUP, EppPluginSpec, EppProfileSpec, InferencePoolArgs

EXT_PROC_PORT = 9002  # the chart hard-codes the container port; changing extProcPort alone breaks routing
EPP_METRICS_PORT = 9090
PLUGINS_FILE = "custom-plugins.yaml"

# The metric-name flags per vLLM generation (names from the one list in metric_names).
EPP_METRIC_FLAGS: dict[str, dict[str, str]] = {
    generation: {
        "kv-cache-usage-percentage-metric": KV_CACHE_USAGE[generation],
        "total-queued-requests-metric": QUEUED_REQUESTS[generation],
    }
    for generation in ("v0", "v1")
}


def plugins_config(plugins: tuple[EppPluginSpec, ...], profiles: tuple[EppProfileSpec, ...]) -> str:
    """The EndpointPickerConfig the EPP loads (decoded strictly: no unknown fields)."""
    config = {
        "apiVersion": "inference.networking.x-k8s.io/v1alpha1",
        "kind": "EndpointPickerConfig",
        "plugins": [
            {k: v for k, v in (("type", p.type), ("name", p.name), ("parameters", p.parameters or None)) if v is not None}
            for p in plugins
        ],
        "schedulingProfiles": [
            {
                "name": profile.name,
                "plugins": [
                    {"pluginRef": ref, **({"weight": weight} if weight is not None else {})} for ref, weight in profile.plugins
                ],
            }
            for profile in profiles
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def epp_flags(generation: str, extra_flags: dict[str, str], boolean_flags: bool = False) -> list[dict[str, str]]:
    """EPP flags as the chart's `flags` list. Chart v1.1.0 renders each flag as two args (`--name value`), which
    breaks boolean flags, so only string-valued flags are passed before v1.6.0 (the version guards refuse the rest)."""
    flags = {**EPP_METRIC_FLAGS[generation], **extra_flags}
    if boolean_flags:
        flags = {k: v.lower() if isinstance(v, str) and v.lower() in ("true", "false") else v for k, v in flags.items()}
    for name, value in flags.items():
        if not isinstance(value, str) or (value.lower() in ("true", "false") and not boolean_flags):
            raise ValueError(f"EPP flag --{name}: only string flags can be passed through this chart")
    return [{"name": name, "value": value} for name, value in sorted(flags.items())]


def _at_least(version: str, minimum: tuple[int, int]) -> bool:
    """Chart versions are GAIE release tags (`v1.1.0`)."""
    found = release(version)
    return found is not None and found[:2] >= minimum


def chart_flags(flags: list[dict[str, str]], chart_version: str) -> list[dict[str, str]] | dict[str, str]:
    """The chart's `flags` value: a list of {name, value} up to v1.1, a map from v1.2 on."""
    return {f["name"]: f["value"] for f in flags} if _at_least(chart_version, (1, 2)) else flags


def epp_metrics_auth(chart_version: str, monitor_labels: dict[str, str] | None) -> bool:
    """Whether the EPP guards /metrics with TokenReview + SubjectAccessReview. The chart turns it off
    (`--metrics-endpoint-auth=false`) when it makes no ServiceMonitor itself, but chart v1.1.x renders its own
    `--tracing false` as two args and Go's flag parsing stops there, so that flag is never read: auth stays on."""
    return monitor_labels is not None or not _at_least(chart_version, (1, 2))


def chart_values(args: InferencePoolArgs, pod_labels: dict[str, str], port: int, generation: str) -> dict[str, Any]:
    monitoring: dict[str, Any] = {"interval": "10s", "prometheus": {"enabled": args.monitor_labels is not None}}
    if args.monitor_labels is not None:
        # EPP v1.1.0 serves /metrics behind a bearer token: the chart's ServiceMonitor sends the EPP
        # service account's token from this Secret. One Secret per release (the default name collides).
        monitoring["prometheus"].update(
            auth={"enabled": True, "secretName": f"{args.release}-metrics-reader"},
            extraLabels=dict(args.monitor_labels),
        )
    values = {
        "inferenceExtension": {
            "replicas": args.epp_replicas,
            "image": {
                "hub": args.epp_image.hub,
                "name": args.epp_image.name,
                "tag": args.epp_image.tag,
                "pullPolicy": "IfNotPresent",
            },
            "extProcPort": EXT_PROC_PORT,
            "pluginsConfigFile": PLUGINS_FILE,
            "pluginsCustomConfig": {PLUGINS_FILE: plugins_config(args.plugins, args.profiles)},
            "flags": chart_flags(
                epp_flags(generation, args.extra_flags, boolean_flags=_at_least(args.chart_version, (1, 6))), args.chart_version
            ),
            "monitoring": monitoring,
        },
        "inferencePool": {
            "apiVersion": f"{POOL_GROUP}/v1",
            # Under the v1 API only targetPorts counts (targetPortNumber is v1alpha2-only and ignored).
            "targetPorts": [{"number": port}],
            "modelServerType": "vllm",
            "modelServers": {"matchLabels": dict(pod_labels)},
        },
        # kgateway talks to the EPP itself; no provider-specific objects.
        "provider": {"name": "none"},
    }
    return deep_merge(values, args.extra_values)


