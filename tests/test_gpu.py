"""IntelGpuDra: privileged namespace, pinned driver chart, an explicit working mode, typed selection as CEL."""

from __future__ import annotations

from conftest import chart_values, objects, with_gpu_room

from components.gpu import DEVICE_CLASS, GpuSelector


def test_driver_chart_is_pinned_in_a_privileged_namespace(homelab_render):
    chart = homelab_render.one("kubernetes:helm.sh/v4:Chart", "gpu-driver").declared
    assert chart["chart"] == ".charts/intel-gpu-resource-driver-chart-0.11.0.tgz"
    assert chart["version"] == "0.11.0"
    namespace = next(n for n in objects(homelab_render, "Namespace") if n["metadata"]["name"] == chart["namespace"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_driver_renders_the_device_class_and_a_privileged_plugin_in_its_namespace(homelab_render):
    """What the cluster gets from the chart: the DeviceClass the claims name, and the kubelet plugin DaemonSet."""
    (device_class,) = [d for d in objects(homelab_render, "DeviceClass") if d["metadata"]["name"] == DEVICE_CLASS]
    assert "metadata" in device_class and "namespace" not in device_class["metadata"]  # cluster-scoped
    (plugin,) = objects(homelab_render, "DaemonSet")[:1]
    assert plugin["metadata"]["namespace"] == "intel-gpu-resource-driver"
    container = plugin["spec"]["template"]["spec"]["containers"][0]
    assert container["securityContext"]["privileged"] is True
    assert container["image"].endswith(":v0.11.0")
    # Health monitoring off: the plugin gets no xpumd socket to wait for.
    assert not any("xpumd" in str(v) for v in plugin["spec"]["template"]["spec"].get("volumes", []))


def test_default_mode_turns_health_monitoring_off_with_a_privileged_plugin(homelab_render):
    values = chart_values(homelab_render, "gpu-driver")
    assert values["kubeletPlugin"] == {"privileged": True, "healthMonitoring": {"enabled": False},
                                       "nodeSelector": {"intel.feature.node.kubernetes.io/gpu": "true"}}
    assert values["xpumdEnabled"] is False


def test_xpumd_mode_enables_xpumd_and_labels_the_namespace_for_admin_access(render, homelab):
    homelab["gpu"]["driver"] = {"healthMonitoring": "xpumd"}
    result = render(homelab)
    values = chart_values(result, "gpu-driver")
    assert values["xpumdEnabled"] is True and values["kubeletPlugin"]["healthMonitoring"]["enabled"] is True
    namespace = next(n for n in objects(result, "Namespace") if n["metadata"]["name"] == "intel-gpu-resource-driver")
    assert namespace["metadata"]["labels"]["resource.kubernetes.io/admin-access"] == "true"


def test_selection_becomes_cel():
    assert GpuSelector("A770").cel() == ['device.attributes["gpu.intel.com"].model == "A770"']
    assert GpuSelector("A770", "16Gi").cel()[1] == (
        'device.capacity["gpu.intel.com"].memory.compareTo(quantity("16Gi")) >= 0'
    )


def test_claim_template_uses_the_driver_class_and_typed_selection(render, homelab):
    homelab["gpu"]["selection"] = {"model": "A750", "minMemory": "8Gi"}
    with_gpu_room(homelab)  # the inventory's cards are the selected model
    claim = chart_values(render(homelab), "ds-r1-llama-8b-release")["accelerator"]["resourceClaimTemplates"]["intel"]
    assert claim["class"] == DEVICE_CLASS
    assert [s["cel"]["expression"] for s in claim["selectors"]] == GpuSelector("A750", "8Gi").cel()


def test_gpu_model_that_would_break_cel_is_a_config_error(homelab):
    from test_config import problems

    homelab["gpu"]["selection"] = {"model": 'A770" || true || "'}
    assert "gpu.selection.model" in problems(homelab)


def test_no_driver_without_gpus(render, homelab):
    homelab["gpu"] = {"enabled": False}
    homelab["models"][0]["engine"] = {"kind": "sim"}
    result = render(homelab)
    assert not [r for r in result.resources if r.type == "llmd:gpu:IntelGpuDra"]
