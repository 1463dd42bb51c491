"""Security of what the cluster gets: the API key, tight model-server containers, routes that expose the API only."""

from __future__ import annotations

import json

import pytest

from conftest import API_KEY, PASSWORD, TOKEN, objects




def decode_pod(result) -> dict:
    (decode,) = [d for d in objects(result, "Deployment") if d["metadata"]["name"].endswith("-decode")]
    return decode["spec"]["template"]


def test_the_api_key_reaches_every_vllm_container_through_a_secret_ref(render, homelab):
    homelab["models"].append({**homelab["models"][0], "name": "qwen-7b", "servedName": "qwen2.5-7b",
                              "modelKit": {"repository": "qwen-7b", "tag": "2.0.0"},
                              "route": {"pathPrefix": "/qwen-7b"}})
    result = render(homelab, {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD, "apiKey": API_KEY})
    decodes = [d for d in objects(result, "Deployment") if d["metadata"]["name"].endswith("-decode")]
    assert len(decodes) == 2
    (secret,) = [s for s in objects(result, "Secret") if s["metadata"]["name"] == "llm-d-api-key"]
    assert secret["stringData"] == "[secret]" or secret["stringData"] == {"api-key": "[secret]"}
    for decode in decodes:
        container = decode["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["VLLM_API_KEY"] == {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {
            "name": "llm-d-api-key", "key": "api-key"}}}
        assert secret["metadata"]["namespace"] == decode["metadata"]["namespace"]
        assert "api-key" not in " ".join(container.get("args", []) + container.get("command", []))
    # Never in plain text: not in any input, output or chart value the engine records.
    assert API_KEY not in json.dumps([r.to_json() for r in result.resources]) + json.dumps(result.outputs)


def test_without_an_api_key_nothing_references_one(render, homelab):
    homelab["gateway"] = {"openAccess": True}
    result = render(homelab, {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD})
    container = decode_pod(result)["spec"]["containers"][0]
    assert "VLLM_API_KEY" not in {e["name"] for e in container.get("env", [])}
    assert not [s for s in objects(result, "Secret") if s["metadata"]["name"] == "llm-d-api-key"]


def test_the_api_key_must_be_a_secret(homelab):
    from test_config import problems

    homelab["apiKey"] = API_KEY
    assert "must be a secret" in problems(homelab, frozenset({"registryToken", "grafanaAdminPassword"}))["apiKey"]


def test_model_server_pods_run_without_privileges_or_an_api_token(homelab_render):
    pod = decode_pod(homelab_render)
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = spec["containers"][0]["securityContext"]
    assert context == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    # The RWO same-node affinity survives next to the security settings.
    assert spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]


def policies(result) -> dict[str, dict]:
    return {p["metadata"]["name"]: p for p in objects(result, "NetworkPolicy")}


def test_the_serving_namespace_denies_ingress_and_egress_unless_a_policy_admits_it(homelab_render):
    (deny,) = [p for p in objects(homelab_render, "NetworkPolicy")
               if p["metadata"]["namespace"] == "llm-d" and p["metadata"]["name"] == "default-deny"]
    assert not deny["spec"]["podSelector"].get("matchLabels") and deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert not deny["spec"].get("ingress") and not deny["spec"].get("egress")
    found = policies(homelab_render)
    clients = found["gateway-clients"]
    assert clients["spec"]["podSelector"]["matchLabels"] == {"gateway.networking.k8s.io/gateway-name": "llm-d-gateway"}
    assert clients["spec"]["ingress"] == [{"ports": [{"port": 443, "protocol": "TCP"}]}]


def test_prometheus_pods_by_label_not_every_pod_of_its_namespace(homelab_render):
    model = policies(homelab_render)["ds-r1-llama-8b-model-pods"]
    scrape = [peer for rule in model["spec"]["ingress"] for peer in rule["from"] if "namespaceSelector" in peer]
    assert scrape == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                       "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]


def test_model_pods_reach_only_dns_and_the_loader_only_dns_and_the_registry(render, homelab, homelab_render):
    found = policies(homelab_render)
    model = found["ds-r1-llama-8b-model-pods"]
    assert model["spec"]["policyTypes"] == ["Ingress", "Egress"]
    (dns,) = model["spec"]["egress"]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {p["port"] for p in dns["ports"]} == {53}
    loader = found["ds-r1-llama-8b-loader"]
    assert loader["spec"]["policyTypes"] == ["Ingress", "Egress"] and not loader["spec"].get("ingress")
    pull = loader["spec"]["egress"][1]
    assert {p["port"] for p in pull["ports"]} == {443, 80}
    assert pull["to"] == [{"ipBlock": {"cidr": "192.168.0.0/16"}}]  # the homelab's LAN
    del homelab["registry"]["cidrs"]
    pull = policies(render(homelab))["ds-r1-llama-8b-loader"]["spec"]["egress"][1]
    assert "to" not in pull  # no registry address configured: any address, on the registry's ports only
    homelab["registry"]["cidrs"] = ["192.168.1.20/32"]
    pull = policies(render(homelab))["ds-r1-llama-8b-loader"]["spec"]["egress"][1]
    assert pull["to"] == [{"ipBlock": {"cidr": "192.168.1.20/32"}}]
    # The loader's policy selects the loader Job's pods only, not the model pods.
    (job,) = objects(homelab_render, "Job")
    assert loader["spec"]["podSelector"]["matchLabels"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert "llm-d.ai/role" not in loader["spec"]["podSelector"]["matchLabels"]


def test_a_registry_cidr_must_be_a_cidr(homelab):
    from test_config import problems

    homelab["registry"]["cidrs"] = ["harbor.lan"]
    assert "'harbor.lan' is not a CIDR" in problems(homelab)["registry.cidrs"]


def test_only_prometheus_reaches_the_gpu_exporter(render, homelab, homelab_render):
    (policy,) = [p for p in objects(homelab_render, "NetworkPolicy") if p["metadata"]["namespace"] == "intel-xpu-manager"
                 and p["metadata"]["name"] == "gpu-exporter-scrape-only"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {"app": "intel-xpumanager"}
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 29999, "protocol": "TCP"}]
    homelab["monitoring"] = {"exporter": {"generation": "v2"}}
    result = render(homelab)
    (policy,) = [p for p in objects(result, "NetworkPolicy") if p["metadata"]["namespace"] == "intel-xpu-manager"
                 and p["metadata"]["name"] == "gpu-exporter-scrape-only"]
    (daemonset,) = [d for d in objects(result, "DaemonSet") if d["metadata"]["name"] == "xpumd"]
    pod = daemonset["spec"]["template"]
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    port = policy["spec"]["ingress"][0]["ports"][0]["port"]
    assert port in [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])]


def test_grafana_reads_only_configmaps_of_its_namespace_and_kube_state_metrics_skips_secrets(homelab_render):
    """Grafana is bound to the program's Role (ConfigMaps of its namespace), not the chart's (which always adds every
    Secret there), and its sidecars watch ConfigMaps only; kube-state-metrics may not list Secrets."""
    (binding,) = [b for b in objects(homelab_render, "RoleBinding") if b["metadata"]["name"] == "kube-prometheus-stack-grafana"]
    role = next(r for r in objects(homelab_render, "Role") if r["metadata"]["name"] == binding["roleRef"]["name"])
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "monitoring"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"]}]
    assert not [r for r in objects(homelab_render, "ClusterRole") if "grafana" in r["metadata"]["name"]]
    grafana = next(d for d in objects(homelab_render, "Deployment") if d["metadata"]["name"] == "kube-prometheus-stack-grafana")
    sidecars = [c for c in grafana["spec"]["template"]["spec"]["containers"] if c["name"].startswith("grafana-sc-")]
    assert sidecars and all({"name": "RESOURCE", "value": "configmap"} in c["env"] for c in sidecars)
    (metrics_role,) = [r for r in objects(homelab_render, "ClusterRole") if r["metadata"]["name"] == "kube-prometheus-stack-kube-state-metrics"]
    assert not [rule for rule in metrics_role["rules"] if "secrets" in rule["resources"]]
    (dashboard,) = [c for c in objects(homelab_render, "ConfigMap") if c["metadata"]["name"] == "llm-d-serving-dashboard"]
    assert dashboard["metadata"]["namespace"] == "monitoring"


def test_the_dra_kubelet_plugin_runs_only_on_gpu_nodes(render, homelab):
    homelab["gpu"] = {"nodeSelector": {"intel.feature.node.kubernetes.io/gpu": "true"}}
    (plugin,) = [d for d in objects(render(homelab), "DaemonSet") if d["metadata"]["name"].endswith("kubelet-plugin")]
    assert plugin["spec"]["template"]["spec"]["nodeSelector"] == {"intel.feature.node.kubernetes.io/gpu": "true"}


def test_an_https_listener_from_a_certificate_secret(render, homelab, homelab_render):
    (gateway,) = objects(homelab_render, "Gateway")
    assert [l["name"] for l in gateway["spec"]["listeners"]] == ["https"]  # cert-manager's certificate
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {"tls": {"secretName": "llm-d-gateway-tls", "allowHttp": True}}
    result = render(homelab)
    (gateway,) = objects(result, "Gateway")
    https = gateway["spec"]["listeners"][1]
    assert https == {"name": "https", "protocol": "HTTPS", "port": 443, "allowedRoutes": {"namespaces": {"from": "Same"}},
                     "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "llm-d-gateway-tls"}]}}
    (route,) = objects(result, "HTTPRoute")
    assert "sectionName" not in route["spec"]["parentRefs"][0]  # the route serves both listeners
    clients = policies(result)["gateway-clients"]
    assert clients["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
    # By default TLS replaces HTTP: the bearer key never crosses the network in clear.
    homelab["gateway"] = {"tls": {"secretName": "llm-d-gateway-tls"}}
    result = render(homelab)
    (gateway,) = objects(result, "Gateway")
    assert [listener["name"] for listener in gateway["spec"]["listeners"]] == ["https"]
    assert policies(result)["gateway-clients"]["spec"]["ingress"][0]["ports"] == [{"port": 443, "protocol": "TCP"}]


def test_the_epp_reaches_only_dns_the_api_server_and_its_model_pods(render, homelab, homelab_render):
    homelab["cluster"]["apiServer"] = {}
    # No address given: any address, but on the API port only.
    assert policies(render(homelab))["ds-r1-llama-8b-epp"]["spec"]["egress"][1] == {
        "ports": [{"port": 6443, "protocol": "TCP"}]}
    homelab["cluster"]["apiServer"] = {"cidrs": ["192.168.1.10/32"]}
    result = render(homelab)
    epp = policies(result)["ds-r1-llama-8b-epp"]
    assert epp["spec"]["policyTypes"] == ["Ingress", "Egress"]
    dns, api, models = epp["spec"]["egress"]
    assert api == {"to": [{"ipBlock": {"cidr": "192.168.1.10/32"}}], "ports": [{"port": 6443, "protocol": "TCP"}]}
    decode = decode_pod(result)
    assert models["to"][0]["podSelector"]["matchLabels"] == decode["metadata"]["labels"]
    assert models["ports"] == [{"port": 8000, "protocol": "TCP"}]
    homelab["cluster"]["apiServer"] = {"cidrs": ["not-an-address"]}
    from test_config import problems

    assert "'not-an-address' is not a CIDR" in problems(homelab)["cluster.apiServer.cidrs"]


def test_the_gateway_proxy_reaches_only_dns_its_control_plane_the_epps_and_the_model_pods(homelab_render):
    clients = policies(homelab_render)["gateway-clients"]
    assert clients["spec"]["policyTypes"] == ["Ingress", "Egress"]
    dns, xds, epp, model = clients["spec"]["egress"]
    assert xds == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kgateway-system"}},
                           "podSelector": {"matchLabels": {"app.kubernetes.io/name": "kgateway"}}}],
                   "ports": [{"port": 9977, "protocol": "TCP"}]}
    (epp_deployment,) = [d for d in objects(homelab_render, "Deployment") if d["metadata"]["name"].endswith("-epp")]
    assert epp["to"][0]["podSelector"]["matchLabels"].items() <= epp_deployment["spec"]["template"]["metadata"]["labels"].items()
    assert epp["ports"] == [{"port": 9002, "protocol": "TCP"}]
    assert model["to"][0]["podSelector"]["matchLabels"] == decode_pod(homelab_render)["metadata"]["labels"]
    assert model["ports"] == [{"port": 8000, "protocol": "TCP"}]


def test_a_registry_on_its_own_port_is_reachable_by_the_loader(render, homelab):
    homelab["registry"]["host"] = "harbor.homelab.lan:8443"
    pull = policies(render(homelab))["ds-r1-llama-8b-loader"]["spec"]["egress"][1]
    assert pull["ports"] == [{"port": 8443, "protocol": "TCP"}]


def test_header_routing_leaves_the_proxy_egress_open_for_body_based_routing(render, homelab):
    homelab["models"][0]["route"]["matchModelHeader"] = True
    clients = policies(render(homelab))["gateway-clients"]
    # The user's own ext-proc is at an address this program does not know: one rule admitting everything.
    assert clients["spec"]["policyTypes"] == ["Ingress", "Egress"] and clients["spec"]["egress"] == [{}]


def test_roles_a_chart_needs_are_allowed_and_power_grants_are_not(homelab_render):
    from policies.rules import Res
    from policies.rules.security import RULES

    rule = next(r for r in RULES if r.id == "roles-least-privilege")

    chart = "urn:pulumi:s::p::llmd:routing:InferenceGateway$kubernetes:helm.sh/v4:Chart::gateway-kgateway-controller"

    def verdict(kind, body, labels=None, name="x", parent=""):
        props = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                 "metadata": {"name": name, "labels": labels or {}}, **body}
        type_ = f"kubernetes:rbac.authorization.k8s.io/v1:{kind}"
        urn = f"{parent.split('::')[2]}${type_}::" if parent else f"{type_}::"
        urn = f"urn:pulumi:s::p::{urn}{parent.rsplit('::', 1)[-1] + ':' if parent else ''}{name}"
        return rule.resource_check(Res(type_, props, urn, name, False, parent), rule.config)

    secrets = {"rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}]}
    assert verdict("ClusterRole", secrets)
    # kgateway's roles are a named exception, matched by the Chart that rendered them (their parent), not by a label.
    assert verdict("ClusterRole", secrets, name="kgateway-kgateway-system", parent=chart) == []
    assert verdict("ClusterRole", secrets, {"helm.sh/chart": "kgateway-v2.1.2"}, name="kgateway-kgateway-system")
    assert verdict("ClusterRole", secrets, name="other", parent=chart)
    # Without the parent in the options, the Chart is read from the object's own URN.
    no_parent = Res("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole", {"kind": "ClusterRole", "metadata": {
        "name": "kgateway-kgateway-system"}, **secrets}, "urn:pulumi:s::p::llmd:routing:InferenceGateway$kubernetes:helm.sh/"
        "v4:Chart$kubernetes:rbac.authorization.k8s.io/v1:ClusterRole::gateway-kgateway-controller:kgateway-kgateway-system",
        "gateway-kgateway-controller:kgateway-kgateway-system", False)
    assert rule.resource_check(no_parent, rule.config) == []
    assert verdict("ClusterRoleBinding", {"roleRef": {"kind": "ClusterRole", "name": "cluster-admin"}})
    assert verdict("ClusterRole", {"rules": [{"nonResourceURLs": ["*"], "verbs": ["get"]}]})
    assert verdict("ClusterRole", {"rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                                              "verbs": ["escalate"]}]})
    assert verdict("ClusterRole", {"aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}})
    assert verdict("Role", {"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}) == []
    # Writing roles or bindings is a way to grant oneself more: flagged, unless a named exception says why.
    rbac_writes = {"rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"],
                              "verbs": ["create", "get"]}]}
    assert [m for m in verdict("Role", rbac_writes) if "may create rolebindings" in m]
    assert verdict("Role", {"rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"],
                                       "verbs": ["get", "list", "watch"]}]}) == []
    assert verdict("ClusterRole", rbac_writes, name="kgateway-inference-extension-kgateway-system", parent=chart) == []


def test_only_the_named_exception_may_write_rbac_in_any_stack():
    """Of every role the stacks render, only kgateway 2.1's inference-extension role writes RBAC objects (a named
    exception, with its reason); agentgateway's, cert-manager's and every other do not."""
    from test_stacks import STACKS, rendered

    writers = set()
    for stack in STACKS:
        for role in objects(rendered(stack), "ClusterRole") + objects(rendered(stack), "Role"):
            for rule in role.get("rules") or []:
                if {"create", "update", "patch", "*"} & set(rule.get("verbs") or []) and \
                        {"roles", "clusterroles", "rolebindings", "clusterrolebindings"} & set(rule.get("resources") or []):
                    writers.add(role["metadata"]["name"])
    assert writers == {"kgateway-inference-extension-kgateway-system"}


def test_secret_shapes_do_not_fire_on_names_or_variables():
    from policies.rules.security import _SECRET_FLAG, _SECRET_SHAPES

    def hit(text):
        return bool(_SECRET_FLAG.search(text) or _SECRET_SHAPES.search(text))

    assert not hit("--pool-name risk-classifier-qwen-pool") and not hit("harbor.lan/llm/task-0123456789abcdefghij:1")
    assert not hit("--api-key $VLLM_API_KEY") and not hit("--api-key ${VLLM_API_KEY}") and not hit("--token=$(TOKEN)")
    assert hit("--api-key sk-0123456789abcdefghij") and hit("VLLM_API_KEY=0123456789abcdef python -m x")
    assert hit("--token=abc") and hit("Authorization: Bearer abcdefghijklmnopqrstuvwxyz")


def test_an_open_api_and_a_key_the_simulator_ignores_are_warned(render, homelab, homelab_render):
    assert homelab_render.warnings == []  # the homelab sets its key
    homelab["gateway"] = {"openAccess": True}
    result = render(homelab, {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD})
    assert [w for w in result.warnings if w.startswith("gateway.openAccess: the inference API is open")]
    from test_stacks import stack_config

    sim = stack_config("sim")
    assert render(sim, {}).warnings == []
    assert [w for w in render(sim, {"apiKey": API_KEY}).warnings if "simulator" in w]


@pytest.mark.parametrize("stack", ["homelab", "sim"])
def test_every_endpoint_picker_runs_non_root_read_only_without_capabilities(stack):
    """No pool chart offers a security context: the post-renderer sets it, on GAIE's chart and llm-d-router's."""
    from test_stacks import rendered

    result = rendered(stack)
    epps = [d for d in objects(result, "Deployment") if d["metadata"]["name"].endswith("-pool-epp")]
    assert epps
    for epp in epps:
        pod = epp["spec"]["template"]["spec"]
        assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                          "seccompProfile": {"type": "RuntimeDefault"}}
        [container] = [c for c in pod["containers"] if c["name"] == "epp"]
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                                "capabilities": {"drop": ["ALL"]}}
        assert container["resources"]["requests"] and container["resources"]["limits"]  # GAIE v1.2.1 has no value


def test_the_loader_runs_as_its_own_account_without_an_api_token(homelab_render):
    [job] = objects(homelab_render, "Job")
    pod = job["spec"]["template"]["spec"]
    [account] = [a for a in objects(homelab_render, "ServiceAccount") if a["metadata"]["name"] == pod["serviceAccountName"]]
    assert pod["serviceAccountName"] == "ds-r1-llama-8b-loader" and pod["automountServiceAccountToken"] is False
    assert account["automountServiceAccountToken"] is False
    assert account["metadata"]["namespace"] == job["metadata"]["namespace"]


def test_the_engine_runs_non_root_when_told_the_render_group(render, homelab, homelab_render):
    # The XPU images declare no USER: by default the engine runs as the image's root, and the advisory says so.
    context = decode_pod(homelab_render)["spec"]["containers"][0]["securityContext"]
    assert "runAsUser" not in context and "runAsNonRoot" not in context
    homelab["models"][0]["engine"]["runAs"] = {"user": 1000, "renderGroup": 993}
    result = render(homelab)
    pod = decode_pod(result)["spec"]
    container = pod["containers"][0]
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                                            "runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000}
    assert pod["securityContext"]["supplementalGroups"] == [993]  # the group owning /dev/dri/renderD* on the node
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {"name": "HOME", "value": "/tmp"} in container["env"]
    from test_config import problems

    homelab["models"][0]["engine"]["runAs"] = {"user": 1000, "renderGroup": 0}
    assert "models[0].engine.runAs.renderGroup" in problems(homelab)
    homelab["models"][0]["engine"]["runAs"] = {"user": 1000}
    assert "models[0].engine.runAs.renderGroup" in problems(homelab)
