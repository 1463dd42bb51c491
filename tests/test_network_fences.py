"""Every namespace a stack owns denies ingress and egress by default and admits the flows the stack needs, judged by a
NetworkPolicy evaluator (policies/rules/netflow.py, through tests/netflow.py) on the rendered objects: the needs are read from the render itself
(bindings, monitors, webhooks, datasources), then a curious LAN device and a compromised pod try what they should not.
"""

from __future__ import annotations

import copy

import pytest

from conftest import objects, stack_config
from netflow import Address, Network, Pod

from policies.rules.flows import DNS, bound_accounts
from policies.rules.flows import operator_pods as prometheus_operator_pods

API_SERVER = "192.168.1.10"  # a control-plane node on the homelab LAN (inside the homelab's apiServer.cidrs)
NODE = "192.168.1.11"  # a node's kubelet
LAN_DEVICE = "10.20.30.40"  # a curious device on the home network, outside every CIDR the stacks name
INTERNET = "93.184.216.34"
REGISTRY = "192.168.1.20"  # harbor.homelab.lan (inside the homelab's registry.cidrs)
def operator_pods(result) -> list[Pod]:
    """The pods prometheus-operator and the gateway controller create at runtime, labelled as they label them, and
    the cluster DNS."""
    everything = [r.inputs for r in result.resources if r.is_kubernetes_object]
    made = [DNS, *(pod for _, pod in prometheus_operator_pods(everything))]
    for gateway in objects(result, "Gateway"):
        ports = {f"listener-{lst['port']}": lst["port"] for lst in gateway["spec"]["listeners"]}
        made.append(Pod(gateway["metadata"]["namespace"],
                        {"gateway.networking.k8s.io/gateway-name": gateway["metadata"]["name"]}, ports,
                        f"proxy-{gateway['metadata']['name']}"))
    return made


def render_stack(render, stack: str):
    result = render(copy.deepcopy(stack_config(stack)))
    return result, Network(result, operator_pods(result))


def api_users(result, net: Network) -> list[Pod]:
    """Pods whose ServiceAccount is bound to a role: they call the API server."""
    bound = bound_accounts([r.inputs for r in result.resources if r.is_kubernetes_object])
    return [p for p in net.pods if (p.namespace, p.service_account) in bound]


def scrape_targets(result, net: Network) -> list[tuple[object, int]]:
    """Every endpoint the stack's ServiceMonitors and PodMonitors point Prometheus at, resolved to pods and ports."""
    services = objects(result, "Service")
    targets: list[tuple[object, int]] = []
    for monitor in objects(result, "PodMonitor"):
        namespaces = monitor["spec"]["namespaceSelector"]["matchNames"]
        for pod in net.pods:
            if pod.namespace in namespaces and all(pod.labels.get(k) == v for k, v in
                                                   monitor["spec"]["selector"]["matchLabels"].items()):
                for endpoint in monitor["spec"]["podMetricsEndpoints"]:
                    targets.append((pod, pod.ports[endpoint["port"]]))
    for monitor in objects(result, "ServiceMonitor"):
        selector = monitor["spec"]["selector"]["matchLabels"]
        namespaces = (monitor["spec"].get("namespaceSelector") or {}).get("matchNames") or [monitor["metadata"]["namespace"]]
        if selector.get("k8s-app") == "kubelet":
            targets.append((Address(NODE), 10250))
            continue
        if selector.get("component") == "apiserver":
            targets.append((Address(API_SERVER), 6443))
            continue
        for service in services:
            if service["metadata"]["namespace"] not in namespaces or not all(
                    (service["metadata"].get("labels") or {}).get(k) == v for k, v in selector.items()):
                continue
            for endpoint in monitor["spec"]["endpoints"]:
                (port,) = [p for p in service["spec"]["ports"] if p.get("name") == endpoint["port"]]
                pods = [p for p in net.pods if p.namespace == service["metadata"]["namespace"] and all(
                    p.labels.get(k) == v for k, v in service["spec"]["selector"].items())]
                if not pods and service["metadata"]["namespace"] == "kube-system":
                    # A control-plane component on the host network (kubeadm's static pods, kube-proxy).
                    targets.append((Address(NODE), port["targetPort"]))
                    continue
                assert pods, f"ServiceMonitor {monitor['metadata']['name']}: no pod behind {service['metadata']['name']}"
                for pod in pods:
                    target = port.get("targetPort", port["port"])
                    targets.append((pod, pod.ports[target] if isinstance(target, str) else target))
    return targets


def owned_namespaces(result) -> list[str]:
    return [ns["metadata"]["name"] for ns in objects(result, "Namespace")]


@pytest.mark.parametrize("stack", ["homelab", "sim", "b60"])
def test_every_owned_namespace_denies_both_directions_by_default(render, stack):
    result, _ = render_stack(render, stack)
    policies = objects(result, "NetworkPolicy")
    for namespace in owned_namespaces(result):
        deny = [p for p in policies if p["metadata"]["namespace"] == namespace and not (p["spec"]["podSelector"] or {}).get("matchLabels")
                and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
                and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny, f"{stack}: namespace {namespace} has no default-deny NetworkPolicy"


@pytest.mark.parametrize("stack", ["homelab", "sim", "b60"])
def test_the_flows_the_stack_needs_are_admitted(render, stack):
    result, net = render_stack(render, stack)
    assert_needed_flows_admitted(result, net, stack)


def test_a_renamed_prometheus_release_keeps_its_flows(render):
    """The operator's labels follow the chart's name and the release: a release of another name must stay fenced in
    with its flows, not left under default-deny."""
    config = copy.deepcopy(stack_config("homelab"))
    config.setdefault("monitoring", {}).setdefault("prometheus", {})["releaseName"] = "kps"
    result = render(config)
    assert_needed_flows_admitted(result, Network(result, operator_pods(result)), "homelab, release kps")


def test_on_a_cluster_with_control_plane_pods_prometheus_reaches_them(render):
    """kubeadm and kind run the controller manager, scheduler, etcd and kube-proxy as host-network pods, which
    kube-prometheus-stack scrapes (k3s embeds them: the program turns those scrapes off there)."""
    config = copy.deepcopy(stack_config("homelab"))
    config["cluster"]["distribution"] = "generic"
    config["cluster"].pop("k3s", None)
    result = render(config)
    net = Network(result, operator_pods(result))
    assert_needed_flows_admitted(result, net, "homelab on a generic cluster")
    prometheus = net.pod("monitoring", **{"app.kubernetes.io/name": "prometheus"})
    assert all(net.allows(prometheus, Address(NODE), port) for port in (10257, 10259, 2381, 10249))


def assert_needed_flows_admitted(result, net: Network, stack: str) -> None:
    needed: list[tuple[object, object, int, str]] = []
    for pod in net.pods:
        if pod.namespace in owned_namespaces(result):
            needed.append((pod, DNS, 53, "UDP"))
    needed += [(pod, Address(API_SERVER), 6443, "TCP") for pod in api_users(result, net)]
    prometheus = [p for p in net.pods if p.labels.get("app.kubernetes.io/name") == "prometheus"]
    for prom in prometheus:
        needed += [(prom, target, port, "TCP") for target, port in scrape_targets(result, net)]
        needed.append((prom, net.pod(prom.namespace, **{"app.kubernetes.io/name": "alertmanager"}), 9093, "TCP"))
    for grafana in [p for p in net.pods if p.labels.get("app.kubernetes.io/name") == "grafana"]:
        needed += [(grafana, prometheus[0], 9090, "TCP"),
                   (grafana, net.pod(grafana.namespace, **{"app.kubernetes.io/name": "alertmanager"}), 9093, "TCP")]
    # Webhooks: the API server calls the pods behind each webhook Service.
    for kind in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
        for config in objects(result, kind):
            for hook in config["webhooks"]:
                ref = hook["clientConfig"]["service"]
                (service,) = [s for s in objects(result, "Service") if s["metadata"]["name"] == ref["name"]
                              and s["metadata"]["namespace"] == ref["namespace"]]
                port = next(p for p in service["spec"]["ports"] if p["port"] == ref.get("port", 443))
                for pod in [p for p in net.pods if p.namespace == ref["namespace"] and all(
                        p.labels.get(k) == v for k, v in service["spec"]["selector"].items())]:
                    needed.append((Address(API_SERVER), pod, pod.ports[port["targetPort"]], "TCP"))
    # The request path: LAN -> proxy -> (router) -> EPP -> model; proxies configured over xDS.
    proxies = [p for p in net.pods if p.name.startswith("proxy-")]
    public = [p for p in proxies if not p.name.endswith("-models")]
    for proxy in public:
        needed += [(Address(LAN_DEVICE), proxy, port, "TCP") for port in proxy.ports.values()]
    controller = [p for p in net.pods if p.name.startswith("gateway-") and p.name.endswith("-controller")]
    assert controller, "no gateway controller rendered"
    xds = {"kgateway": 9977, "agentgateway": 9978}[controller[0].labels["app.kubernetes.io/name"]]
    needed += [(proxy, controller[0], xds, "TCP") for proxy in proxies]
    model_proxy = [p for p in proxies if p.name.endswith("-models")] or public
    epps = [p for p in net.pods if p.name.endswith("-epp")]
    models = [p for p in net.pods if p.labels.get("llm-d.ai/role") == "decode"]
    assert epps and models
    for epp in epps:
        needed += [(proxy, epp, 9002, "TCP") for proxy in model_proxy]
        needed += [(epp, model, 8000, "TCP") for model in models  # each EPP scrapes its own pool's pods
                   if epp.name == f"{model.labels['llm-d.ai/model']}-pool-epp"]
    needed += [(proxy, model, 8000, "TCP") for proxy in model_proxy for model in models]
    for router in [p for p in net.pods if p.labels.get("app") == "body-based-router"]:
        needed += [(proxy, router, 9004, "TCP") for proxy in public]
    for loader in [p for p in net.pods if p.labels.get("app.kubernetes.io/component") == "model-loader"]:
        needed.append((loader, Address(REGISTRY), 443, "TCP"))

    refused = [f"{describe(src)} -> {describe(dst)}:{port}/{proto}" for src, dst, port, proto in needed
               if not net.allows(src, dst, port, proto)]
    assert not refused, f"{stack}: needed flows the policies refuse:\n" + "\n".join(refused)
    assert len(needed) > 15


def describe(end) -> str:
    return f"{end.namespace}/{end.name}" if isinstance(end, Pod) else end.ip


@pytest.mark.parametrize("stack", ["homelab", "b60"])
def test_a_lan_device_and_a_compromised_pod_reach_nothing_else(render, stack):
    result, net = render_stack(render, stack)
    model = next(p for p in net.pods if p.labels.get("llm-d.ai/role") == "decode")
    epp = next(p for p in net.pods if p.name.endswith("-epp"))
    prometheus = net.pod("monitoring", **{"app.kubernetes.io/name": "prometheus"})
    alertmanager = net.pod("monitoring", **{"app.kubernetes.io/name": "alertmanager"})
    grafana = net.pod("monitoring", **{"app.kubernetes.io/name": "grafana"})
    controller = next(p for p in net.pods if p.name.startswith("gateway-") and p.name.endswith("-controller"))
    webhook = net.pod("cert-manager", **{"app.kubernetes.io/name": "webhook"})
    sensitive = [(prometheus, 9090), (alertmanager, 9093), (grafana, 3000), (controller, 9977), (controller, 9978),
                 (epp, 9002), (model, 8000), (webhook, 10250)]
    for target, port in sensitive:
        assert not net.allows(Address(LAN_DEVICE), target, port), f"LAN reaches {describe(target)}:{port}"
    for attacker in (model, epp):
        for target, port in sensitive:
            if target is attacker or (attacker is epp and target is model):
                continue  # the EPP scrapes its model pods
            assert not net.allows(attacker, target, port), f"{describe(attacker)} reaches {describe(target)}:{port}"
        assert not net.allows(attacker, Address(INTERNET), 443), f"{describe(attacker)} reaches the internet"
    assert not net.allows(model, Address(API_SERVER), 6443), "a model pod reaches the API server"
    # Nothing in an owned namespace reaches the internet: the gateway's proxy included (the homelab's registry and
    # API server are on the LAN).
    leaks = [describe(p) for p in net.pods if p.namespace in owned_namespaces(result)
             and net.allows(p, Address(INTERNET), 443)]
    assert not leaks, f"reach the internet on 443: {leaks}"


def test_the_loader_sends_the_registry_token_only_to_the_registry_cidrs(render):
    result, net = render_stack(render, "homelab")
    loader = next(p for p in net.pods if p.labels.get("app.kubernetes.io/component") == "model-loader")
    assert net.allows(loader, Address(REGISTRY), 443)
    assert not net.allows(loader, Address(LAN_DEVICE), 443)
    assert not net.allows(loader, Address(INTERNET), 443)


def test_a_named_issuer_lets_only_cert_managers_controller_out(render):
    config = copy.deepcopy(stack_config("homelab"))
    config["certificates"]["issuer"] = {"kind": "ClusterIssuer", "name": "letsencrypt"}
    result = render(config)
    net = Network(result, operator_pods(result))
    controller = net.pod("cert-manager", **{"app.kubernetes.io/component": "controller"})
    assert net.allows(controller, Address(INTERNET), 443)
    assert net.allows(controller, Address(INTERNET), 53, "UDP")  # DNS-01: the zone's own nameservers
    for other in ("cainjector", "webhook"):
        pod = net.pod("cert-manager", **{"app.kubernetes.io/name": other})
        assert not net.allows(pod, Address(INTERNET), 443) and not net.allows(pod, Address(INTERNET), 53, "UDP")


def test_without_api_server_cidrs_controllers_reach_any_address_on_the_api_port_only(render):
    config = copy.deepcopy(stack_config("homelab"))
    config["cluster"]["apiServer"] = {}
    result = render(config)
    net = Network(result, operator_pods(result))
    epp = next(p for p in net.pods if p.name.endswith("-epp"))
    assert net.allows(epp, Address(INTERNET), 6443)
    assert not net.allows(epp, Address(INTERNET), 443)


def test_network_policies_off_renders_none(render):
    config = copy.deepcopy(stack_config("homelab"))
    config["cluster"]["networkPolicies"] = False
    assert not objects(render(config), "NetworkPolicy")


def test_kgateway_xds_is_tls_with_a_certificate_for_its_service(render):
    result = render(copy.deepcopy(stack_config("homelab")))
    (controller,) = [d for d in objects(result, "Deployment") if d["metadata"]["name"] == "gateway-kgateway-controller"]
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KGW_XDS_TLS_ENABLED"] == "true"
    volumes = controller["spec"]["template"]["spec"]["volumes"]
    assert {"name": "xds-tls", "secret": {"secretName": "kgateway-xds-cert"}} in volumes
    (service,) = [s for s in objects(result, "Service") if s["metadata"]["name"] == env["KGW_XDS_SERVICE_NAME"]]
    (cert,) = [c for c in objects(result, "Certificate") if c["spec"]["secretName"] == "kgateway-xds-cert"]
    namespace = service["metadata"]["namespace"]
    assert cert["metadata"]["namespace"] == namespace
    assert f"{service['metadata']['name']}.{namespace}.svc.cluster.local" in cert["spec"]["dnsNames"]
    # Signed by a CA of its own in the controller's namespace (a CA issuer puts ca.crt in the Secret, as the chart
    # requires), not by the Gateway's issuer.
    (issuer,) = [i for i in objects(result, "Issuer") if i["metadata"]["name"] == cert["spec"]["issuerRef"]["name"]]
    assert issuer["metadata"]["namespace"] == namespace and "ca" in issuer["spec"]
    # The controller's Deployment waits for the certificate to be issued (pulumi-kubernetes' waitFor on the Ready
    # condition), which waits for cert-manager.
    assert cert["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    chart = result.one("kubernetes:helm.sh/v4:Chart", "gateway-kgateway-controller")
    certificate = result.one("kubernetes:cert-manager.io/v1:Certificate", "gateway-kgateway-xds-certificate")
    assert certificate.urn in chart.depends_on
    assert result.one("kubernetes:helm.sh/v4:Chart", "certificate-cert-manager").urn in certificate.depends_on


def test_kgateway_without_certificates_says_xds_stays_plaintext(homelab):
    from llmd_stack.config import StackConfig
    from llmd_stack.program import xds_warnings

    assert xds_warnings(StackConfig.model_validate(stack_config("homelab"))) == []
    homelab["certificates"] = {"enabled": False}
    assert "stays plaintext" in xds_warnings(StackConfig.model_validate(homelab))[0]


def test_agentgateway_xds_keeps_its_default_tls(render):
    result = render(copy.deepcopy(stack_config("sim")))
    (controller,) = [d for d in objects(result, "Deployment") if d["metadata"]["name"] == "gateway-agentgateway-controller"]
    env = {e["name"]: e.get("value") for e in controller["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["AGW_XDS_MODE"] == "tls"


def test_the_policy_pack_refuses_a_fence_that_misses_a_pod(render, monkeypatch):
    """`fences-admit-stack-flows` (CrossGuard and `check`) catches what a wrong selector does: the operator selected
    by a label its pods lack (the bug a renamed Prometheus release once caused) has neither the API server nor
    Prometheus' scrape."""
    from components import monitoring
    from llmd_stack.check import evaluate, resources_of

    monkeypatch.setattr(monitoring, "operator_pods", lambda release: {"app": f"{release}-operator"})
    config = copy.deepcopy(stack_config("homelab"))
    config.setdefault("monitoring", {}).setdefault("prometheus", {})["releaseName"] = "kps"
    found = [v.message for rule, _, v in evaluate(resources_of(render(config))) if rule.id == "fences-admit-stack-flows"]
    assert any(m.startswith("monitoring/kps-operator runs as") and "may not reach the API server" in m for m in found), found
    assert any("monitoring/kps-operator:8080, which Prometheus" in m for m in found), found
