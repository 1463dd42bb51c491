"""InferencePool + Endpoint Picker (the GAIE `inferencepool` chart) for one model service, and the GAIE CRDs.

Uses `helm.v4.Chart` (no Helm hooks). The release name is the pool name; the EPP Service is `<release>-epp`.
Selector and target port come from the model service's outputs; metric-name flags from its engine generation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from policies.rules.metric_names import KV_CACHE_USAGE, QUEUED_REQUESTS
from policies.rules.versions import release
from . import helm
from .chart_sources import GAIE_CRDS, INFERENCEPOOL
from .meta import child_options
from .values import deep_merge

POOL_GROUP = "inference.networking.k8s.io"
POOL_KIND = "InferencePool"
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


@dataclass(frozen=True)
class EppPluginSpec:
    type: str
    name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EppProfileSpec:
    name: str
    plugins: tuple[tuple[str, int | None], ...]  # (pluginRef, weight)


@dataclass(frozen=True)
class EppImage:
    hub: str
    name: str
    tag: str

    @staticmethod
    def parse(image: str) -> "EppImage":
        """`hub/name:tag[@digest]` as the chart's `hub`/`name`/`tag` (it renders `{hub}/{name}:{tag}`, so a digest
        stays pinned as part of the tag); an image without a registry path is a Docker Hub library image."""
        reference, at, digest = image.partition("@")
        repository, tag = reference.rsplit(":", 1)
        tag += at + digest
        hub, name = repository.rsplit("/", 1) if "/" in repository else ("docker.io/library", repository)
        return EppImage(hub, name, tag)


@dataclass(frozen=True)
class InferencePoolArgs:
    namespace: pulumi.Input[str]
    release: str  # the pool's name
    chart_version: str
    epp_image: EppImage
    epp_replicas: int
    plugins: tuple[EppPluginSpec, ...]
    profiles: tuple[EppProfileSpec, ...]
    # From the model service component.
    pod_labels: pulumi.Input[dict[str, str]]
    target_port: pulumi.Input[int]
    metrics_generation: pulumi.Input[str]
    extra_flags: dict[str, str] = field(default_factory=dict)  # string flags only (see epp_flags)
    monitor_labels: dict[str, str] | None = None  # None: no ServiceMonitor
    extra_values: dict[str, Any] = field(default_factory=dict)


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


class InferenceExtensionCrds(pulumi.ComponentResource):
    """All GAIE CRDs of a release (InferencePool v1 plus the x-k8s ones the EPP watches), installed first."""

    def __init__(self, name: str, version: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferenceExtensionCrds", name, None, opts)
        self.manifests = helm.yaml_bundle(f"{name}-manifests", GAIE_CRDS, version, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


class InferencePool(pulumi.ComponentResource):
    pool_name: pulumi.Output[str]
    pool_group: str = POOL_GROUP
    pool_kind: str = POOL_KIND
    epp_service: pulumi.Output[str]
    epp_port: pulumi.Output[int]

    def __init__(self, name: str, args: InferencePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferencePool", name, None, opts)
        values = pulumi.Output.all(args.pod_labels, args.target_port, args.metrics_generation).apply(
            lambda resolved: chart_values(args, *resolved)
        )
        chart = helm.chart(f"{name}-release", INFERENCEPOOL, args.chart_version, release=args.release,
                           namespace=args.namespace, values=values, opts=child_options(self, opts))
        self.pool_name = chart.urn.apply(lambda _: args.release)
        self.epp_service = chart.urn.apply(lambda _: f"{args.release}-epp")
        self.epp_port = chart.urn.apply(lambda _: EXT_PROC_PORT)
        # The chart labels EPP pods `inferencepool: <release>-epp`.
        self.epp_pod_labels = {"inferencepool": f"{args.release}-epp"}
        self.metrics_auth = epp_metrics_auth(args.chart_version, args.monitor_labels)
        self.register_outputs({"pool_name": self.pool_name, "epp_service": self.epp_service, "epp_port": self.epp_port})
