"""Monitoring: three scrape targets wired to the rendered pods and services, alerts and a dashboard whose metric
names come from the chosen exporter generation and serving engine, installed or existing Prometheus."""

from __future__ import annotations

import json
import re

import pytest
from conftest import chart_values, declared_objects, objects

from components.dashboard import expressions
from policies.rules.metric_names import EPP_METRICS, KUBE_METRICS, VLLM_METRICS, XPUM_METRICS, known_metric

MODEL, POOL = "ds-r1-llama-8b-release", "ds-r1-llama-8b-pool-release"
_KEYWORDS = {"by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """Series names in a PromQL expression: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end():].lstrip()[:1]
        if following != "(" and match.group() not in _KEYWORDS:
            names.add(match.group())
    return names


def rules(result) -> list[dict]:
    """The program's alert rules (kube-prometheus-stack renders rules of its own)."""
    rule = next(o for o in objects(result, "PrometheusRule") if o["metadata"]["name"] == "llm-d-alerts")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def board(result) -> dict:
    config_map = next(c for c in objects(result, "ConfigMap") if c["metadata"]["name"] == "llm-d-serving-dashboard")
    return json.loads(config_map["data"]["llm-d-serving.json"])


def used_names(result) -> set[str]:
    return {n for r in rules(result) for n in metric_names(r["expr"])} | {n for e in expressions(board(result)) for n in metric_names(e)}


def by_kind_name(result, kind: str, name: str) -> dict:
    return next(o for o in objects(result, kind) if o["metadata"]["name"] == name)


def test_metric_name_extraction():
    assert metric_names('max by (node, dev_file) (xpum_temperature_celsius{location="gpu"}) > 90') == {"xpum_temperature_celsius"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(vllm:ttft_bucket{a=~\"b\"}[5m])))") == {"vllm:ttft_bucket"}


def test_vllm_pods_are_scraped_by_a_pod_monitor_matching_their_labels_and_port(homelab_render):
    monitor = by_kind_name(homelab_render, "PodMonitor", "ds-r1-llama-8b-vllm")
    values = chart_values(homelab_render, MODEL)
    pod_labels = {**values["modelArtifacts"]["labels"], "llm-d.ai/role": "decode"}
    assert monitor["spec"]["selector"]["matchLabels"] == pod_labels
    port_names = [p["name"] for p in values["decode"]["containers"][0]["ports"]]
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] in port_names
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["llm-d"]}


def test_epp_is_scraped_without_a_token_where_the_epp_serves_metrics_openly(homelab_render):
    """inferencepool v1.2.1 renders --metrics-endpoint-auth=false (it makes no monitor itself): no long-lived token,
    no cluster-wide /metrics grant, no bearer token sent over plain HTTP."""
    pool_release = homelab_render.one("kubernetes:helm.sh/v4:Chart", POOL).declared["name"]
    monitor = by_kind_name(homelab_render, "ServiceMonitor", "ds-r1-llama-8b-epp")
    assert monitor["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": f"{pool_release}-epp"}
    endpoint = monitor["spec"]["endpoints"][0]
    assert endpoint == {"port": "http-metrics", "path": "/metrics", "interval": "15s"}
    # The monitor selects the EPP Service the chart renders, by its real labels and port name.
    service = by_kind_name(homelab_render, "Service", f"{pool_release}-epp")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "http-metrics" in [p["name"] for p in service["spec"]["ports"]]
    epp = by_kind_name(homelab_render, "Deployment", f"{pool_release}-epp")
    assert "--metrics-endpoint-auth=false" in epp["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [s for s in objects(homelab_render, "Secret") if s.get("type") == "kubernetes.io/service-account-token"]
    # (Prometheus' own ClusterRole, from kube-prometheus-stack, may get /metrics: it scrapes the kubelets.)
    assert not [r for r in declared_objects(homelab_render, "ClusterRole")
                if any("/metrics" in (rule.get("nonResourceURLs") or []) for rule in r.get("rules") or [])]


def test_where_the_epp_checks_a_token_a_dedicated_scraper_account_holds_it(render, homelab):
    """Chart v1.1.0 never reads its own --metrics-endpoint-auth=false (guard inferencepool-own-flags): the EPP
    checks a token, so the monitor sends one, of an account that may only `get /metrics`."""
    homelab["scheduling"] = {"chartVersion": "v1.1.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.1.0"}
    result = render(homelab)
    pool_release = result.one("kubernetes:helm.sh/v4:Chart", POOL).declared["name"]
    endpoint = by_kind_name(result, "ServiceMonitor", "ds-r1-llama-8b-epp")["spec"]["endpoints"][0]
    token = by_kind_name(result, "Secret", endpoint["authorization"]["credentials"]["name"])
    assert token["type"] == "kubernetes.io/service-account-token" and token["metadata"]["namespace"] == "llm-d"
    scraper = token["metadata"]["annotations"]["kubernetes.io/service-account.name"]
    assert scraper == f"{pool_release}-metrics-scraper" != f"{pool_release}-epp"
    assert by_kind_name(result, "ServiceAccount", scraper)["automountServiceAccountToken"] is False
    binding = by_kind_name(result, "ClusterRoleBinding", f"llm-d-{pool_release}-metrics-reader")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": scraper, "namespace": "llm-d"}]
    role = by_kind_name(result, "ClusterRole", binding["roleRef"]["name"])
    assert role["rules"] == [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]


def test_gpu_exporter_service_and_monitor_match_the_daemonset(homelab_render):
    daemonset = by_kind_name(homelab_render, "DaemonSet", "intel-xpumanager")
    service = by_kind_name(homelab_render, "Service", "intel-xpumanager")
    monitor = by_kind_name(homelab_render, "ServiceMonitor", "intel-xpumanager")
    pod_labels = daemonset["spec"]["template"]["metadata"]["labels"]
    assert all(pod_labels.get(k) == v for k, v in service["spec"]["selector"].items())
    assert all(service["metadata"]["labels"].get(k) == v for k, v in monitor["spec"]["selector"]["matchLabels"].items())
    container_ports = [p["name"] for c in daemonset["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])]
    assert service["spec"]["ports"][0]["targetPort"] in container_ports
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_every_monitor_is_selected_by_the_installed_prometheus(homelab_render):
    """What the rendered Prometheus selects (its selectors, as kube-prometheus-stack renders them), not a label the
    program guesses."""
    (prometheus,) = objects(homelab_render, "Prometheus")
    for kind, field in (("PodMonitor", "podMonitor"), ("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "rule")):
        assert prometheus["spec"][f"{field}NamespaceSelector"] == {}  # every namespace
        wanted = prometheus["spec"][f"{field}Selector"]["matchLabels"]
        for monitor in objects(homelab_render, kind):
            assert wanted.items() <= monitor["metadata"]["labels"].items(), (kind, monitor["metadata"]["name"])


def test_exporter_gets_gpus_through_dra_admin_access_without_privileges(homelab_render):
    daemonset = by_kind_name(homelab_render, "DaemonSet", "intel-xpumanager")
    spec = daemonset["spec"]["template"]["spec"]
    assert "hostNetwork" not in spec
    # No host path: XPU Manager maps GPUs to pods only for the device-plugin resource, never for DRA claims.
    assert [v for v in spec["volumes"] if "hostPath" in v] == []
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"]:
        assert container["securityContext"].get("privileged") is not True
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert set(container["securityContext"]["capabilities"].get("add", [])) <= {"SYS_ADMIN"}
        assert container["image"] == "intel/xpumanager:v1.3.4"
    template = by_kind_name(homelab_render, "ResourceClaimTemplate", spec["resourceClaims"][0]["resourceClaimTemplateName"])
    request = template["spec"]["spec"]["devices"]["requests"][0]["exactly"]
    assert request == {"deviceClassName": "gpu.intel.com", "allocationMode": "All", "adminAccess": True}
    namespace = by_kind_name(homelab_render, "Namespace", "intel-xpu-manager")
    assert namespace["metadata"]["labels"]["resource.kubernetes.io/admin-access"] == "true"


def test_required_alerts_exist(homelab_render):
    names = {r["alert"] for r in rules(homelab_render)}
    assert names >= {"GpuTemperatureHigh", "GpuPowerHigh", "ModelServerDown", "RequestQueueBuildingUp",
                     "KvCacheSaturated", "EppNoReadyEndpoints", "ModelLoaderFailed"}


def test_dashboard_is_generated_and_provisioned_through_the_sidecar_label(homelab_render):
    config_map = next(c for c in objects(homelab_render, "ConfigMap") if c["metadata"]["name"] == "llm-d-serving-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    titles = {p["title"] for p in board(homelab_render)["panels"]}
    assert titles >= {"Request rate", "Time to first token (p95)", "Inter-token latency (p95)", "Queue depth",
                      "KV cache use", "Prefix-cache hit rate", "GPU utilisation", "GPU memory used", "GPU temperature"}
    # Grafana's dashboard sidecar, as the chart renders it, watches ConfigMaps with that label.
    grafana = by_kind_name(homelab_render, "Deployment", "kube-prometheus-stack-grafana")
    sidecar = next(c for c in grafana["spec"]["template"]["spec"]["containers"] if c["name"] == "grafana-sc-dashboard")
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert env["LABEL"] == "grafana_dashboard" and env["LABEL_VALUE"] == "1" and env["RESOURCE"] == "configmap"
    assert env["NAMESPACE"] == config_map["metadata"]["namespace"]


@pytest.mark.parametrize("exporter, engine, vllm_gen", [
    ("v1", {"kind": "ipex-llm"}, "v0"),
    ("v2", {"kind": "ipex-llm"}, "v0"),
    ("v1", {"kind": "vllm", "image": "intel/vllm:0.12.0-xpu"}, "v1"),
    ("v2", {"kind": "vllm", "image": "intel/vllm:0.12.0-xpu"}, "v1"),
])
def test_every_metric_name_belongs_to_the_chosen_generations(render, homelab, exporter, engine, vllm_gen):
    homelab["monitoring"] = {"exporter": {"generation": exporter}}
    homelab["models"][0]["engine"] = engine
    names = used_names(render(homelab))
    allowed = VLLM_METRICS[vllm_gen] | XPUM_METRICS[exporter] | EPP_METRICS | KUBE_METRICS
    assert names and all(known_metric(n, allowed) for n in names), sorted(n for n in names if not known_metric(n, allowed))
    other_exporter = XPUM_METRICS["v2" if exporter == "v1" else "v1"]
    assert not any(known_metric(n, other_exporter) for n in names)
    other_engine = VLLM_METRICS["v1" if vllm_gen == "v0" else "v0"] - VLLM_METRICS[vllm_gen]
    assert not any(known_metric(n, other_engine) for n in names)


def test_exporter_v2_uses_the_xpumd_chart_with_the_prometheus_pipeline(render, homelab):
    homelab["monitoring"] = {"exporter": {"generation": "v2"}}
    result = render(homelab)
    values = result.one("kubernetes:helm.sh/v4:Chart", "monitoring-xpumd").declared["values"]
    assert values["gpuAccess"] == "dra" and values["image"]["tag"] == "v2.0.0"
    assert "prometheus" in values["config"]["service"]["pipelines"]["metrics"]["exporters"]
    assert values["prometheus"] == {"monitor": True, "release": "kube-prometheus-stack"}
    # What the chart renders: the xpumd DaemonSet claiming GPUs through DRA, and a monitor Prometheus selects.
    assert not [d for d in objects(result, "DaemonSet") if d["metadata"]["name"] == "intel-xpumanager"]
    daemonset = by_kind_name(result, "DaemonSet", "xpumd")
    spec = daemonset["spec"]["template"]["spec"]
    assert [c["image"] for c in spec["containers"]] == ["ghcr.io/intel/xpumanager/xpumd:v2.0.0"]
    template = by_kind_name(result, "ResourceClaimTemplate", spec["resourceClaims"][0]["resourceClaimTemplateName"])
    assert template["spec"]["spec"]["devices"]["requests"][0]["exactly"]["deviceClassName"] == "gpu.intel.com"
    assert by_kind_name(result, "ServiceMonitor", "xpumd")["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_prometheus_storage_and_retention_from_config(render, homelab):
    homelab["monitoring"] = {"prometheus": {"retention": "30d", "storageSize": "200Gi", "storageClass": "longhorn"}}
    result = render(homelab)
    (prometheus,) = objects(result, "Prometheus")
    assert prometheus["spec"]["retention"] == "30d"
    template = prometheus["spec"]["storage"]["volumeClaimTemplate"]
    assert template["spec"]["resources"]["requests"]["storage"] == "200Gi"
    pvc = next(r for r in result.of_type("kubernetes:core/v1:PersistentVolumeClaim")
               if r.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "prometheus-storage")
    assert pvc.protect and pvc.retain_on_delete
    # The operator's StatefulSet `prometheus-<Prometheus name>` adopts the claim by name: <template>-<statefulset>-0.
    statefulset = f"prometheus-{prometheus['metadata']['name']}"
    assert pvc.inputs["metadata"]["name"] == f"{template['metadata']['name']}-{statefulset}-0"
    assert pvc.inputs["spec"]["storageClassName"] == "longhorn"


def test_grafana_password_comes_from_a_secret(homelab_render):
    grafana = by_kind_name(homelab_render, "Deployment", "kube-prometheus-stack-grafana")
    container = next(c for c in grafana["spec"]["template"]["spec"]["containers"] if c["name"] == "grafana")
    env = {e["name"]: e for e in container["env"]}
    reference = env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"]
    secret = by_kind_name(homelab_render, "Secret", reference["name"])
    assert secret["stringData"][reference["key"]] == "[secret]"
    # The chart makes no Secret of its own holding a generated password.
    assert not [s for s in objects(homelab_render, "Secret") if s["metadata"]["name"] == "kube-prometheus-stack-grafana"]


def test_existing_prometheus_installs_nothing_and_labels_monitors_for_it(render, homelab):
    homelab["monitoring"] = {"prometheus": {"mode": "existing", "namespace": "observability",
                                            "monitorLabels": {"prometheus": "main"}}}
    result = render(homelab, {"registryToken": "t", "apiKey": "k"})
    assert not [c for c in result.of_type("kubernetes:helm.sh/v4:Chart") if "prometheus" in c.name]
    assert not [r for r in result.of_type("kubernetes:core/v1:PersistentVolumeClaim")
                if r.inputs["metadata"]["labels"]["app.kubernetes.io/component"] == "prometheus-storage"]
    for kind in ("PodMonitor", "ServiceMonitor", "PrometheusRule"):
        for monitor in objects(result, kind):
            assert monitor["metadata"]["labels"]["prometheus"] == "main"
    assert by_kind_name(result, "PrometheusRule", "llm-d-alerts")["metadata"]["namespace"] == "observability"


def test_no_exporter_without_gpus_and_nothing_without_monitoring(render, homelab):
    homelab["gpu"] = {"enabled": False}
    homelab["models"][0]["engine"] = {"kind": "sim"}
    del homelab["models"][0]["modelKit"]
    result = render(homelab)
    assert not [r for r in result.resources if "xpum" in r.name]
    assert {r["alert"] for r in rules(result)}.isdisjoint({"GpuTemperatureHigh", "ModelLoaderFailed"})
    homelab["monitoring"] = {"enabled": False}
    assert not render(homelab, {}).of_type("llmd:monitoring:Monitoring")


@pytest.mark.parametrize("monitoring, key", [
    ({"prometheus": {"retention": "15 days"}}, "monitoring.prometheus.retention"),
    ({"prometheus": {"retention": "1.5d"}}, "monitoring.prometheus.retention"),
    ({"exporter": {"generation": "v3"}}, "monitoring.exporter.generation"),
    ({"prometheus": {"mode": "managed"}}, "monitoring.prometheus.mode"),
])
def test_bad_monitoring_config_names_the_key(homelab, monitoring, key):
    from test_config import problems

    homelab["monitoring"] = monitoring
    assert key in problems(homelab)


def test_exporter_v2_with_an_existing_prometheus_needs_a_release_label(homelab):
    from test_config import problems

    homelab["monitoring"] = {"exporter": {"generation": "v2"},
                             "prometheus": {"mode": "existing", "monitorLabels": {"prometheus": "main"}}}
    assert "`release`" in problems(homelab)["monitoring.prometheus.monitorLabels"]


def test_exporter_runs_on_the_gpu_nodes(render, homelab):
    homelab["gpu"] = {"nodeSelector": {"intel.feature.node.kubernetes.io/gpu": "true"}}
    result = render(homelab)
    spec = by_kind_name(result, "DaemonSet", "intel-xpumanager")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"intel.feature.node.kubernetes.io/gpu": "true"}
    homelab["monitoring"] = {"exporter": {"generation": "v2"}}
    spec = by_kind_name(render(homelab), "DaemonSet", "xpumd")["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"intel.feature.node.kubernetes.io/gpu": "true"}
