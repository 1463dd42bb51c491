"""The GAIE `inferencepool` chart line (EPP + InferencePool): its pins, its values layout per chart version, its
guards. Chart versions are GAIE release tags; the release name is the pool's name, the EPP Service `<release>-epp`.

Layouts, read from each chart (values.yaml and templates):
- v1.1.0: image `hub`/`name`/`tag`, `flags` a list of {name, value}, each rendered as two args;
- v1.2.1: `flags` a map, still two args per flag (so no boolean flags), `--tracing=false` and
  `--metrics-endpoint-auth=false` (no chart ServiceMonitor) rendered by the chart itself;
- v1.5.0 (GAIE's last release with charts): image `registry`/`repository`/`tag`, `resources`, `failureMode`; the EPP
  refuses the metric-name flags (from v1.4) and reads the names from the `core-metrics-extractor` plugin's
  `engineConfigs`; `/metrics` auth is `monitoring.prometheus.auth.enabled`.
"""

from __future__ import annotations

from typing import Any

import yaml

from policies.rules.metric_names import EPP_POOL_SERIES, engine_metric_specs
from policies.rules.versions import image_tag, release

from ..chart_sources import ChartSource, FileSource
from ..values import deep_merge
from .contract import POOL_GROUP, CrdBundle, EppMetricNames, EppPluginSpec, EppProfileSpec, Guard, InferencePoolArgs

INFERENCEPOOL = ChartSource("oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool", "v1.2.1",
                            supported=("v1.1.0", "v1.5.0"))
LAST_CHART = "v1.5.0"  # GAIE v1.6.0 ships CRDs only: the EPP and its charts moved to llm-d-router
# Every GAIE CRD of a release (not only the v1 pool CRD); v1.6.0 is the llm-d-router line's.
GAIE_CRDS = FileSource(
    "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/{version}/manifests.yaml",
    INFERENCEPOOL.version, (*INFERENCEPOOL.supported, "v1.6.0"))
CHARTS = (INFERENCEPOOL,)
FILES = (GAIE_CRDS,)

EXT_PROC_PORT = 9002  # the chart hard-codes the container port; changing extProcPort alone breaks routing
EPP_METRICS_PORT = 9090
PLUGINS_FILE = "custom-plugins.yaml"
# EPP flags that name a model-server metric: the only way to set metric names before v1.4, refused from v1.4.
METRIC_FLAGS = ("kv-cache-usage-percentage-metric", "total-queued-requests-metric", "total-running-requests-metric",
                "lora-info-metric", "cache-info-metric")


def _at_least(version: str, minimum: tuple[int, int]) -> bool:
    """Chart versions are GAIE release tags (`v1.1.0`)."""
    found = release(version)
    return found is not None and found[:2] >= minimum


def metric_flags(generation: str) -> dict[str, str]:
    """The metric-name flags of a vLLM generation (chart < v1.4)."""
    specs = engine_metric_specs(generation)
    return {"kv-cache-usage-percentage-metric": specs["kvUsageSpec"],
            "total-queued-requests-metric": specs["queuedRequestsSpec"]}


def metrics_plugins(generation: str, data_source: bool = True) -> list[dict[str, Any]]:
    """The plugins that scrape model servers and name their metrics (EPP >= v1.4): the built-in `vllm` engine
    config replaced by the generation's names (an engine config of that name replaces the built-in wholesale)."""
    plugins: list[dict[str, Any]] = []
    if data_source:
        plugins.append({"type": "metrics-data-source",
                        "parameters": {"scheme": "http", "path": "/metrics", "insecureSkipVerify": True}})
    plugins.append({"type": "core-metrics-extractor",
                    "parameters": {"engineConfigs": [{"name": "vllm", **engine_metric_specs(generation)}]}})
    return plugins


def plugins_config(api_version: str, plugins: tuple[EppPluginSpec, ...], profiles: tuple[EppProfileSpec, ...],
                   generation: str | None = None) -> str:
    """The EndpointPickerConfig the EPP loads (decoded strictly: no unknown fields). With a generation, the
    metric plugins are added unless the user configured their own."""
    listed = [
        {k: v for k, v in (("type", p.type), ("name", p.name), ("parameters", p.parameters or None)) if v is not None}
        for p in plugins
    ]
    if generation is not None:
        given = {p["type"] for p in listed}
        if "core-metrics-extractor" not in given:
            listed += [p for p in metrics_plugins(generation) if p["type"] not in given]
    config = {
        "apiVersion": api_version,
        "kind": "EndpointPickerConfig",
        "plugins": listed,
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


def string_flags(flags: dict[str, str], chart_version: str) -> list[dict[str, str]]:
    """Every GAIE chart renders a flag as two args (`--name value`): Go's flag parsing stops at a boolean's value,
    so only string-valued flags can pass (the guards refuse the rest, naming the key)."""
    for name, value in flags.items():
        if not isinstance(value, str) or value.lower() in ("true", "false"):
            raise ValueError(f"EPP flag --{name}: inferencepool chart {chart_version} renders it as two args; only "
                             "string flags can be passed through this chart")
    return [{"name": name, "value": value} for name, value in sorted(flags.items())]


def chart_flags(flags: list[dict[str, str]], chart_version: str) -> list[dict[str, str]] | dict[str, str]:
    """The chart's `flags` value: a list of {name, value} up to v1.1, a map from v1.2 on."""
    return {f["name"]: f["value"] for f in flags} if _at_least(chart_version, (1, 2)) else flags


class GaiePool:
    """GAIE's inferencepool chart, v1.1.0 to v1.5.0."""

    key = "gaie"
    chart_name = "inferencepool"
    chart = INFERENCEPOOL
    ext_proc_port = EXT_PROC_PORT
    metrics_port = EPP_METRICS_PORT

    def crd_bundles(self, chart_version: str) -> tuple[CrdBundle, ...]:
        # The resource keeps the name it had when GAIE was the only line (`<name>-manifests`).
        return (CrdBundle("manifests", GAIE_CRDS, chart_version),)

    def epp_service(self, release: str) -> str:
        return f"{release}-epp"

    def epp_pod_labels(self, release: str) -> dict[str, str]:
        return {"inferencepool": f"{release}-epp"}  # the chart's selector labels

    def takes_epp_resources(self, chart_version: str) -> bool:
        return _at_least(chart_version, (1, 5))

    def metrics_auth(self, chart_version: str, monitor_labels: dict[str, str] | None) -> bool:
        """v1.2.x turns auth off (`--metrics-endpoint-auth=false`) when it makes no ServiceMonitor itself; v1.5 when
        `auth.enabled` is false (set so then); v1.1.x renders its own `--tracing false` as two args and Go's flag
        parsing stops there, so that flag is never read: auth stays on."""
        return monitor_labels is not None or not _at_least(chart_version, (1, 2))

    def epp_metrics(self, chart_version: str) -> EppMetricNames:
        return EppMetricNames(**EPP_POOL_SERIES["gaie"])

    def values(self, args: InferencePoolArgs, pod_labels: dict[str, str], port: int, generation: str) -> dict[str, Any]:
        version = args.chart_version
        flags_by_name = dict(args.extra_flags) if _at_least(version, (1, 4)) else {**metric_flags(generation), **args.extra_flags}
        monitoring: dict[str, Any] = {"interval": "10s", "prometheus": {"enabled": args.monitor_labels is not None}}
        if args.monitor_labels is not None:
            # The EPP serves /metrics behind a bearer token: the chart's ServiceMonitor sends the EPP service
            # account's token from this Secret. One Secret per release (the default name collides).
            monitoring["prometheus"].update(
                auth={"enabled": True, "secretName": f"{args.release}-metrics-reader"},
                extraLabels=dict(args.monitor_labels),
            )
        elif _at_least(version, (1, 5)):
            monitoring["prometheus"]["auth"] = {"enabled": False}
        extension: dict[str, Any] = {"replicas": args.epp_replicas}
        if _at_least(version, (1, 5)):
            extension["image"] = {"registry": args.epp_image.hub, "repository": args.epp_image.name,
                                  "tag": args.epp_image.tag, "pullPolicy": "IfNotPresent"}
            if args.epp_resources is not None:
                extension["resources"] = args.epp_resources
        else:
            extension["image"] = {"hub": args.epp_image.hub, "name": args.epp_image.name, "tag": args.epp_image.tag,
                                  "pullPolicy": "IfNotPresent"}
        extension.update({
            "extProcPort": EXT_PROC_PORT,
            "pluginsConfigFile": PLUGINS_FILE,
            "pluginsCustomConfig": {PLUGINS_FILE: plugins_config(
                "inference.networking.x-k8s.io/v1alpha1", args.plugins, args.profiles,
                generation if _at_least(version, (1, 4)) else None)},
            "flags": chart_flags(string_flags(flags_by_name, version), version),
            "monitoring": monitoring,
        })
        values = {
            "inferenceExtension": extension,
            "inferencePool": {
                "apiVersion": f"{POOL_GROUP}/v1",
                # Under the v1 API only targetPorts counts (targetPortNumber is v1alpha2-only and ignored).
                "targetPorts": [{"number": port}],
                "modelServerType": "vllm",
                "modelServers": {"matchLabels": dict(pod_labels)},
            },
            # The gateway talks to the EPP itself; no provider-specific objects.
            "provider": {"name": "none"},
        }
        return deep_merge(values, args.extra_values)


LINE = GaiePool()


# --- guards ----------------------------------------------------------------------------------------------------------


def _on_line(cfg: Any) -> bool:
    return cfg.scheduling.chart == LINE.key


def _no_chart_after_last(cfg: Any) -> list[tuple[str, str]]:
    found = release(cfg.scheduling.chart_version)
    if _on_line(cfg) and found is not None and found[:2] > release(LAST_CHART)[:2]:
        return [("scheduling.chartVersion", f"GAIE {cfg.scheduling.chart_version} has no inferencepool chart: the EPP "
                 f"and its charts moved to llm-d-router (set scheduling.chart: llm-d-router); {LAST_CHART} is GAIE's "
                 "last chart")]
    return []


def _metric_flags_refused(cfg: Any) -> list[tuple[str, str]]:
    if not _on_line(cfg) or not _at_least(cfg.scheduling.chart_version, (1, 4)):
        return []
    return [(f"scheduling.extraFlags.{flag}", f"the EPP of GAIE {cfg.scheduling.chart_version} refuses this flag at "
             "start (deprecated for engineConfigs); the program names the metrics in the core-metrics-extractor "
             "plugin from the engine")
            for flag in cfg.scheduling.extra_flags if flag in METRIC_FLAGS]


def _boolean_flags(cfg: Any) -> list[tuple[str, str]]:
    if not _on_line(cfg):
        return []
    return [
        (f"scheduling.extraFlags.{name}", f"inferencepool chart {cfg.scheduling.chart_version} renders a flag as two "
         "arguments, so a boolean flag stops EPP flag parsing; every GAIE chart does (the llm-d-router chart renders "
         "`--flag=value`: scheduling.chart: llm-d-router)")
        for name, value in cfg.scheduling.extra_flags.items()
        if isinstance(value, bool) or str(value).lower() in ("true", "false")
    ]


def _chart_own_flags(cfg: Any) -> list[tuple[str, str]]:
    if not _on_line(cfg) or _at_least(cfg.scheduling.chart_version, (1, 2)):
        return []
    return [("scheduling.chartVersion", f"inferencepool chart {cfg.scheduling.chart_version} renders its own "
             "`--tracing false` as two args: tracing ends up on and `--metrics-endpoint-auth=false` is never read; "
             "prefer >= v1.2.1")]


def _target_port_number_v1(cfg: Any) -> list[tuple[str, str]]:
    pool = cfg.scheduling.extra_values.get("inferencePool", {}) if _on_line(cfg) else {}
    v1alpha2 = isinstance(pool, dict) and str(pool.get("apiVersion", "")).endswith("/v1alpha2")
    if isinstance(pool, dict) and "targetPortNumber" in pool and not v1alpha2:
        return [("scheduling.extraValues.inferencePool.targetPortNumber", "ignored under the v1 InferencePool API; "
                 "the target port comes from the model service (targetPorts)")]
    return []


def _image_matches_chart(cfg: Any) -> list[tuple[str, str]]:
    if not _on_line(cfg):
        return []
    tag, chart = image_tag(cfg.scheduling.epp_image) or "", cfg.scheduling.chart_version
    if release(tag) is None or release(chart) is None or release(tag)[:2] == release(chart)[:2]:
        return []
    return [("scheduling.eppImage", f"EPP {tag} with inferencepool chart {chart}: the chart passes the flags of its "
             "own EPP release; keep both on the same minor version")]


GUARDS = (
    Guard("gaie-chart-moved", "error",
          "GAIE v1.6.0 ships CRDs only: the EPP, its charts and the llm-d.ai CRDs moved to llm-d-router (v0.10.0); "
          "inferencepool v1.5.0 is GAIE's last chart.", _no_chart_after_last),
    Guard("epp-metric-flags-refused", "error",
          "From GAIE v1.4 the EPP refuses the metric-name flags at start; names go in the core-metrics-extractor "
          "plugin's engineConfigs.", _metric_flags_refused),
    Guard("epp-boolean-flags", "error",
          "Every GAIE inferencepool chart (v1.1.0 to v1.5.0) renders a user flag as two args (`--name value`); Go's "
          "flag parser stops at a stray `false`. llm-d-router's chart renders `--name=value`.", _boolean_flags),
    Guard("pool-target-port-number", "error",
          "Under InferencePool apiVersion v1 the chart ignores targetPortNumber; targetPorts is what counts.",
          _target_port_number_v1),
    Guard("inferencepool-own-flags", "warning",
          "inferencepool chart v1.1.0 renders its own `--tracing false` as two args: tracing ends up on and the "
          "following `--metrics-endpoint-auth=false` is never read (v1.2.1 and later render `--tracing=false`).",
          _chart_own_flags),
    Guard("epp-image-vs-chart", "warning",
          "Each inferencepool chart release renders the flags of its own EPP release.", _image_matches_chart),
)
