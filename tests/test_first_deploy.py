"""A first `pulumi up` on stock k3s: what would deploy and then not work is refused or warned about before deploy."""

from __future__ import annotations

import copy

import pytest
from conftest import chart_values, objects, with_gpu_room
from test_config import problems

from components.monitoring import CONTROL_PLANE_RULES, CONTROL_PLANE_SCRAPES

GPU_LABEL = {"intel.feature.node.kubernetes.io/gpu": "true"}
RELEASE = "ds-r1-llama-8b-release"


def monitoring_stack(result) -> set[tuple[str, str]]:
    """(kind, name) of every object kube-prometheus-stack renders."""
    chart = result.one("kubernetes:helm.sh/v4:Chart", "monitoring-kube-prometheus-stack")
    return {(r.inputs["kind"], r.inputs["metadata"]["name"]) for r in result.resources if r.rendered_by == chart.urn}


# kube-prometheus-stack's scrape targets and alert groups for the control-plane components k3s embeds.
CONTROL_PLANE_OBJECTS = {
    ("ServiceMonitor", f"kube-prometheus-stack-kube-{part}") for part in ("controller-manager", "scheduler", "proxy", "etcd")
} | {("PrometheusRule", f"kube-prometheus-stack-{group}") for group in (
    "etcd", "kube-scheduler.rules", "kubernetes-system-controller-manager", "kubernetes-system-kube-proxy",
    "kubernetes-system-scheduler")}


# --- Traefik holds :80/:443 on stock k3s (item 2) --------------------------------------------------------------------


def stock_k3s(homelab):
    homelab["cluster"]["k3s"] = {"traefikDisabled": False}
    return homelab


def test_the_gateway_behind_traefiks_port_is_refused_on_stock_k3s(homelab):
    found = problems(stock_k3s(homelab))  # the homelab serves HTTPS on 443
    assert "k3s' Traefik holds :443" in found["gateway.tls.port"]
    assert "--disable=traefik" in found["gateway.tls.port"] and "NodePort" in found["gateway.tls.port"]


def test_a_plain_http_listener_on_80_is_refused_too(homelab):
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {"plainHttp": True}
    found = problems(stock_k3s(homelab))
    assert "k3s' Traefik holds :80" in found["gateway.port"]


def test_a_tls_listener_from_a_secret_on_443_is_refused_too(homelab):
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {**homelab.get("gateway", {}), "port": 8080, "tls": {"secretName": "gw-cert"}}
    found = problems(stock_k3s(homelab))
    assert ":443" in found["gateway.tls.port"] and "gateway.port" not in found


@pytest.mark.parametrize("change", [
    lambda c: c["gateway"].update(tls={"port": 8443}),
    lambda c: c["gateway"].update(serviceType="NodePort"),
    lambda c: c["cluster"].update(distribution="generic"),
    lambda c: c["cluster"]["k3s"].update(traefikDisabled=True),
])
def test_each_way_out_is_accepted(render, homelab, change):
    homelab.setdefault("gateway", {})
    stock_k3s(homelab)
    change(homelab)
    render(homelab)  # raises ConfigError if refused


def test_the_homelab_acknowledges_traefik_disabled_and_keeps_port_443(homelab_render, homelab):
    assert homelab["cluster"]["distribution"] == "k3s" and homelab["cluster"]["k3s"]["traefikDisabled"] is True
    gateway = objects(homelab_render, "Gateway")[0]
    assert [listener["port"] for listener in gateway["spec"]["listeners"]] == [443]


# --- GPU node placement (item 3) -------------------------------------------------------------------------------------


def test_loader_model_pods_and_exporter_run_on_the_gpu_nodes(homelab_render):
    job = objects(homelab_render, "Job")[0]
    assert job["spec"]["template"]["spec"]["nodeSelector"] == GPU_LABEL
    decode = next(d for d in objects(homelab_render, "Deployment") if d["metadata"]["name"].endswith("-decode"))
    assert decode["spec"]["template"]["spec"]["nodeSelector"] == GPU_LABEL
    exporter = next(d for d in objects(homelab_render, "DaemonSet") if d["metadata"]["name"] == "intel-xpumanager")
    assert exporter["spec"]["template"]["spec"]["nodeSelector"] == GPU_LABEL


@pytest.mark.parametrize("generation", ["v1", "v2"])
def test_an_exporter_without_gpu_nodes_selected_is_refused(homelab, generation):
    """Its claim takes all GPUs of its node: a pod on a GPU-less node stays Pending and pulumi up waits for it."""
    homelab["gpu"]["nodeSelector"] = {}
    homelab.setdefault("monitoring", {})["exporter"] = {"generation": generation}
    assert "allocationMode: All" in problems(homelab)["gpu.nodeSelector"]


def test_without_gpu_nodes_selected_a_node_local_cache_is_warned_about(render, homelab):
    homelab["gpu"]["nodeSelector"] = {}
    homelab["monitoring"] = {**homelab.get("monitoring", {}), "exporter": {"enabled": False}}
    result = render(homelab)
    [warning] = [w for w in result.warnings if "gpu.nodeSelector" in w]
    assert warning.startswith("models[0].cache.accessMode: ReadWriteOnce without gpu.nodeSelector")
    assert "would stay Pending" in warning
    shared = copy.deepcopy(homelab)
    shared["models"][0]["cache"]["accessMode"] = "ReadWriteMany"
    assert not [w for w in render(shared).warnings if "gpu.nodeSelector" in w]


# --- immutable ResourceClaimTemplates (item 4) -----------------------------------------------------------------------


def claim_templates(result) -> dict[str, dict]:
    return {t["metadata"]["name"]: t for t in objects(result, "ResourceClaimTemplate")}


def test_a_changed_gpu_selection_or_count_renames_the_template_and_an_unchanged_config_keeps_it(render, homelab, homelab_render):
    before = claim_templates(homelab_render)
    assert claim_templates(render(copy.deepcopy(homelab))).keys() == before.keys()
    model_template = next(n for n in before if n.startswith("ds-r1-llama-8b-gpu-"))

    def other_card(c):
        c["gpu"]["selection"] = {"model": "A750"}
        with_gpu_room(c)  # the inventory's cards are the selected model

    for change in (other_card,
                   lambda c: c["models"][0].update(gpusPerReplica=2)):
        changed = copy.deepcopy(homelab)
        change(changed)
        after = claim_templates(render(changed))
        assert model_template not in after and any(n.startswith("ds-r1-llama-8b-gpu-") for n in after)
        # The decode pods claim the new template, so they roll onto it.
        values = chart_values(render(changed), RELEASE)
        assert values["accelerator"]["resourceClaimTemplates"]["intel"]["name"] in {
            n.removesuffix("-decode") for n in after}


def test_the_exporters_template_carries_a_hash_of_its_spec(homelab_render):
    [name] = [n for n in claim_templates(homelab_render) if n.startswith("xpum-all-gpus-")]
    assert len(name) == len("xpum-all-gpus-") + 8
    exporter = next(d for d in objects(homelab_render, "DaemonSet") if d["metadata"]["name"] == "intel-xpumanager")
    claims = exporter["spec"]["template"]["spec"]["resourceClaims"]
    assert [c["resourceClaimTemplateName"] for c in claims] == [name]


# --- kube-prometheus-stack on k3s (item 7) ---------------------------------------------------------------------------


def test_on_k3s_the_embedded_control_plane_is_not_scraped_nor_alerted_on(homelab_render):
    assert not monitoring_stack(homelab_render) & CONTROL_PLANE_OBJECTS
    values = chart_values(homelab_render, "monitoring-kube-prometheus-stack")
    assert all(values[part] == {"enabled": False} for part in CONTROL_PLANE_SCRAPES)
    assert values["defaultRules"]["rules"] == {group: False for group in CONTROL_PLANE_RULES}


def test_a_generic_cluster_keeps_the_chart_defaults(render, homelab):
    homelab["cluster"]["distribution"] = "generic"
    assert monitoring_stack(render(homelab)) >= CONTROL_PLANE_OBJECTS


# --- a silent GPU exporter; the exporter image by digest (item 9) ---------------------------------------------------


def alert_rules(result) -> dict[str, dict]:
    rule = next(r for r in objects(result, "PrometheusRule") if r["metadata"]["name"] == "llm-d-alerts")
    return {a["alert"]: a for g in rule["spec"]["groups"] for a in g["rules"]}


@pytest.mark.parametrize("generation, series", [("v1", 'xpum_engine_group_ratio{type="compute"}'),
                                                ("v2", "hw_gpu_utilization_ratio")])
def test_a_missing_gpu_feed_raises_an_alert(render, homelab, generation, series):
    homelab.setdefault("monitoring", {})["exporter"] = {"generation": generation}
    alert = alert_rules(render(homelab))["GpuMetricsAbsent"]
    assert alert["expr"] == f"absent({series})" and alert["for"] == "15m"


def test_no_gpu_alerts_without_an_exporter(render, homelab):
    homelab.setdefault("monitoring", {})["exporter"] = {"enabled": False}
    homelab["gpu"]["nodeSelector"] = {}
    assert "GpuMetricsAbsent" not in alert_rules(render(homelab))


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_the_exporter_image_may_be_pinned_by_digest(render, homelab):
    homelab.setdefault("monitoring", {})["exporter"] = {"image": f"intel/xpumanager:v1.3.4@{DIGEST}"}
    exporter = next(d for d in objects(render(homelab), "DaemonSet") if d["metadata"]["name"] == "intel-xpumanager")
    assert {c["image"] for c in exporter["spec"]["template"]["spec"]["containers"]} == {f"intel/xpumanager:v1.3.4@{DIGEST}"}
    homelab["monitoring"]["exporter"] = {"generation": "v2", "image": f"ghcr.io/intel/xpumanager/xpumd:v2.0.0@{DIGEST}"}
    daemonset = next(d for d in objects(render(homelab), "DaemonSet") if "xpumd" in d["metadata"]["name"])
    assert daemonset["spec"]["template"]["spec"]["containers"][0]["image"] == f"ghcr.io/intel/xpumanager/xpumd:v2.0.0@{DIGEST}"


def test_a_digest_without_a_tag_is_refused_for_the_xpumd_chart(homelab):
    homelab.setdefault("monitoring", {})["exporter"] = {"generation": "v2", "image": f"ghcr.io/intel/xpumanager/xpumd@{DIGEST}"}
    assert "give the tag" in problems(homelab)["monitoring.exporter.image"]
