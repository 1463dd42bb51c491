"""The llm-d-router chart line: `llm-d-router-gateway` (EPP + InferencePool), where the EPP went after GAIE v1.5.0.

Read from llm-d-router v0.10.0 (chart `llm-d-router-gateway` and its library subchart `routerlib`):
- values live under `router:`; `router.modelServers.matchLabels` is required, `router.epp.resources.requests` (cpu,
  memory) too (the defaults ask 8 CPUs and 8Gi);
- flags are a map rendered as one `--name=value` arg each (booleans are safe);
- the EndpointPickerConfig is `llm-d.ai/v1alpha1`; metric names go in the core-metrics-extractor's
  `engineConfigs` (the metric flags are refused, as from GAIE v1.4);
- EPP pods are labelled `llm-d-router-gateway: <release>-epp`, the Service `<release>-epp` carries
  `app.kubernetes.io/name: <release>-epp` with ports `grpc-ext-proc` 9002 (h2c) and `http-metrics` 9090;
- `/metrics` auth is off when `router.monitoring.prometheus.auth.enabled` is false (`--metrics-endpoint-auth=false`);
- pool series are `llm_d_epp_*` (the `inference_pool_*` names are still exported, deprecated);
- CRDs: GAIE v1.6.0 (InferencePool v1) plus llm-d-router's `llm-d.ai` InferenceObjective and InferenceModelRewrite
  (the EPP prefers them to the legacy `inference.networking.x-k8s.io` ones when both exist).
"""

from __future__ import annotations

from typing import Any

from policies.rules.metric_names import EPP_POOL_SERIES

from ..chart_sources import ChartSource, FileSource
from ..values import deep_merge
from .contract import CrdBundle, EppMetricNames, Guard, InferencePoolArgs
from .gaie_pool import GAIE_CRDS, METRIC_FLAGS, plugins_config

LLMD_ROUTER = ChartSource("oci://ghcr.io/llm-d/charts/llm-d-router-gateway", "v0.10.0")
LLMD_ROUTER_CRDS = FileSource("https://github.com/llm-d/llm-d-router/releases/download/{version}/manifests.yaml",
                              LLMD_ROUTER.version)
GAIE_CRDS_VERSION = "v1.6.0"  # the InferencePool CRD this line's EPP reads (GAIE v1.6.0 ships CRDs only)
CHARTS = (LLMD_ROUTER,)
FILES = (LLMD_ROUTER_CRDS,)

EXT_PROC_PORT = 9002
EPP_METRICS_PORT = 9090
PLUGINS_FILE = "custom-plugins.yaml"


class LlmdRouterPool:
    key = "llm-d-router"
    chart_name = "llm-d-router-gateway"
    chart = LLMD_ROUTER
    ext_proc_port = EXT_PROC_PORT
    metrics_port = EPP_METRICS_PORT

    def crd_bundles(self, chart_version: str) -> tuple[CrdBundle, ...]:
        # The GAIE bundle keeps the resource name of the GAIE line (`-manifests`): moving between lines updates its
        # CRDs in place instead of deleting and creating them.
        return (CrdBundle("manifests", GAIE_CRDS, GAIE_CRDS_VERSION),
                CrdBundle("llm-d-router", LLMD_ROUTER_CRDS, chart_version))

    def epp_service(self, release: str) -> str:
        return f"{release}-epp"

    def epp_pod_labels(self, release: str) -> dict[str, str]:
        return {"llm-d-router-gateway": f"{release}-epp"}

    def takes_epp_resources(self, chart_version: str) -> bool:
        return True

    def metrics_auth(self, chart_version: str, monitor_labels: dict[str, str] | None) -> bool:
        return monitor_labels is not None

    def epp_metrics(self, chart_version: str) -> EppMetricNames:
        return EppMetricNames(**EPP_POOL_SERIES["llm-d-router"])

    def values(self, args: InferencePoolArgs, pod_labels: dict[str, str], port: int, generation: str) -> dict[str, Any]:
        prometheus: dict[str, Any] = {"enabled": args.monitor_labels is not None, "auth": {"enabled": False}}
        if args.monitor_labels is not None:
            prometheus.update(auth={"enabled": True, "secretName": f"{args.release}-metrics-reader"},
                              extraLabels=dict(args.monitor_labels))
        epp: dict[str, Any] = {
            "replicas": args.epp_replicas,
            "image": {"registry": args.epp_image.hub, "repository": args.epp_image.name, "tag": args.epp_image.tag,
                      "pullPolicy": "IfNotPresent"},
            "extProcPort": EXT_PROC_PORT,
            "pluginsConfigFile": PLUGINS_FILE,
            "pluginsCustomConfig": {PLUGINS_FILE: plugins_config("llm-d.ai/v1alpha1", args.plugins, args.profiles, generation)},
            "flags": dict(sorted(args.extra_flags.items())),
        }
        if args.epp_resources is not None:
            epp["resources"] = args.epp_resources
        values = {
            "router": {
                "modelServers": {"matchLabels": dict(pod_labels), "type": "vllm", "protocol": "http",
                                 "targetPorts": [{"number": port}]},
                "epp": epp,
                "monitoring": {"interval": "10s", "prometheus": prometheus},
            },
            "provider": {"name": "none"},  # the gateway talks to the EPP itself
        }
        return deep_merge(values, args.extra_values)


LINE = LlmdRouterPool()


def _on_line(cfg: Any) -> bool:
    return cfg.scheduling.chart == LINE.key


def _metric_flags_refused(cfg: Any) -> list[tuple[str, str]]:
    if not _on_line(cfg):
        return []
    return [(f"scheduling.extraFlags.{flag}", "llm-d-router's EPP refuses this flag at start; the program names the "
             "metrics in the core-metrics-extractor plugin from the engine")
            for flag in cfg.scheduling.extra_flags if flag in METRIC_FLAGS]


GUARDS = (
    Guard("router-metric-flags-refused", "error",
          "llm-d-router's EPP refuses the metric-name flags (as GAIE's from v1.4); names go in engineConfigs.",
          _metric_flags_refused),
)
