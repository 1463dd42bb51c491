"""Routing path: GAIE CRDs -> InferencePool + EPP -> kgateway Gateway -> HTTPRoute, all wired by reference."""

from __future__ import annotations

import pytest
import yaml
from conftest import chart_values, objects, second_model

from policies.rules.metric_names import VLLM_METRICS

CHART = "kubernetes:helm.sh/v4:Chart"
POOL = "ds-r1-llama-8b-pool-release"
MODEL = "ds-r1-llama-8b-release"


def by_name(result, kind: str, name: str) -> dict:
    return next(o for o in objects(result, kind) if o["metadata"]["name"] == name)


def test_every_cross_reference_of_the_request_path_resolves(homelab_render):
    route = objects(homelab_render, "HTTPRoute")[0]
    gateway = objects(homelab_render, "Gateway")[0]
    parent = route["spec"]["parentRefs"][0]
    assert (parent["kind"], parent["name"], parent["namespace"]) == (
        "Gateway", gateway["metadata"]["name"], gateway["metadata"]["namespace"])
    backend = route["spec"]["rules"][0]["backendRefs"][0]
    assert (backend["group"], backend["kind"]) == ("inference.networking.k8s.io", "InferencePool")
    # The objects the charts render: the InferencePool the route names, the decode pods it selects, the EPP.
    pool = by_name(homelab_render, "InferencePool", backend["name"])
    assert pool["apiVersion"] == "inference.networking.k8s.io/v1"
    assert pool["metadata"]["namespace"] == route["metadata"]["namespace"]
    decode = by_name(homelab_render, "Deployment", "ds-r1-llama-8b-decode")
    pod = decode["spec"]["template"]
    assert pool["spec"]["selector"]["matchLabels"] == pod["metadata"]["labels"]
    assert pod["metadata"]["labels"]["llm-d.ai/role"] == "decode"
    vllm_ports = [p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]]
    assert pool["spec"]["targetPorts"] == [{"number": 8000}] and vllm_ports == [8000]
    picker = pool["spec"]["endpointPickerRef"]
    service = by_name(homelab_render, "Service", picker["name"])
    assert picker["port"]["number"] in [p["port"] for p in service["spec"]["ports"]]
    epp = by_name(homelab_render, "Deployment", picker["name"])
    assert service["spec"]["selector"].items() <= epp["spec"]["template"]["metadata"]["labels"].items()
    epp_ports = [p["containerPort"] for p in epp["spec"]["template"]["spec"]["containers"][0]["ports"]]
    assert picker["port"]["number"] in epp_ports


def test_gateway_listens_on_443_for_the_stack_namespace_with_the_kgateway_class(homelab_render):
    gateway = objects(homelab_render, "Gateway")[0]
    assert gateway["spec"]["gatewayClassName"] == "kgateway"
    assert gateway["spec"]["listeners"] == [
        {"name": "https", "protocol": "HTTPS", "port": 443, "allowedRoutes": {"namespaces": {"from": "Same"}},
         "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "llm-d-gateway-tls"}]}}]
    assert "infrastructure" not in gateway["spec"]


def test_route_matches_prefix_with_long_timeouts(homelab_render):
    rule = objects(homelab_render, "HTTPRoute")[0]["spec"]["rules"][0]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/v1"}}]  # the OpenAI API only
    assert rule["timeouts"] == {"request": "3600s", "backendRequest": "3600s"}
    assert "port" not in rule["backendRefs"][0]


def test_kgateway_charts_are_pinned_with_the_inference_extension(homelab_render):
    crds = homelab_render.one(CHART, "gateway-kgateway-crds")
    controller = homelab_render.one(CHART, "gateway-kgateway-controller")
    for chart in (crds, controller):
        assert chart.declared["version"] == "v2.1.2" and chart.declared["chart"].startswith(".charts/kgateway")
    # xDS over TLS: the homelab has cert-manager (certificates.enabled), which issues the xDS certificate.
    assert controller.declared["values"] == {"inferenceExtension": {"enabled": True},
                                             "controller": {"xds": {"tls": {"enabled": True}}}}
    api_crds = homelab_render.one("kubernetes:yaml/v2:ConfigFile", "gateway-gateway-api-crds")
    assert "/v1.4.0/standard-install.yaml" in api_crds.declared["file"]
    # The CRDs the cluster gets carry their bundle version.
    bundles = {c["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"]
               for c in objects(homelab_render, "CustomResourceDefinition") if c["spec"]["group"] == "gateway.networking.k8s.io"}
    assert bundles == {"v1.4.0"}


def test_order_crds_then_controllers_then_custom_resources(homelab_render):
    urn = {r.name: r.urn for r in homelab_render.resources}
    deps = {r.name: set(r.depends_on) for r in homelab_render.resources}
    assert urn["gateway-gateway-api-crds"] in deps["gateway-kgateway-crds"]
    assert urn["gateway-kgateway-crds"] in deps["gateway-kgateway-controller"]
    assert urn["inference-extension-crds-manifests"] in deps["gateway-kgateway-controller"]
    assert urn["inference-extension-crds-manifests"] in deps[POOL]
    assert urn["gateway-kgateway-controller"] in deps["gateway-gateway"]
    route = deps["gateway-route-ds-r1-llama-8b"]
    assert urn["gateway-gateway"] in route and urn[POOL] in route


def test_gaie_crds_follow_the_pool_chart_version(homelab_render):
    manifests = homelab_render.one("kubernetes:yaml/v2:ConfigFile", "inference-extension-crds-manifests")
    assert manifests.declared["file"].endswith("/v1.2.1/manifests.yaml")
    kinds = {c["spec"]["names"]["kind"] for c in objects(homelab_render, "CustomResourceDefinition")
             if c["spec"]["group"] == "inference.networking.k8s.io"}
    assert kinds == {"InferencePool"}


def test_epp_is_pinned_with_provider_none_and_string_flags_only(homelab_render):
    values = chart_values(homelab_render, POOL)
    epp = values["inferenceExtension"]
    assert values["provider"] == {"name": "none"}
    assert epp["image"] == {"hub": "registry.k8s.io/gateway-api-inference-extension", "name": "epp",
                            "tag": "v1.2.1", "pullPolicy": "IfNotPresent"}
    assert homelab_render.one(CHART, POOL).declared["version"] == "v1.2.1"
    assert isinstance(epp["flags"], dict)  # chart v1.2 takes flags as a map
    for value in epp["flags"].values():
        assert isinstance(value, str) and value.lower() not in ("true", "false")


@pytest.mark.parametrize("engine, generation", [
    ({"kind": "ipex-llm"}, "v0"),
    ({"kind": "vllm", "image": "intel/vllm:0.12.0-xpu"}, "v1"),
])
def test_rendered_epp_reads_the_metric_names_of_the_engine_generation(render, homelab, engine, generation):
    homelab["models"][0]["engine"] = engine
    epp = by_name(render(homelab), "Deployment", "ds-r1-llama-8b-pool-epp")
    args = epp["spec"]["template"]["spec"]["containers"][0]["args"]
    kv = args[args.index("--kv-cache-usage-percentage-metric") + 1]
    queued = args[args.index("--total-queued-requests-metric") + 1]
    assert {kv, queued} <= VLLM_METRICS[generation]
    assert kv == {"v0": "vllm:gpu_cache_usage_perc", "v1": "vllm:kv_cache_usage_perc"}[generation]
    # v1.2.1 renders the chart's own booleans as one arg each.
    assert "--tracing=false" in args and "false" not in args


def test_chart_v1_1_takes_flags_as_a_list(render, homelab):
    homelab["scheduling"] = {"chartVersion": "v1.1.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.1.0"}
    flags = chart_values(render(homelab), POOL)["inferenceExtension"]["flags"]
    assert {"name": "kv-cache-usage-percentage-metric", "value": "vllm:gpu_cache_usage_perc"} in flags


def test_flags_cannot_be_replaced_through_extra_values(homelab):
    from test_config import problems

    homelab["scheduling"] = {"extraValues": {"inferenceExtension": {"flags": {"v": "3"}}}}
    assert "scheduling.extraFlags" in problems(homelab)["scheduling.extraValues"]


def test_epp_scheduling_config_is_generated_from_typed_config(homelab_render, render, homelab):
    config = yaml.safe_load(chart_values(homelab_render, POOL)["inferenceExtension"]["pluginsCustomConfig"]["custom-plugins.yaml"])
    assert config["kind"] == "EndpointPickerConfig"
    assert [p["type"] for p in config["plugins"]] == [
        "queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer", "max-score-picker"]
    weights = {p["pluginRef"]: p.get("weight") for p in config["schedulingProfiles"][0]["plugins"]}
    assert weights == {"queue-scorer": 2, "kv-cache-utilization-scorer": 2, "prefix-cache-scorer": 3, "max-score-picker": None}
    homelab["scheduling"] = {
        "plugins": [{"type": "prefix-cache-scorer", "parameters": {"blockSize": 32}}, {"type": "random-picker"}],
        "profiles": [{"name": "default", "plugins": [{"pluginRef": "prefix-cache-scorer", "weight": 5},
                                                     {"pluginRef": "random-picker"}]}],
    }
    custom = yaml.safe_load(chart_values(render(homelab), POOL)["inferenceExtension"]["pluginsCustomConfig"]["custom-plugins.yaml"])
    assert custom["plugins"][0] == {"type": "prefix-cache-scorer", "parameters": {"blockSize": 32}}
    assert custom["schedulingProfiles"][0]["plugins"][0] == {"pluginRef": "prefix-cache-scorer", "weight": 5}


def test_unknown_plugin_parameter_is_a_config_error(homelab):
    from test_config import problems

    homelab["scheduling"] = {"plugins": [{"type": "prefix-cache-scorer", "parameters": {"hashBlockSize": 64}}]}
    assert "unknown parameter" in problems(homelab)["scheduling.plugins[0].parameters.hashBlockSize"]


@pytest.mark.parametrize("engine, expected", [
    ({"kind": "ipex-llm"}, "vllm:gpu_cache_usage_perc"),
    ({"kind": "vllm", "image": "intel/vllm:0.12.0-xpu"}, "vllm:kv_cache_usage_perc"),
])
def test_epp_metric_flags_follow_the_engine_generation(render, homelab, engine, expected):
    homelab["models"][0]["engine"] = engine
    flags = chart_values(render(homelab), POOL)["inferenceExtension"]["flags"]
    assert flags["kv-cache-usage-percentage-metric"] == expected


def test_simulator_pool_reads_v1_metric_names(render, homelab):
    homelab["gpu"] = {"enabled": False}
    homelab["models"][0]["engine"] = {"kind": "sim"}
    flags = chart_values(render(homelab), POOL)["inferenceExtension"]["flags"]
    assert flags["kv-cache-usage-percentage-metric"] in VLLM_METRICS["v1"]


def test_two_models_get_two_pools_and_two_routes_that_do_not_shadow(render, homelab):
    homelab["models"].append(second_model(homelab))
    result = render(homelab)
    routes = objects(result, "HTTPRoute")
    assert len(routes) == 2
    backends = {r["spec"]["rules"][0]["backendRefs"][0]["name"] for r in routes}
    assert backends == {"ds-r1-llama-8b-pool", "qwen-7b-pool"}
    matches = [str(r["spec"]["rules"][0]["matches"]) + str(r["spec"].get("hostnames")) for r in routes]
    assert len(set(matches)) == 2
    selectors = [chart_values(result, n)["inferencePool"]["modelServers"]["matchLabels"]["llm-d.ai/model"]
                 for n in (POOL, "qwen-7b-pool-release")]
    assert selectors == ["ds-r1-llama-8b", "qwen-7b"]


def test_model_header_match_for_body_based_routing(render, homelab):
    homelab["models"][0]["route"]["matchModelHeader"] = True
    match = objects(render(homelab), "HTTPRoute")[0]["spec"]["rules"][0]["matches"][0]
    assert match["headers"] == [{"type": "Exact", "name": "X-Gateway-Model-Name", "value": "deepseek-r1-distill-llama-8b"}]


def test_hostnames_are_passed_to_the_route(render, homelab):
    homelab["models"][0]["route"]["hostnames"] = ["llm.homelab.lan"]
    assert objects(render(homelab), "HTTPRoute")[0]["spec"]["hostnames"] == ["llm.homelab.lan"]


def test_nodeport_gateway_uses_kgateway_parameters(render, homelab):
    homelab["gateway"] = {"serviceType": "NodePort"}
    result = render(homelab)
    parameters = objects(result, "GatewayParameters")[0]
    assert parameters["spec"] == {"kube": {"service": {"type": "NodePort"}}}
    ref = objects(result, "Gateway")[0]["spec"]["infrastructure"]["parametersRef"]
    assert ref == {"group": "gateway.kgateway.dev", "kind": "GatewayParameters", "name": parameters["metadata"]["name"]}


def test_chart_service_monitor_is_off_because_monitoring_owns_it(homelab_render):
    assert chart_values(homelab_render, POOL)["inferenceExtension"]["monitoring"]["prometheus"] == {"enabled": False}


def test_a_model_path_prefix_is_rewritten_away_for_vllm(render, homelab, homelab_render):
    assert "filters" not in objects(homelab_render, "HTTPRoute")[0]["spec"]["rules"][0]
    homelab["models"].append(second_model(homelab))
    route = by_name(render(homelab), "HTTPRoute", "qwen-7b-route")
    rule = route["spec"]["rules"][0]
    assert rule["matches"][0]["path"] == {"type": "PathPrefix", "value": "/qwen-7b/v1"}
    assert rule["filters"] == [{"type": "URLRewrite",
                                "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v1"}}}]


def test_routes_expose_only_the_openai_api(render, homelab):
    """/metrics, /docs and /health of vLLM stay inside the cluster: every route matches `<prefix>/v1` only."""
    homelab["models"].append(second_model(homelab))
    routes = objects(render(homelab), "HTTPRoute")
    assert len(routes) == 2
    for route in routes:
        for rule in route["spec"]["rules"]:
            for match in rule["matches"]:
                assert match["path"]["type"] == "PathPrefix" and match["path"]["value"].endswith("/v1")
    prefixed = next(r for r in routes if r["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/qwen-7b/v1")
    rewrite = prefixed["spec"]["rules"][0]["filters"][0]["urlRewrite"]["path"]
    assert rewrite == {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/v1"}  # /qwen-7b/v1/x -> /v1/x


# --- long generations through Envoy (issue 15, item 8) ---------------------------------------------------------------


def listener_policy(result) -> dict:
    [policy] = objects(result, "HTTPListenerPolicy")
    return policy


def test_the_proxy_keeps_a_silent_stream_as_long_as_a_request_may_last(homelab_render):
    """kgateway 2.1.x: HTTPListenerPolicy.spec.streamIdleTimeout (targets a whole Gateway); Envoy's default is 300s,
    so a 20-minute non-streaming generation would be cut at 5 minutes without it."""
    policy = listener_policy(homelab_render)
    assert policy["apiVersion"] == "gateway.kgateway.dev/v1alpha1"
    gateway = objects(homelab_render, "Gateway")[0]
    assert policy["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert policy["spec"] == {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": gateway["metadata"]["name"]}],
        "streamIdleTimeout": "3600s",
        "idleTimeout": "300s",  # gateway.limits.idleTimeout (tests/test_listener_limits.py)
    }


@pytest.mark.parametrize("requests, expected", [
    (["20m"], "20m"), (["20m", "1h"], "1h"), (["60s"], "300s"), (["0s", "1h"], "0s")])
def test_the_stream_idle_timeout_follows_the_longest_request_timeout(render, homelab, requests, expected):
    for i, request in enumerate(requests):
        model = homelab["models"][0] if i == 0 else second_model(homelab)
        model["route"]["timeouts"] = {"request": request, "backendRequest": request}
        if i:
            model["route"]["pathPrefix"] = f"/m{i}"
            homelab["models"].append(model)
    assert listener_policy(render(homelab))["spec"]["streamIdleTimeout"] == expected
