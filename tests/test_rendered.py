"""The objects the cluster gets, charts included: what `helm template` with our values produces, wired together."""

from __future__ import annotations

import pytest
from conftest import objects

from components.gpu import DEVICE_CLASS
from test_stacks import STACKS, rendered

WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job")


def pods(result) -> list[tuple[dict, dict]]:
    """(workload, pod template) of every workload in the render."""
    return [(w, w["spec"]["template"]) for kind in WORKLOADS for w in objects(result, kind)]


def by_name(result, kind: str, name: str) -> dict:
    (found,) = [o for o in objects(result, kind) if o["metadata"]["name"] == name]
    return found


def test_decode_pods_claim_an_a770_through_the_drivers_device_class(homelab_render):
    decode = by_name(homelab_render, "Deployment", "ds-r1-llama-8b-decode")
    spec = decode["spec"]["template"]["spec"]
    (claim,) = spec["resourceClaims"]
    template = by_name(homelab_render, "ResourceClaimTemplate", claim["resourceClaimTemplateName"])
    assert template["metadata"]["namespace"] == decode["metadata"]["namespace"]
    (request,) = template["spec"]["spec"]["devices"]["requests"]
    assert request["exactly"]["deviceClassName"] == DEVICE_CLASS
    assert request["exactly"]["count"] == 1
    assert request["exactly"]["selectors"] == [{"cel": {"expression": 'device.attributes["gpu.intel.com"].model == "A770"'}}]
    # The vLLM container uses the pod's claim, and the class it names is one the driver chart renders.
    assert spec["containers"][0]["resources"]["claims"] == [{"name": claim["name"]}]
    assert DEVICE_CLASS in {d["metadata"]["name"] for d in objects(homelab_render, "DeviceClass")}


def test_decode_pods_mount_the_loaders_pvc_at_the_model_path(homelab_render):
    spec = by_name(homelab_render, "Deployment", "ds-r1-llama-8b-decode")["spec"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if "persistentVolumeClaim" in v)
    pvc = by_name(homelab_render, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert pvc["metadata"]["labels"]["app.kubernetes.io/component"] == "model-cache"
    mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == volume["name"])
    job = next(j for j in objects(homelab_render, "Job"))
    unpack = next(e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"] if e["name"] == "UNPACK_PATH")
    assert f"--model {mount['mountPath']}/" in spec["containers"][0]["args"][0]
    assert unpack.startswith("/") and unpack.split("/", 2)[2] in spec["containers"][0]["args"][0]


def operator_made(result, namespace: str, labels: dict[str, str]) -> bool:
    """Prometheus and Alertmanager pods: prometheus-operator makes them for the custom resources of the render and
    labels them `app.kubernetes.io/name: prometheus|alertmanager`."""
    kind = {"prometheus": "Prometheus", "alertmanager": "Alertmanager"}.get(labels.get("app.kubernetes.io/name", ""))
    return kind is not None and set(labels) == {"app.kubernetes.io/name"} and any(
        o["metadata"]["namespace"] == namespace for o in objects(result, kind))


@pytest.mark.parametrize("stack", STACKS)
def test_every_network_policy_selects_pods_that_exist_with_their_real_labels(stack):
    result = rendered(stack)
    workloads = pods(result)
    policies = objects(result, "NetworkPolicy")
    assert policies
    for policy in policies:
        namespace = policy["metadata"]["namespace"]
        selector = policy["spec"]["podSelector"].get("matchLabels", {})
        gateway = selector.get("gateway.networking.k8s.io/gateway-name")
        if gateway is not None:
            # The gateway's proxy pods: the controller creates them at runtime for a Gateway of the render.
            assert gateway in {g["metadata"]["name"] for g in objects(result, "Gateway")}
        elif selector and not operator_made(result, namespace, selector):
            selected = [w for w, pod in workloads if w["metadata"]["namespace"] == namespace
                        and selector.items() <= pod["metadata"]["labels"].items()]
            assert selected, f"NetworkPolicy {policy['metadata']['name']} selects no rendered pod: {selector}"
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                labels = peer.get("podSelector", {}).get("matchLabels")
                if not labels or "namespaceSelector" in peer:
                    continue  # a peer in another namespace (Prometheus)
                gateway = labels.get("gateway.networking.k8s.io/gateway-name")
                if gateway is not None:
                    # The gateway's proxy pods: the controller creates them at runtime for a Gateway of the render.
                    assert gateway in {g["metadata"]["name"] for g in objects(result, "Gateway")}
                    continue
                if operator_made(result, namespace, labels):
                    continue
                assert [w for w, pod in workloads if w["metadata"]["namespace"] == namespace
                        and labels.items() <= pod["metadata"]["labels"].items()], (policy["metadata"]["name"], labels)


@pytest.mark.parametrize("stack", STACKS)
def test_model_server_and_loader_containers_have_requests_and_limits(stack):
    """The containers the pack cares about (model servers, loaders), as rendered."""
    result = rendered(stack)
    checked = 0
    for workload, pod in pods(result):
        labels = pod["metadata"].get("labels", {})
        if "llm-d.ai/role" not in labels and workload["metadata"].get("labels", {}).get(
                "app.kubernetes.io/component") != "model-loader":
            continue
        for container in pod["spec"]["containers"]:
            checked += 1
            resources = container.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), (workload["metadata"]["name"], container["name"])
    assert checked >= 1


@pytest.mark.parametrize("stack", STACKS)
def test_every_rendered_object_is_named_and_namespaced_as_applied(stack):
    result = rendered(stack)
    children = [r for r in result.resources if r.rendered_by]
    assert children
    for child in children:
        metadata = child.inputs["metadata"]
        parent = next(r for r in result.resources if r.urn == child.rendered_by)
        expected = f"{metadata['namespace']}/{metadata['name']}" if "namespace" in metadata else metadata["name"]
        assert child.name == f"{parent.name}:{expected}"
        assert child.parent == parent.urn and child.custom


def test_the_epp_reads_the_plugin_config_the_program_generated(homelab_render):
    import yaml

    epp = by_name(homelab_render, "Deployment", "ds-r1-llama-8b-pool-epp")
    container = epp["spec"]["template"]["spec"]["containers"][0]
    path = container["args"][container["args"].index("--config-file") + 1]
    mount = next(m for m in container["volumeMounts"] if path.startswith(m["mountPath"]))
    volume = next(v for v in epp["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    config = by_name(homelab_render, "ConfigMap", volume["configMap"]["name"])
    plugins = yaml.safe_load(config["data"][path.rsplit("/", 1)[1]])
    assert {p["type"] for p in plugins["plugins"]} >= {"queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer"}
