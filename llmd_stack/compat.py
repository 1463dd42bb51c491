"""The version guard table: known-bad upstream combinations, each with the fact behind it.

Errors stop the config before anything is registered; warnings are printed by `render`/`check` and logged by
`pulumi preview`/`up`. Each guard names the config key that would have to change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from components.routing import GUARDS as VARIANT_GUARDS
from components.routing import PROVIDERS
from components.routing.contract import Finding, Guard
from policies.rules.metric_names import EPP_METRIC_FLAG_NAMES, LLMD_RELEASE_VLLM, VLLM_METRICS, engine_family
from policies.rules.versions import SAFE_UPGRADES_FROM, release

from .topology import Problem, body_based_routing, serving  # serving: a retired model runs no engine
from .types import image_tag, version_tuple

if TYPE_CHECKING:
    from .config import StackConfig


def _metric_names_not_emitted(cfg: "StackConfig") -> list[Finding]:
    findings = []
    for flag in EPP_METRIC_FLAG_NAMES:
        value = cfg.scheduling.extra_flags.get(flag)
        if not isinstance(value, str) or value == "":
            continue
        metric = value.split("{", 1)[0]
        for i, model in serving(cfg):
            generation = model.engine.metrics_generation
            if metric not in VLLM_METRICS[generation]:
                findings.append((f"scheduling.extraFlags.{flag}", f"{metric!r} is not emitted by models[{i}] "
                                 f"({model.engine.kind}, vLLM {generation.upper()} metrics); the EPP would see no data"))
    return findings


def _legacy_dra_block(cfg: "StackConfig") -> list[Finding]:
    if version_tuple(cfg.model_service.chart_version) < (0, 4, 0):
        return []
    findings = []
    for i, model in serving(cfg):
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


def _modelservice_layout(cfg: "StackConfig") -> list[Finding]:
    if version_tuple(cfg.model_service.chart_version)[:2] != (0, 4):
        return [("modelService.chartVersion", f"this program generates the modelservice v0.4 values layout; "
                 f"{cfg.model_service.chart_version} is not v0.4.x")]
    return []


def _router_matches_chart(cfg: "StackConfig") -> list[Finding]:
    """The body-based router image and its chart are one GAIE release (each chart release renders the flags and
    plugins of its own router). The pool chart and CRDs may come from another line: the router only sets the
    `X-Gateway-Model-Name` header the routes match, the same in every release."""
    if not body_based_routing(cfg):
        return []
    bbr = cfg.gateway.bbr
    tag = image_tag(bbr.image)
    if tag is None:
        return [("gateway.bbr.image", "pinned by digest only: which GAIE release it is cannot be checked; keep the tag "
                 f"in front of the digest (bbr:{bbr.chart_version}@sha256:...)")]
    try:
        same = version_tuple(tag)[:2] == version_tuple(bbr.chart_version)[:2]
    except ValueError:
        return [("gateway.bbr.image", f"cannot tell which GAIE release router {tag} is")]
    if same:
        return []
    return [("gateway.bbr.image", f"body-based router {tag} with its chart {bbr.chart_version}: each chart release "
             "renders the flags and plugins of its own router; keep both on the same minor version")]


def _body_router_vs_provider(cfg: "StackConfig") -> list[Finding]:
    """The v1.5 router runs as a PreRouting ext_proc on agentgateway; kgateway 2.1's chain was built and checked
    with the v1.2 router."""
    if not body_based_routing(cfg) or cfg.gateway.provider != "kgateway":
        return []
    found = release(cfg.gateway.bbr.chart_version)
    if found is not None and found[:2] > (1, 2):
        return [("gateway.bbr.chartVersion", f"body-based-routing {cfg.gateway.bbr.chart_version} with kgateway 2.1: "
                 "the two-Gateway chain was checked with v1.2.x; the v1.5 router belongs to gateway.provider: "
                 "agentgateway")]
    return []


def _engine_release_known(cfg: "StackConfig") -> list[Finding]:
    """llm-d's images are tagged with the llm-d release: the vLLM under it decides the metric names."""
    findings = []
    for i, model in serving(cfg):
        image = model.engine.resolved_image
        found = release(image_tag(image) or "")
        if model.engine.kind == "vllm" and engine_family(image) == "llm-d" and (found is None or found[:2] not in LLMD_RELEASE_VLLM):
            known = ", ".join(f"v{a}.{b} (vLLM {c}.{d})" for (a, b), (c, d) in LLMD_RELEASE_VLLM.items())
            findings.append((f"models[{i}].engine.image", f"{image} is tagged with an llm-d release, not a vLLM one; "
                             f"the program knows which vLLM these are built on: {known}. Taken as vLLM >= 0.10 "
                             "(V1 metric names): check the release notes"))
    return findings


def _secure_serving_off(cfg: "StackConfig") -> list[Finding]:
    value = cfg.scheduling.extra_flags.get("secure-serving")
    if PROVIDERS[cfg.gateway.provider].epp_tls and value is not None and str(value).lower() == "false":
        return [("scheduling.extraFlags.secure-serving", f"{cfg.gateway.provider} talks to the EPP over TLS: keep "
                 "secure serving on")]
    return []


def _vllm_xpu_on_a770(cfg: "StackConfig") -> list[Finding]:
    if not cfg.gpu.selection.model.upper().startswith("A7"):
        return []
    return [
        (f"models[{i}].engine.kind", "upstream vLLM's XPU backend is broken on Arc A7xx since vLLM 0.10; "
         "ipex-llm (0.8.3-b19) is the last working A770 image")
        for i, model in serving(cfg)
        if model.engine.kind == "vllm"
    ]


def _gpu_model_known(cfg: "StackConfig") -> list[Finding]:
    from components.gpu_models import model_warning

    if not cfg.gpu.enabled:
        return []
    keys = [("gpu.selection.model", cfg.gpu.selection.model),
            *((f"gpu.nodes[{i}].model", node.model) for i, node in enumerate(cfg.gpu.nodes or [])
              if node.model != cfg.gpu.selection.model)]  # the selection's own string is reported once
    return [(key, warning) for key, model in keys if (warning := model_warning(model))]


CORE_GUARDS: tuple[Guard, ...] = (
    Guard("epp-metric-names", "error",
          "EPP reads model-server metrics by name; vLLM >= 0.12 only emits vllm:kv_cache_usage_perc, the IPEX-LLM "
          "image (vLLM 0.8.3) only vllm:gpu_cache_usage_perc.", _metric_names_not_emitted),
    Guard("modelservice-v03-dra-block", "error",
          "modelservice v0.4.0 removed the top-level `dra:` block; v0.4 uses accelerator.resourceClaimTemplates and "
          "computes count; the schema rejects an explicit count.", _legacy_dra_block),
    Guard("modelservice-layout", "error",
          "The values layout this program writes is the modelservice v0.4.x one.", _modelservice_layout),
    Guard("epp-secure-serving", "error",
          "kgateway and agentgateway connect to the EPP over TLS: the EPP must keep secure serving.", _secure_serving_off),
    Guard("bbr-image-vs-chart", "warning",
          "Each body-based-routing chart release renders the flags and plugins of its own router image.",
          _router_matches_chart),
    Guard("bbr-vs-provider", "warning",
          "kgateway 2.1's two-Gateway body routing was built with the v1.2 router; the v1.5 router runs on "
          "agentgateway's PreRouting phase.", _body_router_vs_provider),
    Guard("engine-release-known", "warning",
          "llm-d's images (ghcr.io/llm-d/llm-d-xpu, ...) are tagged with llm-d releases, not vLLM versions: "
          "llm-d-xpu v0.9.0 is vLLM 0.26. vllm/vllm-openai-xpu and intel/vllm tags are vLLM versions.",
          _engine_release_known),
    Guard("vllm-xpu-a770", "warning",
          "Upstream vLLM XPU is broken on the A770 since vLLM 0.10; IPEX-LLM is archived, 0.8.3-b19 is its last A770 "
          "image.", _vllm_xpu_on_a770),
    Guard("gpu-model-known", "warning",
          "The Intel GPU DRA driver publishes each card's model string from its own PCI ID table (gpu-v0.11.0: A770, "
          "B580, B60, Max 1550, ...; \"Unknown\" for an ID it lacks); a claim selecting a model no device has stays "
          "Pending.", _gpu_model_known),
)
# Core guards, then each routing variant's (components/routing/*.py): the table docs/version-guards.md shows.
GUARDS: tuple[Guard, ...] = (*CORE_GUARDS, *VARIANT_GUARDS)


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


def gateway_api_downgrade(deployed: str | None, wanted: str) -> Problem | None:
    """From v1.5 the Gateway API standard install carries a `safe-upgrades` ValidatingAdmissionPolicy that refuses
    CRDs of an older release: once a stack installed >= v1.5, installing an older bundle fails half-way. None when
    `wanted` is no older than what the stack's last update installed (`deployed`, None if unknown)."""
    before, after = release(deployed or ""), release(wanted)
    if before is None or after is None or before[:2] < SAFE_UPGRADES_FROM or after >= before:
        return None
    return Problem("gateway.gatewayApiVersion", (
        f"{wanted} is older than the Gateway API {deployed} this stack installed: from v1.5 the bundle's "
        "safe-upgrades admission policy refuses the CRDs of an older release, so the upgrade is one-way; keep "
        f"{deployed} or newer (kgateway 2.1 needs 1.4.x: going back to it is not a stack change, docs/upgrade.md) "
        "[gateway-api-one-way]"))


def provider_move(deployed: Mapping[str, Any], cfg: "StackConfig") -> Problem | None:
    """A Gateway moving to another controller under the same name: kgateway and agentgateway both name the proxy
    Deployment and Service they create after the Gateway, and the old controller's stay behind (the Gateway, their
    owner, still exists), so the new controller's proxy cannot take their place. A new name gives each its own."""
    before, name = deployed.get("gatewayClass"), deployed.get("gateway")
    if not before or before == cfg.gateway.class_name or name != cfg.gateway.name:
        return None
    return Problem("gateway.name", (
        f"the Gateway {name!r} is served by {before} today: moving it to {cfg.gateway.class_name} under the same "
        f"name leaves {before}'s proxy Deployment and Service named {name!r} in the way of the new one; give the "
        f"Gateway a new name for the move (e.g. {name}-{cfg.gateway.class_name[:3]}), and point clients at its "
        "address (docs/upgrade.md) [gateway-provider-move]"))


def deployed_problems(deployed: Mapping[str, Any] | None, cfg: "StackConfig") -> list[Problem]:
    """What the stack's last update makes impossible now (its outputs, None when it was never deployed)."""
    if not deployed:
        return []
    found = [gateway_api_downgrade(deployed.get("gatewayApiVersion"), cfg.gateway.gateway_api_version),
             provider_move(deployed, cfg)]
    return [p for p in found if p is not None]

