"""Data is never lost and secrets never leak.

Data: every PersistentVolumeClaim (the model caches, Prometheus' storage) is `protect` + `retainOnDelete`; a model
PVC's URN and name depend only on the model name, so ordinary changes never replace it, and a change Kubernetes cannot
apply in place (storage class, access mode) keeps the URN, so Pulumi's `protect` stops the replacement instead of
deleting the model files. The same holds for Prometheus' PVC and the monitoring settings.

Secrets: the registry token and the Grafana password never appear in plaintext in `resources.json`, the manifests,
the CLI's output or the stack outputs, and they stay secret Outputs through the components.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml
from conftest import PASSWORD, ROOT, TOKEN, objects, second_model
from pulumi.runtime.sync_await import _sync_await

from components.modelkit import ModelKitCache, ModelKitCacheArgs, RegistryAccess
from llmd_stack import render as render_out
from llmd_stack.__main__ import main
from llmd_stack.engine import SECRET, run_program

PVC = "kubernetes:core/v1:PersistentVolumeClaim"
MODEL = "ds-r1-llama-8b"
PROMETHEUS_PVC = "monitoring-prometheus-pvc"
ROBOT = "robot$llm+kitops"
# What must never be readable: the secrets, and the registry credentials as a dockerconfigjson `auth` carries them.
PLAINTEXT = {
    "registry token": TOKEN,
    "Grafana password": PASSWORD,
    "registry auth": base64.b64encode(f"{ROBOT}:{TOKEN}".encode()).decode(),
    "token (base64)": base64.b64encode(TOKEN.encode()).decode(),
}


def model_pvc(result, model: str = MODEL):
    return result.one(PVC, f"{model}-cache-pvc")


def assert_no_plaintext(text: str, where: str, secrets: dict[str, str] = PLAINTEXT) -> None:
    for what, value in secrets.items():
        assert value not in text, f"{what} in plaintext in {where}"


# --- data: protected volumes ----------------------------------------------------------------------------------------


def test_every_persistent_volume_claim_is_protected_and_retained(render, homelab):
    homelab["models"].append(second_model(homelab))
    claims = render(homelab).of_type(PVC)
    assert {c.name for c in claims} >= {f"{MODEL}-cache-pvc", "qwen-7b-cache-pvc", PROMETHEUS_PVC}
    for claim in claims:
        assert claim.protect, f"{claim.urn} is not protected: `pulumi destroy`/a replacement would delete its data"
        assert claim.retain_on_delete, f"{claim.urn} is not retainOnDelete: removing it from the program deletes it"


def test_the_namespaces_that_hold_data_are_protected_and_retained_others_are_not(homelab_render, render):
    """Deleting a namespace deletes the PVCs in it: the serving namespace (model caches) and the monitoring one
    (Prometheus' storage) are kept as the volumes are."""
    namespaces = {r.inputs["metadata"]["name"]: r for r in homelab_render.of_type("kubernetes:core/v1:Namespace")}
    claims = {c.inputs["metadata"]["namespace"] for c in homelab_render.of_type(PVC)}
    assert claims == {"llm-d", "monitoring"}
    for name in claims:
        assert namespaces[name].protect and namespaces[name].retain_on_delete, name
    assert not namespaces["kgateway-system"].protect and not namespaces["kgateway-system"].retain_on_delete
    from conftest import stack_config

    (sim_namespace,) = [r for r in render(stack_config("sim"), {}).of_type("kubernetes:core/v1:Namespace")
                        if r.inputs["metadata"]["name"] == "llm-d"]
    assert not sim_namespace.protect  # the simulator holds no data: its namespace may go


def test_every_crd_the_stack_deploys_outlives_it_and_nothing_else_is_retained_by_the_transform(homelab_render):
    """A CRD's deletion deletes every object of its kind in the cluster: each one, from a chart or a YAML bundle,
    is retained on delete by the charts' transform; the other objects they render are not."""
    crds = homelab_render.of_type("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition")
    bundles = {r.urn: r.name for r in homelab_render.resources if r.program_inputs is not None}
    assert {bundles[c.rendered_by] for c in crds} == {"gateway-gateway-api-crds", "inference-extension-crds-manifests",
                                                       "gateway-kgateway-crds", "monitoring-kube-prometheus-stack",
                                                       "certificate-cert-manager"}
    assert all(c.retain_on_delete for c in crds), [c.name for c in crds if not c.retain_on_delete]
    others = [r for r in homelab_render.resources if r.rendered_by and r.inputs["kind"] != "CustomResourceDefinition"]
    assert others and not [r.name for r in others if r.retain_on_delete]


def test_an_unprotected_data_namespace_or_an_unretained_crd_is_caught(homelab_render):
    from llmd_stack.check import resources_of
    from llmd_stack.config_checks import config_violations
    from policies.rules import evaluate

    result = copy.deepcopy(homelab_render)
    namespace = next(r for r in result.resources if r.type == "kubernetes:core/v1:Namespace"
                     and r.inputs["metadata"]["name"] == "monitoring")
    namespace.protect = False
    found = [(rule.id, v.message) for rule, _, v in evaluate(resources_of(result)) if rule.id == "data-pvc-protected"]
    assert found == [("data-pvc-protected", "namespace 'monitoring' holds PVC 'prometheus-db-prometheus-kube-prometheus-"
                      "stack-prometheus-0' but is not protected: deleting or replacing it deletes the PVC with it")]
    namespace.retain_on_delete = False
    crd = next(r for r in result.resources if r.type.endswith(":CustomResourceDefinition"))
    crd.retain_on_delete = False
    messages = sorted(m for check, _, m in config_violations(result) if check.id == "retained-on-delete")
    assert messages == sorted(["namespace holding a PVC 'monitoring' is not retained on delete: a destroy or a URN change deletes it",
                        f"CRD {crd.inputs['metadata']['name']!r} is not retained on delete: a destroy or a URN change "
                        "deletes it"])


def test_model_pvc_name_and_urn_depend_only_on_the_model_name(render, homelab):
    homelab["models"].append(second_model(homelab))
    result = render(homelab)
    for model in (MODEL, "qwen-7b"):
        claim = model_pvc(result, model)
        assert claim.inputs["metadata"]["name"] == f"{model}-model-cache"
        assert claim.urn.endswith(f"llmd:model:ModelKitCache$kubernetes:core/v1:PersistentVolumeClaim::{model}-cache-pvc")
        assert result.by_urn()[claim.parent].name == f"{model}-cache"


def _tag(c):
    c["models"][0]["modelKit"]["tag"] = "1.1.0"


def _digest(c):
    c["models"][0]["modelKit"] = {"repository": MODEL, "digest": "sha256:" + "0123456789abcdef" * 4}


def _replicas(c):
    c["models"][0]["replicas"] = 4


def _engine_image(c):
    c["models"][0]["engine"]["image"] = "intelanalytics/ipex-llm-serving-xpu:0.8.3-b20"


def _timeouts(c):
    c["models"][0]["route"]["timeouts"] = {"request": "7200s", "backendRequest": "7200s"}


def _scheduling(c):
    c["scheduling"] = {
        "eppReplicas": 2,
        "plugins": [{"type": "queue-scorer"}, {"type": "prefix-cache-scorer", "parameters": {"blockSize": 32}},
                    {"type": "max-score-picker"}],
        "profiles": [{"name": "default", "plugins": [{"pluginRef": "queue-scorer", "weight": 1},
                                                     {"pluginRef": "prefix-cache-scorer", "weight": 5},
                                                     {"pluginRef": "max-score-picker"}]}],
    }


def _gpus(c):
    c["models"][0]["gpusPerReplica"] = 2


def _cosign(c):
    c["loader"] = {"cosign": {"publicKey": "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"}}


def _size(c):
    c["models"][0]["cache"]["size"] = "200Gi"


ORDINARY: dict[str, Callable[[dict], None]] = {
    "modelkit-tag": _tag, "modelkit-digest": _digest, "replicas": _replicas, "engine-image": _engine_image,
    "route-timeouts": _timeouts, "epp-scheduling": _scheduling, "gpus-per-replica": _gpus, "cosign": _cosign,
    "pvc-size-increase": _size,
}


@pytest.mark.parametrize("change", sorted(ORDINARY))
def test_ordinary_changes_keep_the_model_pvc(render, homelab, homelab_render, change):
    ORDINARY[change](homelab)
    before, after = model_pvc(homelab_render), model_pvc(render(homelab))
    assert after.urn == before.urn
    assert after.inputs["metadata"]["name"] == before.inputs["metadata"]["name"] == f"{MODEL}-model-cache"
    assert (after.protect, after.retain_on_delete) == (True, True)
    expected = copy.deepcopy(before.inputs)
    if change == "pvc-size-increase":  # the one PVC field an ordinary change may touch: expanded in place
        expected["spec"]["resources"]["requests"]["storage"] = "200Gi"
    assert after.inputs == expected


@pytest.mark.parametrize(
    "field, value, spec_key",
    [
        ("storageClass", "longhorn", "storageClassName"),
        ("storageClass", None, "storageClassName"),
        ("accessMode", "ReadWriteMany", "accessModes"),
    ],
)
def test_a_change_that_would_replace_the_pvc_keeps_its_urn_so_protect_stops_it(render, homelab, homelab_render, field, value,
                                                                              spec_key):
    """Kubernetes cannot change a PVC's storage class or access modes in place, so Pulumi would replace it. The URN
    stays the same and the PVC is protected: `pulumi up` refuses the replacement instead of deleting the model."""
    homelab["models"][0]["cache"][field] = value
    before, after = model_pvc(homelab_render), model_pvc(render(homelab))
    assert after.inputs["spec"].get(spec_key) != before.inputs["spec"].get(spec_key), "the change did not reach the PVC"
    assert after.urn == before.urn
    assert after.inputs["metadata"]["name"] == before.inputs["metadata"]["name"]
    assert after.protect and after.retain_on_delete


@pytest.mark.parametrize(
    "change",
    [
        {"retention": "30d"},
        {"chartVersion": "88.6.0"},
        {"monitorLabels": {"team": "ml"}},
        {"storageSize": "100Gi"},
    ],
    ids=["retention", "chart-version", "monitor-labels", "size-increase"],
)
def test_ordinary_monitoring_changes_keep_the_prometheus_pvc(render, homelab, homelab_render, change):
    homelab["monitoring"] = {"prometheus": change}
    # (A chart version the cache lacks renders no chart objects: only the program's PVC matters here.)
    before, after = homelab_render.one(PVC, PROMETHEUS_PVC), render(homelab, allow_unrendered=True).one(PVC, PROMETHEUS_PVC)
    assert (before.protect, before.retain_on_delete) == (after.protect, after.retain_on_delete) == (True, True)
    assert after.urn == before.urn
    expected = copy.deepcopy(before.inputs)
    if "storageSize" in change:
        expected["spec"]["resources"]["requests"]["storage"] = change["storageSize"]
    assert after.inputs == expected


def test_grafana_and_models_do_not_touch_the_prometheus_pvc(render, homelab, homelab_render):
    homelab["monitoring"] = {"grafana": False}
    homelab["models"].append(second_model(homelab))
    assert render(homelab).one(PVC, PROMETHEUS_PVC).to_json() == homelab_render.one(PVC, PROMETHEUS_PVC).to_json()


@pytest.mark.parametrize("change", [{"storageClass": "longhorn"}, {"releaseName": "prom"}], ids=["storage-class", "release"])
def test_a_change_that_would_replace_the_prometheus_pvc_keeps_its_urn(render, homelab, homelab_render, change):
    homelab["monitoring"] = {"prometheus": change}
    # (A chart version the cache lacks renders no chart objects: only the program's PVC matters here.)
    before, after = homelab_render.one(PVC, PROMETHEUS_PVC), render(homelab, allow_unrendered=True).one(PVC, PROMETHEUS_PVC)
    assert after.inputs != before.inputs
    assert after.urn == before.urn and after.protect and after.retain_on_delete


def test_a_new_modelkit_version_unpacks_next_to_the_old_one(render, homelab, homelab_render):
    _tag(homelab)
    result = render(homelab)

    def loader(r) -> dict[str, Any]:
        job = r.one("kubernetes:batch/v1:Job", f"{MODEL}-cache-loader").inputs
        pod = job["spec"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
        claim = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)["persistentVolumeClaim"]["claimName"]
        return {"name": job["metadata"]["name"], "path": env["UNPACK_PATH"], "claim": claim, "flags": env["EXTRA_FLAGS"]}

    old, new = loader(homelab_render), loader(result)
    assert (old["path"], new["path"]) == (f"/data/{MODEL}/1.0.0", f"/data/{MODEL}/1.1.0")
    assert old["claim"] == new["claim"] == f"{MODEL}-model-cache"
    assert new["name"] != old["name"], "a finished Job's pod template is immutable: a new version needs a new Job"
    assert "--ignore-existing" in new["flags"]


# --- secrets ------------------------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_resources_json_manifests_or_outputs(render, homelab, tmp_path):
    homelab["models"].append(second_model(homelab))
    result = render(homelab)
    written = render_out.write(result, tmp_path / "out")
    assert len(written) > 1
    for path in written:
        assert_no_plaintext(path.read_text(), path.name)
    assert_no_plaintext(render_out.summary(result), "the render summary")
    assert_no_plaintext(json.dumps(result.outputs), "the stack outputs")
    assert_no_plaintext("\n".join(result.warnings), "the warnings")


def test_secret_objects_carry_only_redacted_values(homelab_render):
    pull = homelab_render.one("kubernetes:core/v1:Secret", f"{MODEL}-cache-pull-secret").inputs
    assert pull["type"] == "kubernetes.io/dockerconfigjson"
    assert pull["stringData"] == {".dockerconfigjson": SECRET}
    for secret in objects(homelab_render, "Secret"):
        for field in ("data", "stringData"):
            for key, value in (secret.get(field) or {}).items():
                assert value == SECRET, f"Secret {secret['metadata']['name']}: {field}.{key} is not marked secret"


def _stack_file_with(secrets: dict[str, str], **overrides: Any) -> str:
    doc = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())
    for key, value in secrets.items():
        doc["config"][f"llmd-homelab:{key}"] = {"secure": value}
    doc["config"].update({f"llmd-homelab:{k}": v for k, v in overrides.items()})
    return yaml.safe_dump(doc)


def test_cli_render_shows_no_secret(tmp_path, capsys):
    """Offline, a `secure:` value stands in for its secret: make the secrets the known plaintext and look for them."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.leak.yaml").write_text(_stack_file_with({"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD}))
    out = tmp_path / "out"
    code = main(["render", "--stack", "leak", "--project-dir", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert_no_plaintext(captured.out + captured.err, "the CLI output")
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert_no_plaintext(path.read_text(), str(path.relative_to(out)))


def test_cli_check_in_a_subprocess_shows_no_secret(tmp_path):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.leak.yaml").write_text(_stack_file_with({"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD}))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "llmd_stack", "check", "--stack", "leak"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a policy finding; either way nothing may leak
    assert "Traceback" not in proc.stderr
    assert_no_plaintext(proc.stdout + proc.stderr, "`check` output")
    for path in (tmp_path / "build" / "leak").rglob("*"):
        if path.is_file():
            assert_no_plaintext(path.read_text(), path.name)


def test_config_errors_do_not_echo_secret_values(tmp_path, capsys):
    """A bad value under a key made secret is reported by key path only (`pulumi up` would print it decrypted)."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    private_host = "Harbor.Private-Host.example"
    text = _stack_file_with({"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD},
                            registry={"host": {"secure": private_host}, "project": "llm", "robotAccount": ROBOT})
    (tmp_path / "Pulumi.bad.yaml").write_text(text.replace("replicas: 2", "replicas: 0"))
    code = main(["render", "--stack", "bad", "--project-dir", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert re.search(r"^Pulumi\.bad\.yaml:\d+:\d+: registry\.host: ", err, re.M), err
    assert re.search(r"^Pulumi\.bad\.yaml:\d+:\d+: models\[0\]\.replicas: ", err, re.M), err
    assert_no_plaintext(err, "the config errors", {**PLAINTEXT, "secret registry host": private_host})
    assert not (tmp_path / "out").exists()


def test_modelkit_cache_keeps_the_token_secret_through_its_outputs(monkeypatch):
    """Under Pulumi's mocks: the pull Secret's stringData is a secret Output; the cache's own outputs are not tainted
    (a secret `model_path` would turn the whole model service values into "[secret]")."""
    created: dict[str, Any] = {}

    class RecordingSecret(k8s.core.v1.Secret):
        def __init__(self, resource_name, *args, **kwargs):
            created["string_data"] = kwargs.get("string_data")
            super().__init__(resource_name, *args, **kwargs)

    monkeypatch.setattr(k8s.core.v1, "Secret", RecordingSecret)
    cache: dict[str, ModelKitCache] = {}

    def program() -> None:
        cache["it"] = ModelKitCache(
            "m-cache",
            ModelKitCacheArgs(
                namespace="llm-d", model="m", modelkit_ref="harbor.homelab.lan/llm/m:1.0.0", version="1.0.0",
                size="10Gi", storage_class=None, access_mode="ReadWriteOnce",
                loader_image="ghcr.io/kitops-ml/kitops-init:v1.7.0",
                registry=RegistryAccess("harbor.homelab.lan", ROBOT, pulumi.Output.secret(TOKEN)),
            ),
        )

    result = run_program(program, project="llmd-homelab", stack="test", config={}, secret_keys=[])
    config_json = created["string_data"][".dockerconfigjson"]
    assert _sync_await(config_json.is_secret()) is True
    assert _sync_await(cache["it"].claim_name.is_secret()) is False
    assert _sync_await(cache["it"].model_path.is_secret()) is False
    registered = result.one("kubernetes:core/v1:Secret", "m-cache-pull-secret")
    assert registered.inputs["stringData"] == {".dockerconfigjson": SECRET}
    assert_no_plaintext(json.dumps([r.to_json() for r in result.resources]), "the component's registrations")
