"""Every environment (`Pulumi.<stack>.yaml`) renders through the real program and passes the mandatory policies.

Stacks are discovered at collection time: a new stack file is tested without touching this file. The GPU-less `sim`
environment runs today's routing path (agentgateway, llm-d-router) with the inference simulator and none of the GPU
parts; the homelab keeps the seed's (kgateway 2.1, GAIE's chart).
"""

from __future__ import annotations

from functools import lru_cache

import pytest
from conftest import ROOT, chart_values, objects, stack_config

from llmd_stack.check import run_checks
from llmd_stack.config import ENGINE_DEFAULT_IMAGES
from llmd_stack.engine import RenderResult
from llmd_stack.offline import render_stack

CHART = "kubernetes:helm.sh/v4:Chart"
STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))


@lru_cache(maxsize=None)
def rendered(stack: str) -> RenderResult:
    """The stack file rendered exactly as `python -m llmd_stack render --stack <stack>` renders it."""
    return render_stack(ROOT, stack)


def test_the_reference_and_the_gpu_less_environments_exist():
    assert {"homelab", "sim"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_renders_and_passes_the_mandatory_policies(stack):
    result = rendered(stack)
    assert (result.project, result.stack) == ("llmd-homelab", stack)
    assert result.of_type("llmd:serving:ModelService"), "no model service rendered"
    assert run_checks(result) == 0, f"Pulumi.{stack}.yaml violates a mandatory policy (see the table above)"


# --- the request path, wired the same way in every environment ------------------------------------------------------


def _routing_variants() -> list[tuple[str, str, str]]:
    """Every gateway provider x pool chart line x chart version the registry offers."""
    from components.routing import POOL_LINES, PROVIDERS

    return [(provider, line, version) for provider in PROVIDERS for line, pool in POOL_LINES.items()
            for version in pool.chart.versions]


EPP_IMAGES = {"gaie": "registry.k8s.io/gateway-api-inference-extension/epp:{version}",
              "llm-d-router": "ghcr.io/llm-d/llm-d-router-endpoint-picker:{version}"}


@pytest.mark.parametrize("provider, line, version", _routing_variants())
def test_every_routing_variant_wires_the_request_path_and_passes_the_mandatory_policies(render, homelab, provider, line,
                                                                                       version):
    homelab["gateway"] = {"provider": provider}
    homelab["scheduling"] = {"chart": line, "chartVersion": version, "eppImage": EPP_IMAGES[line].format(version=version)}
    result = render(homelab)
    assert request_path_problems(result, homelab["models"]) == []
    from llmd_stack.check import config_violations, violations

    mandatory = sorted({rule.id for rule, level, _ in violations(result) if level == "mandatory"})
    # inferencepool v1.1.0 stays renderable for stacks pinned to it, and known-bad: it renders its own
    # `--tracing false` as two args (the inferencepool-own-flags guard warns, this rule refuses the deploy).
    known_bad = ["epp-flags-render-safely"] if (line, version) == ("gaie", "v1.1.0") else []
    assert mandatory == known_bad
    assert config_violations(result) == []


def request_path_problems(result: RenderResult, models: list[dict]) -> list[str]:
    """Route -> InferencePool -> model pods, checked on the objects the cluster gets; [] when everything resolves."""
    problems: list[str] = []
    gateways = {g["metadata"]["name"]: g["metadata"] for g in objects(result, "Gateway")}
    routes = objects(result, "HTTPRoute")
    # With body-based routing the public Gateway forwards everything to an internal one, whose routes reach the pools.
    forwards = [r for r in routes if r["spec"]["rules"][0]["backendRefs"][0].get("kind") == "Service"]
    if len(gateways) == 1 and not forwards:
        gateway = next(iter(gateways.values()))
    elif len(gateways) == 2 and len(forwards) == 1:
        target = forwards[0]["spec"]["rules"][0]["backendRefs"][0]["name"]
        public = forwards[0]["spec"]["parentRefs"][0]["name"]
        if target not in gateways or public not in gateways or target == public:
            return [f"the forward route goes from {public!r} to {target!r}, not from one Gateway to the other"]
        gateway = gateways[target]
    else:
        return [f"expected one Gateway, or two with one forward route; found {len(gateways)} and {len(forwards)}"]
    for model in models:
        name = model["name"]
        pool_name = result.one(CHART, f"{name}-pool-release").declared["name"]
        pools = [p for p in objects(result, "InferencePool") if p["metadata"]["name"] == pool_name]
        decodes = [d for d in objects(result, "Deployment") if d["metadata"]["name"] == f"{name}-decode"]
        if len(pools) != 1 or len(decodes) != 1:
            problems.append(f"{name}: {len(pools)} InferencePool(s) and {len(decodes)} decode Deployment(s) rendered")
            continue
        pool, pod = pools[0], decodes[0]["spec"]["template"]
        pod_labels = pod["metadata"]["labels"]
        port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
        exported = result.outputs["models"][name]
        to_pool = [r for r in routes if r["spec"]["rules"][0]["backendRefs"][0]["name"] == pool_name]
        if len(to_pool) != 1:
            problems.append(f"{name}: {len(to_pool)} routes to pool {pool_name!r}, expected 1")
            continue
        route = to_pool[0]
        backend = route["spec"]["rules"][0]["backendRefs"][0]
        if (backend["group"], backend["kind"]) != ("inference.networking.k8s.io", "InferencePool"):
            problems.append(f"{name}: route backend is {backend['group']}/{backend['kind']}, not an InferencePool")
        parent = route["spec"]["parentRefs"][0]
        if (parent["name"], parent["namespace"]) != (gateway["name"], gateway["namespace"]):
            problems.append(f"{name}: route parent {parent} is not the Gateway {gateway['namespace']}/{gateway['name']}")
        if route["metadata"]["namespace"] != pool["metadata"]["namespace"]:
            problems.append(f"{name}: route and pool are in different namespaces")
        selector = pool["spec"]["selector"]["matchLabels"]
        if selector != pod_labels or pod_labels != exported["podLabels"]:
            problems.append(f"{name}: pool selects {selector}, model pods carry {pod_labels}")
        if pool["spec"]["targetPorts"] != [{"number": port}] or port != exported["port"]:
            problems.append(f"{name}: pool targets {pool['spec']['targetPorts']}, vLLM listens on {port}")
    return problems


@pytest.mark.parametrize("stack", STACKS)
def test_route_pool_and_model_pods_wire_up_in_every_stack(stack):
    assert request_path_problems(rendered(stack), stack_config(stack)["models"]) == []


def test_the_wiring_check_catches_a_pool_that_selects_other_pods(render, homelab):
    homelab["scheduling"] = {"extraValues": {"inferencePool": {"modelServers": {"matchLabels": {"app": "other"}}}}}
    problems = request_path_problems(render(homelab), homelab["models"])
    assert any("pool selects" in p for p in problems), problems


def test_the_wiring_check_catches_a_pool_on_the_wrong_port(render, homelab):
    homelab["scheduling"] = {"extraValues": {"inferencePool": {"targetPorts": [{"number": 8200}]}}}
    problems = request_path_problems(render(homelab), homelab["models"])
    assert any("pool targets" in p for p in problems), problems


def test_sim_routes_requests_like_homelab():
    """Same model name and served name, same route match and timeouts, same listeners and pool selection, on
    today's path (agentgateway, llm-d-router) instead of the seed's."""
    homelab, sim = rendered("homelab"), rendered("sim")
    [home_route] = [o["spec"] for o in objects(homelab, "HTTPRoute")]
    sim_route = next(o["spec"] for o in objects(sim, "HTTPRoute") if o["metadata"]["name"] == "ds-r1-llama-8b-route")
    # sim serves a second model on the same URL: its default model's route also takes the homelab's plain match.
    assert home_route["rules"][0]["matches"][0] in sim_route["rules"][0]["matches"]
    without_matches = [{k: v for k, v in r.items() if k != "matches"} for r in (home_route["rules"][0], sim_route["rules"][0])]
    assert without_matches[0] == without_matches[1]
    [public] = [o["spec"] for o in objects(sim, "Gateway")]
    [home_gateway] = [o["spec"] for o in objects(homelab, "Gateway")]
    assert (public["gatewayClassName"], home_gateway["gatewayClassName"]) == ("agentgateway", "kgateway")
    # The same routes on both; the homelab serves them over HTTPS (its models take the API key), sim over HTTP.
    assert [(lst["protocol"], lst["port"]) for lst in home_gateway["listeners"]] == [("HTTPS", 443)]
    assert [(lst["protocol"], lst["port"]) for lst in public["listeners"]] == [("HTTP", 80)]
    assert public["listeners"][0]["allowedRoutes"] == home_gateway["listeners"][0]["allowedRoutes"]
    layout = ("selector", "targetPorts")
    [home_pool] = [{k: o["spec"][k] for k in layout} for o in objects(homelab, "InferencePool")]
    assert home_pool in [{k: o["spec"][k] for k in layout} for o in objects(sim, "InferencePool")]


# --- the GPU-less environment ---------------------------------------------------------------------------------------


def test_sim_serves_the_simulator_without_gpu_claims():
    values = chart_values(rendered("sim"), "ds-r1-llama-8b-release")
    assert values["accelerator"] == {"type": "cpu", "dra": False}
    container = values["decode"]["containers"][0]
    assert container["image"] == ENGINE_DEFAULT_IMAGES["sim"]
    assert container["mountModelVolume"] is False
    assert values["decode"]["replicas"] == 2
    # What the cluster gets: two simulator pods with no GPU claim and no model volume.
    (decode,) = [d for d in objects(rendered("sim"), "Deployment") if d["metadata"]["name"] == "ds-r1-llama-8b-decode"]
    spec = decode["spec"]["template"]["spec"]
    assert decode["spec"]["replicas"] == 2 and "resourceClaims" not in spec
    assert spec["containers"][0]["image"] == ENGINE_DEFAULT_IMAGES["sim"]
    assert not [v for v in spec.get("volumes", []) if "persistentVolumeClaim" in v]
    assert spec["containers"][0]["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                                                  "limits": {"cpu": "500m", "memory": "512Mi"}}


def test_sim_has_no_gpu_driver_exporter_model_volume_or_loader():
    result = rendered("sim")
    types = {r.type for r in result.resources}
    assert "llmd:gpu:IntelGpuDra" not in types
    assert not [r.name for r in result.resources if "xpum" in r.type.lower() or "xpum" in r.name.lower()]
    assert not [r.name for r in result.resources if "ResourceClaim" in r.type]
    assert not result.of_type("kubernetes:core/v1:PersistentVolumeClaim")
    assert not result.of_type("kubernetes:batch/v1:Job")
    assert not result.of_type("llmd:model:ModelKitCache")
    assert result.outputs["deviceClass"] is None


def test_sim_needs_no_secret_and_never_uses_the_ambient_kubeconfig():
    import yaml

    config = yaml.safe_load((ROOT / "Pulumi.sim.yaml").read_text())["config"]
    assert "kubernetes" in config["pulumi:disable-default-providers"]
    assert not [k for k, v in config.items() if isinstance(v, dict) and "secure" in v]
    assert stack_config("sim")["cluster"]["context"]  # pinned: never the homelab cluster by accident
    assert stack_config("sim")["monitoring"] == {"enabled": False}


def test_sim_exposes_the_gateway_as_a_node_port():
    sim = rendered("sim")
    params = {p["metadata"]["name"]: p["spec"]["service"]["spec"]["type"] for p in objects(sim, "AgentgatewayParameters")}
    # One Gateway (the router runs before routing): no internal one.
    assert params == {"llm-d-gateway": "NodePort"}
    [gateway] = objects(sim, "Gateway")
    assert gateway["spec"]["infrastructure"]["parametersRef"] == {
        "group": "agentgateway.dev", "kind": "AgentgatewayParameters", "name": "llm-d-gateway"}
