"""One endpoint, many models: GAIE body-based routing through kgateway 2.1, checked on the rendered objects."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from conftest import objects, second_model
from test_config import problems

from components.helm_post_render import patch_documents

GATEWAY = "llm-d-gateway"
MODELS_GATEWAY = "llm-d-gateway-models"
HEADER = "X-Gateway-Model-Name"
PROXY = "gateway.networking.k8s.io/gateway-name"


def shared(homelab: dict, default: str | None = "ds-r1-llama-8b") -> dict:
    """The homelab with a second model on the same URL (no prefix, no hostname of its own)."""
    other = second_model(homelab)
    other["route"] = {"pathPrefix": "/"}
    homelab["models"].append(other)
    if default:
        homelab.setdefault("gateway", {})["defaultModel"] = default
    return homelab


@pytest.fixture(scope="module")
def two_models():
    from conftest import API_KEY, PASSWORD, TOKEN, stack_config, with_gpu_room

    from llmd_stack.offline import render_config

    secrets = {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD, "apiKey": API_KEY}
    return render_config(shared(with_gpu_room(copy.deepcopy(stack_config("homelab")))), secrets)


def named(result, kind: str, name: str) -> dict:
    [found] = [o for o in objects(result, kind) if o["metadata"]["name"] == name]
    return found


def routes(result) -> dict[str, dict]:
    return {r["metadata"]["name"]: r["spec"] for r in objects(result, "HTTPRoute")}


def test_a_single_model_stack_deploys_no_router(homelab_render):
    assert not [o for o in objects(homelab_render, "Deployment") if o["metadata"]["name"] == "body-based-router"]
    assert not objects(homelab_render, "GatewayExtension")
    # The homelab's one TrafficPolicy is its rate limit (gateway.limits.rateLimit): no ext-proc on the Gateway.
    assert [p["metadata"]["name"] for p in objects(homelab_render, "TrafficPolicy")] == ["llm-d-gateway-rate-limit"]
    assert [g["metadata"]["name"] for g in objects(homelab_render, "Gateway")] == [GATEWAY]
    assert all("headers" not in m for r in routes(homelab_render).values() for m in r["rules"][0]["matches"])


def test_the_router_is_the_gaie_chart_rendered_and_hardened(two_models):
    chart = two_models.one("kubernetes:helm.sh/v4:Chart", "body-router-release")
    assert chart.inputs == {} and chart.declared["version"] == "v1.2.1"
    assert chart.declared["chart"] == f".charts/body-based-routing-{chart.declared['version']}.tgz"
    deployment = named(two_models, "Deployment", "body-based-router")
    service = named(two_models, "Service", "body-based-router")
    children = {r.inputs["kind"] for r in two_models.resources if r.rendered_by == chart.urn}
    assert {"Deployment", "Service"} <= children
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == "registry.k8s.io/gateway-api-inference-extension/bbr:v1.2.1"
    assert container["resources"] == {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}}
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 65532
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}}
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in container["ports"]
    assert service["spec"]["ports"][0]["port"] == 9004 and service["spec"]["ports"][0]["appProtocol"] == "HTTP2"
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_the_public_gateway_runs_the_router_on_every_request(two_models):
    service = named(two_models, "Service", "body-based-router")
    extension = named(two_models, "GatewayExtension", f"{GATEWAY}-body-router")
    grpc = extension["spec"]["extProc"]["grpcService"]["backendRef"]
    assert (grpc["name"], grpc["port"]) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])
    assert extension["spec"]["type"] == "ExtProc" and extension["spec"]["extProc"]["failOpen"] is False
    assert extension["spec"]["extProc"]["processingMode"]["requestBodyMode"] == "FULL_DUPLEX_STREAMED"
    policy = named(two_models, "TrafficPolicy", f"{GATEWAY}-body-router")
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}]
    assert policy["spec"]["extProc"]["extensionRef"]["name"] == extension["metadata"]["name"]
    # The router serves TLS with a certificate it makes up: kgateway may not verify it, and speaks HTTP/2 to it.
    tls = named(two_models, "BackendConfigPolicy", f"{GATEWAY}-body-router")
    assert tls["spec"]["targetRefs"] == [{"group": "", "kind": "Service", "name": "body-based-router"}]
    assert tls["spec"]["tls"] == {"insecureSkipVerify": True, "alpnProtocols": ["h2"]}


def test_the_public_gateway_forwards_to_an_internal_one_that_routes_by_model(two_models):
    gateways = {g["metadata"]["name"]: g for g in objects(two_models, "Gateway")}
    assert set(gateways) == {GATEWAY, MODELS_GATEWAY}
    params = named(two_models, "GatewayParameters", MODELS_GATEWAY)
    assert params["spec"]["kube"]["service"]["type"] == "ClusterIP"
    assert gateways[MODELS_GATEWAY]["spec"]["infrastructure"]["parametersRef"]["name"] == MODELS_GATEWAY
    found = routes(two_models)
    forward = found["llm-d-gateway-forward"]
    assert forward["parentRefs"][0]["name"] == GATEWAY
    assert forward["rules"][0]["backendRefs"] == [{"kind": "Service", "name": MODELS_GATEWAY, "port": 80}]
    assert gateways[MODELS_GATEWAY]["spec"]["listeners"][0]["port"] == 80
    for model, served in (("ds-r1-llama-8b", "deepseek-r1-distill-llama-8b"), ("qwen-7b", "qwen2.5-7b")):
        spec = found[f"{model}-route"]
        assert spec["parentRefs"][0]["name"] == MODELS_GATEWAY
        by_header = {"headers": [{"type": "Exact", "name": HEADER, "value": served}], "path": {"type": "PathPrefix", "value": "/v1"}}
        assert spec["rules"][0]["matches"][0] == by_header


def test_only_the_default_model_takes_requests_naming_no_or_an_unknown_model(two_models):
    found = routes(two_models)
    plain = {"path": {"type": "PathPrefix", "value": "/v1"}}
    assert plain in found["ds-r1-llama-8b-route"]["rules"][0]["matches"]
    assert plain not in found["qwen-7b-route"]["rules"][0]["matches"]


def test_network_policies_admit_the_public_proxy_to_the_router_and_nothing_else(two_models):
    router = named(two_models, "NetworkPolicy", "body-based-router")["spec"]
    assert router["podSelector"]["matchLabels"] == {"app": "body-based-router"}
    to_router = [rule for rule in router["ingress"] if rule["ports"][0]["port"] == 9004]
    assert [rule["from"] for rule in to_router] == [[{"podSelector": {"matchLabels": {PROXY: GATEWAY}}}]]
    # Only Prometheus besides, on the metrics port.
    assert {rule["ports"][0]["port"] for rule in router["ingress"]} == {9004, 9090}
    public = named(two_models, "NetworkPolicy", "gateway-clients")["spec"]
    egress_to = [(e["to"][0].get("podSelector", {}).get("matchLabels"), e["ports"][0]["port"]) for e in public["egress"]]
    assert ({"app": "body-based-router"}, 9004) in egress_to and ({PROXY: MODELS_GATEWAY}, 80) in egress_to
    assert not [labels for labels, port in egress_to if labels and "llm-d.ai/model" in labels], "the public proxy reaches no model"
    internal = named(two_models, "NetworkPolicy", "model-gateway")["spec"]
    assert internal["podSelector"]["matchLabels"] == {PROXY: MODELS_GATEWAY}
    assert internal["ingress"] == [{"from": [{"podSelector": {"matchLabels": {PROXY: GATEWAY}}}],
                                    "ports": [{"port": 80, "protocol": "TCP"}]}]
    # Model pods and EPPs admit the internal proxy, which reaches them.
    model_pods = named(two_models, "NetworkPolicy", "qwen-7b-model-pods")["spec"]
    assert {"podSelector": {"matchLabels": {PROXY: MODELS_GATEWAY}}} in model_pods["ingress"][0]["from"]


def test_the_router_is_scraped_with_a_token_of_an_account_that_may_only_read_metrics(two_models):
    """BBR v1.2.1 always guards /metrics with TokenReview + SubjectAccessReview (cmd/bbr/runner/runner.go)."""
    monitor = named(two_models, "PodMonitor", "body-based-router")
    assert monitor["metadata"]["labels"]["release"]  # selected by the installed Prometheus
    assert monitor["spec"]["selector"]["matchLabels"] == {"app": "body-based-router"}
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics"
    token = named(two_models, "Secret", endpoint["authorization"]["credentials"]["name"])
    scraper = token["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    assert scraper == "body-based-router-metrics-scraper"
    binding = named(two_models, "ClusterRoleBinding", "llm-d-body-based-router-metrics-reader")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": scraper, "namespace": "llm-d"}]
    role = named(two_models, "ClusterRole", binding["roleRef"]["name"])
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]


def test_both_proxies_keep_a_silent_stream_as_long_as_a_request_may_last(two_models):
    policies = {p["spec"]["targetRefs"][0]["name"]: p["spec"]["streamIdleTimeout"] for p in objects(two_models, "HTTPListenerPolicy")}
    assert policies == {GATEWAY: "3600s", MODELS_GATEWAY: "3600s"}


def test_the_policy_checks_pass_on_two_models_behind_one_url(two_models):
    from llmd_stack.check import judged, violations

    assert [(r.id, v.message) for r, level, v in judged(violations(two_models), two_models) if level == "mandatory"] == []


# --- configuration ----------------------------------------------------------------------------------------------------


def test_a_shared_route_turns_routing_by_body_on_and_needs_a_default_model(homelab):
    assert "required with body-based routing" in problems(shared(homelab, default=None))["gateway.defaultModel"]


def test_an_unknown_default_model_is_named(homelab):
    shared(homelab, default="ds-r1-llama")
    assert "did you mean 'ds-r1-llama-8b'" in problems(homelab)["gateway.defaultModel"]


def test_a_default_model_without_routing_by_body_is_refused(homelab):
    homelab.setdefault("gateway", {})["defaultModel"] = "ds-r1-llama-8b"
    assert "only used with body-based routing" in problems(homelab)["gateway.defaultModel"]


def test_routing_by_body_can_be_forced_on_for_one_model(render, homelab):
    homelab.setdefault("gateway", {}).update(bodyBasedRouting=True, defaultModel="ds-r1-llama-8b")
    result = render(homelab)
    assert named(result, "Deployment", "body-based-router") and len(objects(result, "Gateway")) == 2


def test_the_sim_stack_serves_two_simulated_models_behind_one_endpoint():
    from test_stacks import rendered

    sim = rendered("sim")
    found = routes(sim)
    # agentgateway runs the router before a route is chosen: one Gateway, no forward route.
    assert {"ds-r1-llama-8b-route", "qwen-7b-route"} == set(found)
    assert {p["metadata"]["name"] for p in objects(sim, "Gateway")} == {"llm-d-gateway"}
    served = {m["value"] for spec in found.values() for rule in spec["rules"] for match in rule["matches"]
              for m in match.get("headers", [])}
    assert served == {"deepseek-r1-distill-llama-8b", "qwen2.5-7b-instruct"}
    assert named(sim, "Deployment", "body-based-router")


# --- the post-renderer -------------------------------------------------------------------------------------------------


def test_the_post_renderer_refuses_a_chart_that_renamed_what_it_patches():
    documents = [{"kind": "Deployment", "metadata": {"name": "other"}, "spec": {"template": {"spec": {"containers": []}}}}]
    with pytest.raises(SystemExit, match="no Deployment named body-based-router"):
        patch_documents(documents, {"body-based-router": {"container": "bbr"}})
    documents[0]["metadata"]["name"] = "body-based-router"
    with pytest.raises(SystemExit, match="has no container 'bbr'"):
        patch_documents(documents, {"body-based-router": {"container": "bbr"}})


def test_the_chart_records_the_post_renderer_as_pulumi_kubernetes_runs_it(two_models):
    post = two_models.one("kubernetes:helm.sh/v4:Chart", "body-router-release").declared["postRenderer"]
    assert post["command"] == ".venv/bin/python" and post["args"][:2] == ["-m", "components.helm_post_render"]
    assert set(json.loads(post["args"][2])) == {"body-based-router"}


def test_the_offline_post_render_gives_what_the_subprocess_helm_runs_gives(two_models):
    """Offline, the program's post-renderer runs in-process (charts.IN_PROCESS); `pulumi up` has Helm run it as a
    command. Both must give the same objects, and the in-process one must fail as the command does."""
    import subprocess
    import sys

    from llmd_stack import charts

    post = two_models.one("kubernetes:helm.sh/v4:Chart", "body-router-release").declared["postRenderer"]
    args = tuple(post["args"])
    documents = [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "body-based-router"},
                  "spec": {"template": {"spec": {"containers": [{"name": "bbr", "image": "x", "args": ["on", "1.0"]}]}}}}]
    text = yaml.safe_dump_all(documents, sort_keys=False)
    command = subprocess.run([sys.executable, *args], input=text, capture_output=True, text=True, check=True,
                             cwd=charts.PROGRAM_DIR)
    charts._post_render.cache_clear()
    in_process = json.loads(charts._post_render(json.dumps(documents), charts.PROGRAM_PYTHON, args, "chart t"))
    assert in_process == [d for d in yaml.safe_load_all(command.stdout) if d]
    assert in_process[0]["spec"]["template"]["spec"]["containers"][0]["securityContext"]  # the patch was applied
    with pytest.raises(charts.ChartRenderError, match="no Deployment named body-based-router"):
        charts._post_render(json.dumps([]), charts.PROGRAM_PYTHON, args, "chart t")


def test_a_router_from_another_gaie_release_is_warned_about(render, homelab):
    shared(homelab)
    homelab["gateway"]["bbr"] = {"image": "registry.k8s.io/gateway-api-inference-extension/bbr:v1.1.0"}
    warnings = [w for w in render(homelab).warnings if "gateway.bbr" in w]
    assert warnings and "keep both on the same minor version" in warnings[0] and "[bbr-image-vs-chart]" in warnings[0]


# --- a model on a URL of its own beside a shared one; the router's own account ------------------------------------------


def test_a_model_on_its_own_prefix_keeps_taking_everything_there(render, homelab):
    shared(homelab)
    third = second_model(homelab, name="phi-3", served="phi-3-mini")  # its own prefix: /phi-3
    homelab["models"].append(third)
    found = routes(render(homelab))
    assert found["phi-3-route"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/phi-3/v1"}}]
    assert "headers" in found["qwen-7b-route"]["rules"][0]["matches"][0]
    assert {"path": {"type": "PathPrefix", "value": "/phi-3/v1"}} in found["llm-d-gateway-forward"]["rules"][0]["matches"]


def test_the_default_model_must_be_one_sharing_the_route(homelab):
    shared(homelab, default="phi-3")
    homelab["models"].append(second_model(homelab, name="phi-3", served="phi-3-mini"))
    assert "has a route of its own" in problems(homelab)["gateway.defaultModel"]


def test_a_second_shared_group_is_refused(homelab):
    shared(homelab)
    for name in ("a", "b"):
        model = second_model(homelab, name=name, served=f"{name}-model")
        model["route"] = {"pathPrefix": "/pair"}
        homelab["models"].append(model)
    assert "a second group of models shares a route" in problems(homelab)["models[2].route"]


def test_the_router_runs_as_its_own_account_allowed_to_review_tokens(two_models):
    """BBR's /metrics filter makes TokenReview and SubjectAccessReview calls as the router itself."""
    pod = named(two_models, "Deployment", "body-based-router")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "body-based-router" and pod["automountServiceAccountToken"] is True
    assert named(two_models, "ServiceAccount", "body-based-router")["metadata"]["namespace"] == "llm-d"
    binding = named(two_models, "ClusterRoleBinding", "body-based-router-auth-delegator")
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "body-based-router", "namespace": "llm-d"}]


def test_a_router_pinned_by_digest_only_is_said_to_be_unverifiable(render, homelab):
    shared(homelab)
    homelab["gateway"]["bbr"] = {"image": "registry.k8s.io/gateway-api-inference-extension/bbr@sha256:" + "a" * 64}
    assert [w for w in render(homelab).warnings if "pinned by digest only" in w]


def test_a_failing_or_garbled_post_renderer_is_a_render_error_naming_it(monkeypatch):
    from llmd_stack import charts

    manifests = json.dumps([{"kind": "ConfigMap", "metadata": {"name": "x"}}])
    with pytest.raises(charts.ChartRenderError, match="post-renderer 'false' failed"):
        charts._post_render(manifests, "false", (), "chart t v1")
    with pytest.raises(charts.ChartRenderError, match="printed invalid YAML"):
        charts._post_render(manifests, "printf", ("a: [",), "chart t v1")


def test_a_duplicate_urn_stops_the_render_as_the_engine_would():
    import pulumi_kubernetes as k8s

    from llmd_stack.engine import DuplicateUrn, run_program

    def program():
        for _ in range(2):
            k8s.core.v1.ConfigMap("same", metadata={"name": "same"})

    with pytest.raises(DuplicateUrn, match="registers .*ConfigMap::same twice"):
        run_program(program, project="p", stack="s", config={}, secret_keys=[])
