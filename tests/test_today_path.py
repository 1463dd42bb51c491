"""Today's path on the objects the cluster gets: agentgateway in front, llm-d-router's EPP and pool, GAIE's v1.5.0
body-based router in the PreRouting phase, the API key checked at the proxy (the `sim` and `b60` stacks)."""

from __future__ import annotations

import json

import pytest
from conftest import objects

from components.modelservice import pod_labels as model_pod_labels
from components.routing.agentgateway import API_KEY_EXPRESSION, XDS_PORT
from components.routing.gateway import MODEL_HEADER
from llmd_stack.engine import RenderResult
from test_stacks import rendered

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


@pytest.fixture(scope="module")
def sim() -> RenderResult:
    return rendered("sim")


@pytest.fixture(scope="module")
def b60() -> RenderResult:
    return rendered("b60")


def named(result: RenderResult, kind: str, name: str) -> dict:
    [found] = [o for o in objects(result, kind) if o["metadata"]["name"] == name]
    return found


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pods_of(result: RenderResult, selector: dict) -> list[dict]:
    """The Deployments whose pods a label selector selects."""
    return [d for d in objects(result, "Deployment") if selects(selector, d["spec"]["template"]["metadata"]["labels"])]


@pytest.mark.parametrize("stack", ["sim", "b60"])
def test_the_proxy_reaches_each_epp_through_its_rendered_service_and_port(request, stack):
    result = request.getfixturevalue(stack)
    pools = objects(result, "InferencePool")
    assert pools
    for pool in pools:
        ref = pool["spec"]["endpointPickerRef"]
        service = named(result, "Service", ref["name"])
        [port] = [p for p in service["spec"]["ports"] if p["port"] == ref["port"]["number"]]
        assert port["appProtocol"] == "kubernetes.io/h2c"  # gRPC ext-proc
        [epp] = pods_of(result, service["spec"]["selector"])
        assert epp["metadata"]["name"] == f"{pool['metadata']['name']}-epp"
        container = epp["spec"]["template"]["spec"]["containers"][0]
        assert port.get("targetPort", port["port"]) in [p["containerPort"] for p in container["ports"]]
        assert ["--pool-name", pool["metadata"]["name"]] == container["args"][:2]
        # The EPP's NetworkPolicy admits the Gateway's proxy on that port.
        policy = named(result, "NetworkPolicy", f"{pool['metadata']['name'].removesuffix('-pool')}-epp")
        assert selects(policy["spec"]["podSelector"]["matchLabels"], epp["spec"]["template"]["metadata"]["labels"])
        admitted = [rule for rule in policy["spec"]["ingress"] if {"port": ref["port"]["number"], "protocol": "TCP"} in rule["ports"]]
        assert [rule["from"] for rule in admitted] == [[{"podSelector": {"matchLabels": {GATEWAY_NAME_LABEL: "llm-d-gateway"}}}]]


@pytest.mark.parametrize("stack", ["sim", "b60"])
def test_routes_reach_the_rendered_pools_through_the_one_gateway(request, stack):
    result = request.getfixturevalue(stack)
    [gateway] = objects(result, "Gateway")
    assert gateway["spec"]["gatewayClassName"] == "agentgateway"
    pools = {p["metadata"]["name"] for p in objects(result, "InferencePool")}
    for route in objects(result, "HTTPRoute"):
        assert [p["name"] for p in route["spec"]["parentRefs"]] == [gateway["metadata"]["name"]]
        for rule in route["spec"]["rules"]:
            [backend] = rule["backendRefs"]
            assert (backend["group"], backend["kind"]) == ("inference.networking.k8s.io", "InferencePool")
            assert backend["name"] in pools


def test_every_agentgateway_policy_targets_a_rendered_object(sim, b60):
    for result in (sim, b60):
        gateways = {g["metadata"]["name"] for g in objects(result, "Gateway")}
        services = {s["metadata"]["name"] for s in objects(result, "Service")}
        policies = objects(result, "AgentgatewayPolicy")
        assert policies
        for policy in policies:
            for target in policy["spec"]["targetRefs"]:
                assert target["name"] in {"Gateway": gateways, "Service": services}[target["kind"]], target


def test_the_body_router_runs_before_routing_and_sets_the_header_the_routes_match(sim):
    [gateway] = objects(sim, "Gateway")
    policy = named(sim, "AgentgatewayPolicy", "llm-d-gateway-body-router")
    traffic = policy["spec"]["traffic"]
    assert traffic["phase"] == "PreRouting" and traffic["extProc"]["failureMode"] == "FailClosed"
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "name": gateway["metadata"]["name"]}]
    backend = traffic["extProc"]["backendRef"]
    service = named(sim, "Service", backend["name"])
    assert backend["port"] in [p["port"] for p in service["spec"]["ports"]]
    [router] = pods_of(sim, service["spec"]["selector"])
    args = router["spec"]["template"]["spec"]["containers"][0]["args"]
    # GAIE v1.5.0's plugin flag: `--plugin body-field-to-header:<name>:<json>` names the header it sets.
    plugins = [json.loads(a.split(":", 2)[2]) for a in args if a.startswith("body-field-to-header:")]
    assert plugins == [{"fieldName": "model", "headerName": MODEL_HEADER}]
    # The router serves TLS with a certificate it makes itself: the proxy is told not to verify it, for it alone.
    tls = named(sim, "AgentgatewayPolicy", "llm-d-gateway-body-router-tls")
    assert tls["spec"]["targetRefs"] == [{"group": "", "kind": "Service", "name": backend["name"]}]


def test_header_routes_and_the_default_model_share_one_url(sim):
    routes = {r["metadata"]["name"]: r["spec"]["rules"][0]["matches"] for r in objects(sim, "HTTPRoute")}
    header = lambda served: {"headers": [{"type": "Exact", "name": MODEL_HEADER, "value": served}],  # noqa: E731
                             "path": {"type": "PathPrefix", "value": "/v1"}}
    plain = {"path": {"type": "PathPrefix", "value": "/v1"}}
    # The default model also takes requests naming no model or an unknown one; the other only its own name.
    assert routes["ds-r1-llama-8b-route"] == [header("deepseek-r1-distill-llama-8b"), plain]
    assert routes["qwen-7b-route"] == [header("qwen2.5-7b-instruct")]


def test_network_policies_admit_exactly_the_agentgateway_proxy_and_let_it_reach_the_controller(sim):
    proxy = {GATEWAY_NAME_LABEL: "llm-d-gateway"}
    router = named(sim, "NetworkPolicy", "body-based-router")
    assert [rule["from"] for rule in router["spec"]["ingress"]] == [[{"podSelector": {"matchLabels": proxy}}]]
    for model in ("ds-r1-llama-8b", "qwen-7b"):
        pods = named(sim, "NetworkPolicy", f"{model}-model-pods")
        sources = [peer for rule in pods["spec"]["ingress"] for peer in rule["from"]]
        assert {"podSelector": {"matchLabels": proxy}} in sources
        assert all(peer["podSelector"]["matchLabels"] in (proxy, {"llm-d-router-gateway": f"{model}-pool-epp"})
                   for peer in sources if "namespaceSelector" not in peer)
        assert selects(pods["spec"]["podSelector"]["matchLabels"], model_pod_labels(model))
    # The proxy's own egress: its configuration from the rendered controller, on the port the controller serves.
    clients = named(sim, "NetworkPolicy", "gateway-clients")
    assert clients["spec"]["podSelector"]["matchLabels"] == proxy
    [xds] = [rule for rule in clients["spec"]["egress"] if {"port": XDS_PORT, "protocol": "TCP"} in rule["ports"]]
    [controller] = pods_of(sim, xds["to"][0]["podSelector"]["matchLabels"])
    assert controller["metadata"]["namespace"] == xds["to"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
    served = [p["containerPort"] for c in controller["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    assert XDS_PORT in served


def test_the_api_key_is_checked_by_the_proxy_and_still_reaches_vllm(b60):
    [gateway] = objects(b60, "Gateway")
    policy = named(b60, "AgentgatewayPolicy", "llm-d-gateway-api-key")
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "name": gateway["metadata"]["name"]}]
    check = policy["spec"]["traffic"]
    assert check["phase"] == "PreRouting"
    auth = check["apiKeyAuthentication"]
    # Strict: no key, no request. An expression location, which the proxy never strips from the request.
    assert auth["mode"] == "Strict" and auth["location"] == {"expression": API_KEY_EXPRESSION}
    secret = named(b60, "Secret", auth["secretRef"]["name"])
    assert secret["type"] == "Opaque"
    decode = named(b60, "Deployment", "qwen3-8b-decode")
    env = {e["name"]: e for e in decode["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == auth["secretRef"]["name"]
    assert env["USER"]["value"]  # vLLM >= 0.20 (torch >= 2.11) needs it under a UID without a passwd entry


def test_the_epp_reads_the_engine_metric_names_and_the_alerts_the_new_series(b60):
    config = named(b60, "ConfigMap", "qwen3-8b-pool-epp")["data"]["custom-plugins.yaml"]
    assert "apiVersion: llm-d.ai/v1alpha1" in config and "kvUsageSpec: vllm:kv_cache_usage_perc" in config
    epp = named(b60, "Deployment", "qwen3-8b-pool-epp")
    args = epp["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if "metric" in a and "--metrics-endpoint-auth" not in a]  # the refused flags
    rules = named(b60, "PrometheusRule", "llm-d-alerts")  # the program's (kube-prometheus-stack renders its own)
    exprs = [r["expr"] for g in rules["spec"]["groups"] for r in g["rules"]]
    assert 'max(llm_d_epp_ready_endpoints{name="qwen3-8b-pool"}) == 0' in exprs
    assert not [e for e in exprs if "inference_pool_" in e]


def test_the_b60_claims_its_card_by_the_drivers_model_attribute(b60):
    [template] = [t for t in objects(b60, "ResourceClaimTemplate") if t["metadata"]["name"].startswith("qwen3-8b-gpu-")]
    [request] = template["spec"]["spec"]["devices"]["requests"]
    expressions = [s["cel"]["expression"] for s in request["exactly"]["selectors"]]
    assert expressions == ['device.attributes["gpu.intel.com"].model == "B60"']
