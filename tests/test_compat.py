"""The version guard table: each guard fires on its known-bad combination and stays quiet on the homelab."""

from __future__ import annotations

import pytest
from test_config import problems

from llmd_stack.compat import GUARDS, guard_problems, guard_warnings
from llmd_stack.config import parse_config

SECRETS = {"registryToken": "t", "grafanaAdminPassword": "p", "apiKey": "k"}


def parsed(config):
    return parse_config({**config, **SECRETS}, set(SECRETS))


def test_guards_are_quiet_on_the_homelab(homelab):
    cfg = parsed(homelab)
    assert guard_problems(cfg) == [] and guard_warnings(cfg) == []


def test_every_guard_states_its_upstream_fact():
    assert len({g.id for g in GUARDS}) == len(GUARDS)
    for guard in GUARDS:
        assert len(guard.fact) > 40 and guard.level in ("error", "warning")


@pytest.mark.parametrize("mutate, key, guard_id", [
    (lambda c: c.update(gateway={"kgatewayVersion": "v2.2.1"}), "gateway.kgatewayVersion", "kgateway-envoy-inferencepool"),
    (lambda c: c.update(gateway={"gatewayApiVersion": "v1.5.1"}), "gateway.gatewayApiVersion", "gateway-api-vs-kgateway"),
    (lambda c: c.update(scheduling={"extraFlags": {"kv-cache-usage-percentage-metric": "vllm:kv_cache_usage_perc"}}),
     "scheduling.extraFlags.kv-cache-usage-percentage-metric", "epp-metric-names"),
    (lambda c: c.update(scheduling={"extraFlags": {"enable-pprof": False}}),
     "scheduling.extraFlags.enable-pprof", "epp-boolean-flags"),
    (lambda c: c.update(scheduling={"chart": "llm-d-router", "extraFlags": {"secure-serving": "false"}}),
     "scheduling.extraFlags.secure-serving", "epp-secure-serving"),
    (lambda c: c.update(scheduling={"chart": "llm-d-router", "extraFlags": {"secure-serving": False}},
                        gateway={"provider": "agentgateway"}),
     "scheduling.extraFlags.secure-serving", "epp-secure-serving"),
    (lambda c: c.update(gateway={"kgatewayVersion": "v2.2.1", "gatewayApiVersion": "v1.4.0"}),
     "gateway.kgatewayVersion", "kgateway-envoy-inferencepool"),
    (lambda c: c.update(scheduling={"chartVersion": "v1.6.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.6.0"}),
     "scheduling.chartVersion", "gaie-chart-moved"),
    (lambda c: c.update(scheduling={"chartVersion": "v1.5.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0",
                                    "extraFlags": {"kv-cache-usage-percentage-metric": "vllm:gpu_cache_usage_perc"}}),
     "scheduling.extraFlags.kv-cache-usage-percentage-metric", "epp-metric-flags-refused"),
    (lambda c: c.update(scheduling={"chart": "llm-d-router", "extraFlags": {"total-queued-requests-metric": "vllm:num_requests_waiting"}}),
     "scheduling.extraFlags.total-queued-requests-metric", "router-metric-flags-refused"),
    (lambda c: c.update(scheduling={"chartVersion": "v1.5.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0",
                                    "extraFlags": {"enable-pprof": False}}),
     "scheduling.extraFlags.enable-pprof", "epp-boolean-flags"),
    (lambda c: c.update(scheduling={"extraFlags": {"health-checking": "true"}}),
     "scheduling.extraFlags.health-checking", "epp-boolean-flags"),
    (lambda c: c["models"][0].update(extraValues={"dra": {"enabled": True, "type": "intel"}}),
     "models[0].extraValues.dra", "modelservice-v03-dra-block"),
    (lambda c: c["models"][0].update(extraValues={"accelerator": {"resourceClaimTemplates": {"intel": {"count": 2}}}}),
     "models[0].extraValues.accelerator.resourceClaimTemplates.intel.count", "modelservice-v03-dra-block"),
    (lambda c: c.update(scheduling={"extraValues": {"inferencePool": {"targetPortNumber": 8000}}}),
     "scheduling.extraValues.inferencePool.targetPortNumber", "pool-target-port-number"),
    (lambda c: c.update(modelService={"chartVersion": "v0.3.1"}), "modelService.chartVersion", "modelservice-layout"),
])
def test_error_guards_fire_naming_the_key(homelab, mutate, key, guard_id):
    mutate(homelab)
    found = problems(homelab)
    assert key in found and found[key].endswith(f"[{guard_id}]"), found


def test_boolean_flags_are_fine_on_the_llm_d_router_line(homelab):
    """Its chart renders each flag as one `--name=value` arg; every GAIE chart renders two."""
    homelab["scheduling"] = {"chart": "llm-d-router", "extraFlags": {"enable-pprof": False}}
    assert guard_problems(parsed(homelab)) == []


def test_kgateway_2_2_points_to_agentgateway(homelab):
    homelab["gateway"] = {"kgatewayVersion": "v2.2.1"}
    assert "gateway.provider: agentgateway" in problems(homelab)["gateway.kgatewayVersion"]


def test_gaie_1_6_points_to_llm_d_router(homelab):
    homelab["scheduling"] = {"chartVersion": "v1.6.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.6.0"}
    assert "scheduling.chart: llm-d-router" in problems(homelab)["scheduling.chartVersion"]


def test_metric_flag_matching_the_engine_is_accepted(homelab):
    homelab["scheduling"] = {"extraFlags": {"kv-cache-usage-percentage-metric": "vllm:gpu_cache_usage_perc"}}
    assert guard_problems(parsed(homelab)) == []


@pytest.mark.parametrize("mutate, key, guard_id", [
    (lambda c: c.update(scheduling={"eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.1.0"}),
     "scheduling.eppImage", "epp-image-vs-chart"),
    (lambda c: c.update(scheduling={"chartVersion": "v1.1.0",
                                    "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.1.0"}),
     "scheduling.chartVersion", "inferencepool-own-flags"),
    (lambda c: c["models"][0].update(engine={"kind": "vllm", "image": "intel/vllm:0.11.0-xpu"}),
     "models[0].engine.kind", "vllm-xpu-a770"),
    (lambda c: c["models"][0].update(engine={"kind": "vllm", "image": "ghcr.io/llm-d/llm-d-xpu:v0.8.0"}),
     "models[0].engine.image", "engine-release-known"),
    (lambda c: c.update(gateway={"provider": "agentgateway", "gatewayApiVersion": "v1.4.0"}),
     "gateway.gatewayApiVersion", "gateway-api-vs-agentgateway"),
])
def test_warning_guards_fire_without_stopping_the_render(homelab, render, mutate, key, guard_id):
    mutate(homelab)
    warnings = {p.path: p.message for p in guard_warnings(parsed(homelab))}
    assert warnings[key].endswith(f"[{guard_id}]")
    result = render(homelab)
    assert any(w.startswith(f"{key}: ") for w in result.warnings)


def test_homelab_render_logs_no_warning(homelab_render):
    assert homelab_render.warnings == []


@pytest.mark.parametrize("image, generation", [
    ("ghcr.io/llm-d/llm-d-xpu:v0.9.0", "v1"),  # llm-d v0.9.0 is vLLM 0.26, not vLLM 0.9
    ("vllm/vllm-openai-xpu:v0.27.1", "v1"),
    ("intel/vllm:0.9.0-xpu", "v0"),  # intel/vllm tags are vLLM versions
    ("intel/vllm:0.11.0-xpu", "v1"),
])
def test_engine_images_are_read_by_family(image, generation):
    from policies.rules.metric_names import metrics_generation

    assert metrics_generation("vllm", image) == generation
