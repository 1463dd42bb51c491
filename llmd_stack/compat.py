"""The version guard table: known-bad upstream combinations, each with the fact behind it.

Errors stop the config before anything is registered; warnings are printed by `render`/`check` and logged by
`pulumi preview`/`up`. Each guard names the config key that would have to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

from policies.rules.metric_names import EPP_METRIC_FLAG_NAMES, VLLM_METRICS

from .types import image_tag, version_tuple

from .topology import Problem, body_based_routing

if TYPE_CHECKING:
    from .config import StackConfig

Finding = tuple[str, str]  # (key path, message)


@dataclass(frozen=True)
class Guard:
    id: str
    level: Literal["error", "warning"]
    fact: str
    check: Callable[["StackConfig"], list[Finding]]


def _kgateway_without_envoy_pools(cfg: "StackConfig") -> list[Finding]:
    if cfg.gateway.class_name == "kgateway" and version_tuple(cfg.gateway.kgateway_version) >= (2, 2, 0) and cfg.models:
        return [("gateway.kgatewayVersion", f"kgateway {cfg.gateway.kgateway_version} cannot route to InferencePools "
                 "with the Envoy class 'kgateway'; pin kgateway 2.1.x (or move to agentgateway)")]
    return []


def _gateway_api_beyond_kgateway(cfg: "StackConfig") -> list[Finding]:
    kgw, api = version_tuple(cfg.gateway.kgateway_version), version_tuple(cfg.gateway.gateway_api_version)
    if kgw[:2] == (2, 1) and api[:2] != (1, 4):
        return [("gateway.gatewayApiVersion", f"kgateway 2.1.x supports Gateway API 1.4.x, not "
                 f"{cfg.gateway.gateway_api_version}; use v1.4.0")]
    return []


def _metric_names_not_emitted(cfg: "StackConfig") -> list[Finding]:
    findings = []
    for flag in EPP_METRIC_FLAG_NAMES:
        value = cfg.scheduling.extra_flags.get(flag)
        if not isinstance(value, str) or value == "":
            continue
        metric = value.split("{", 1)[0]
        for i, model in enumerate(cfg.models):
            generation = model.engine.metrics_generation
            if metric not in VLLM_METRICS[generation]:
                findings.append((f"scheduling.extraFlags.{flag}", f"{metric!r} is not emitted by models[{i}] "
                                 f"({model.engine.kind}, vLLM {generation.upper()} metrics); the EPP would see no data"))
    return findings


def _boolean_epp_flags(cfg: "StackConfig") -> list[Finding]:
    if version_tuple(cfg.scheduling.chart_version) >= (1, 6, 0):
        return []
    return [
        (f"scheduling.extraFlags.{name}", f"inferencepool chart {cfg.scheduling.chart_version} renders a flag as two "
         "arguments, so a boolean flag breaks EPP flag parsing; boolean flags need chart >= v1.6.0")
        for name, value in cfg.scheduling.extra_flags.items()
        if isinstance(value, bool) or str(value).lower() in ("true", "false")
    ]


def _legacy_dra_block(cfg: "StackConfig") -> list[Finding]:
    if version_tuple(cfg.model_service.chart_version) < (0, 4, 0):
        return []
    findings = []
    for i, model in enumerate(cfg.models):
        if "dra" in model.extra_values:
            findings.append((f"models[{i}].extraValues.dra", "the top-level `dra:` block is the v0.3 layout; "
                             "modelservice >= v0.4 ignores it silently (pods fall back to nvidia.com/gpu). "
                             "GPU claims come from gpu.* and gpusPerReplica"))
        templates = model.extra_values.get("accelerator", {}).get("resourceClaimTemplates", {})
        for kind, template in templates.items() if isinstance(templates, dict) else ():
            if isinstance(template, dict) and "count" in template:
                findings.append((f"models[{i}].extraValues.accelerator.resourceClaimTemplates.{kind}.count",
                                 "modelservice >= v0.4 computes the claim count (tensor x dataLocal) and its schema "
                                 "rejects an explicit count; set gpusPerReplica"))
    return findings


def _target_port_number_v1(cfg: "StackConfig") -> list[Finding]:
    pool = cfg.scheduling.extra_values.get("inferencePool", {})
    v1alpha2 = isinstance(pool, dict) and str(pool.get("apiVersion", "")).endswith("/v1alpha2")
    if isinstance(pool, dict) and "targetPortNumber" in pool and not v1alpha2:
        return [("scheduling.extraValues.inferencePool.targetPortNumber", "ignored under the v1 InferencePool API; "
                 "the target port comes from the model service (targetPorts)")]
    return []


def _modelservice_layout(cfg: "StackConfig") -> list[Finding]:
    if version_tuple(cfg.model_service.chart_version)[:2] != (0, 4):
        return [("modelService.chartVersion", f"this program generates the modelservice v0.4 values layout; "
                 f"{cfg.model_service.chart_version} is not v0.4.x")]
    return []


def _epp_image_matches_chart(cfg: "StackConfig") -> list[Finding]:
    tag = image_tag(cfg.scheduling.epp_image) or ""
    try:
        same = version_tuple(tag)[:2] == version_tuple(cfg.scheduling.chart_version)[:2]
    except ValueError:
        return []
    if same:
        return []
    return [("scheduling.eppImage", f"EPP {tag} with inferencepool chart {cfg.scheduling.chart_version}: the chart "
             "passes the flags of its own EPP release; keep both on the same minor version")]


def _router_matches_gaie(cfg: "StackConfig") -> list[Finding]:
    """The body-based router, its chart and the pool chart are one GAIE release (the router's header is the one the
    release's routes and EPP expect)."""
    if not body_based_routing(cfg):
        return []
    bbr = cfg.gateway.bbr
    tag = image_tag(bbr.image)
    try:
        releases = {version_tuple(v)[:2] for v in (tag or bbr.chart_version, bbr.chart_version, cfg.scheduling.chart_version)}
    except ValueError:
        return [("gateway.bbr", "cannot tell which GAIE release the router, its chart and the pool chart are")]
    if tag is None and len(releases) == 1:
        return [("gateway.bbr.image", "pinned by digest only: which GAIE release it is cannot be checked; keep the tag "
                 "in front of the digest (bbr:v1.2.1@sha256:...)")]
    if len(releases) == 1:
        return []
    return [("gateway.bbr", f"body-based router {tag}, its chart {bbr.chart_version} and the inferencepool chart "
             f"{cfg.scheduling.chart_version} are not one GAIE release; keep them on the same minor version")]


def _chart_own_flags(cfg: "StackConfig") -> list[Finding]:
    if version_tuple(cfg.scheduling.chart_version) >= (1, 2, 1):
        return []
    return [("scheduling.chartVersion", f"inferencepool chart {cfg.scheduling.chart_version} renders its own "
             "`--tracing false` as two args: tracing ends up on and `--metrics-endpoint-auth=false` is never read; "
             "prefer >= v1.2.1")]


def _secure_serving_off(cfg: "StackConfig") -> list[Finding]:
    value = cfg.scheduling.extra_flags.get("secure-serving")
    if cfg.gateway.provider == "kgateway" and value is not None and str(value).lower() == "false":
        return [("scheduling.extraFlags.secure-serving", "kgateway talks to the EPP over TLS: keep secure serving on")]
    return []


def _vllm_xpu_on_a770(cfg: "StackConfig") -> list[Finding]:
    if not cfg.gpu.selection.model.upper().startswith("A7"):
        return []
    return [
        (f"models[{i}].engine.kind", "upstream vLLM's XPU backend is broken on Arc A7xx since vLLM 0.10; "
         "ipex-llm (0.8.3-b19) is the last working A770 image")
        for i, model in enumerate(cfg.models)
        if model.engine.kind == "vllm"
    ]


GUARDS: tuple[Guard, ...] = (
    Guard("kgateway-envoy-inferencepool", "error",
          "Envoy-based InferencePool routing exists only in kgateway 2.1.x (deprecated in 2.1, removed in 2.2; "
          "from 2.2 it needs agentgateway, GatewayClass agentgateway).", _kgateway_without_envoy_pools),
    Guard("gateway-api-vs-kgateway", "error",
          "kgateway 2.1.x pairs with Gateway API 1.4.x; a bump to 1.5.1 broke routing.", _gateway_api_beyond_kgateway),
    Guard("epp-metric-names", "error",
          "EPP reads model-server metrics by name; vLLM >= 0.12 only emits vllm:kv_cache_usage_perc, the IPEX-LLM "
          "image (vLLM 0.8.3) only vllm:gpu_cache_usage_perc.", _metric_names_not_emitted),
    Guard("epp-boolean-flags", "error",
          "inferencepool chart v1.1.0 renders each flag as two args; Go's flag parser stops at a stray `false` "
          "(user-supplied flags fixed in v1.6.0).", _boolean_epp_flags),
    Guard("modelservice-v03-dra-block", "error",
          "modelservice v0.4.0 removed the top-level `dra:` block; v0.4 uses accelerator.resourceClaimTemplates and "
          "computes count; the schema rejects an explicit count.", _legacy_dra_block),
    Guard("pool-target-port-number", "error",
          "Under InferencePool apiVersion v1 the chart ignores targetPortNumber; targetPorts is what counts.",
          _target_port_number_v1),
    Guard("modelservice-layout", "error",
          "The values layout this program writes is the modelservice v0.4.x one.", _modelservice_layout),
    Guard("epp-secure-serving", "error",
          "kgateway's ext-proc connection to the EPP uses TLS: the EPP must keep secure serving.", _secure_serving_off),
    Guard("inferencepool-own-flags", "warning",
          "inferencepool chart v1.1.0 renders its own `--tracing false` as two args: tracing ends up on and the following "
          "`--metrics-endpoint-auth=false` is never read (v1.2.1 and later render `--tracing=false`).", _chart_own_flags),
    Guard("epp-image-vs-chart", "warning",
          "Each inferencepool chart release renders the flags of its own EPP release.", _epp_image_matches_chart),
    Guard("bbr-matches-gaie", "warning",
          "GAIE releases the body-based router, its chart and the inferencepool chart together.", _router_matches_gaie),
    Guard("vllm-xpu-a770", "warning",
          "Upstream vLLM XPU is broken on the A770 since vLLM 0.10; IPEX-LLM is archived, 0.8.3-b19 is its last A770 "
          "image.", _vllm_xpu_on_a770),
)


def findings(cfg: "StackConfig", level: str) -> list[Problem]:
    return [
        Problem(path, f"{message} [{guard.id}]")
        for guard in GUARDS
        if guard.level == level
        for path, message in guard.check(cfg)
    ]


def guard_problems(cfg: "StackConfig") -> list[Problem]:
    return findings(cfg, "error")


def guard_warnings(cfg: "StackConfig") -> list[Problem]:
    return findings(cfg, "warning")
