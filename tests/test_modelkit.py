"""ModelKitCache: protected PVC, real pull secret, a pinned non-root kitops-init Job, versioned unpack folders."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from conftest import PASSWORD, TOKEN, chart_values, model_pvcs, objects, second_model

from components.modelkit import docker_config_json, version_folder

PVC = "kubernetes:core/v1:PersistentVolumeClaim"


def loader_env(result, model="ds-r1-llama-8b") -> dict[str, str]:
    job = next(j for j in objects(result, "Job") if j["metadata"]["labels"]["llm-d.ai/model"] == model)
    return {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_pvc_follows_config_and_survives_destroy_and_replacement(homelab_render):
    [pvc] = model_pvcs(homelab_render)
    assert pvc.protect and pvc.retain_on_delete
    spec = pvc.inputs["spec"]
    assert spec == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "100Gi"}},
        "storageClassName": "local-path",
    }


def test_loader_unpacks_the_modelkit_reference_into_a_version_folder(homelab_render):
    env = loader_env(homelab_render)
    assert env["MODELKIT_REF"] == "harbor.homelab.lan/llm/ds-r1-llama-8b:1.0.0"
    assert env["UNPACK_PATH"] == "/data/ds-r1-llama-8b/1.0.0"
    assert env["UNPACK_FILTER"] == "model"
    assert env["EXTRA_FLAGS"] == "--ignore-existing"


def test_digest_references_and_per_model_projects(render, homelab):
    digest = "sha256:" + "ab" * 32
    homelab["models"][0]["modelKit"] = {"project": "other", "repository": "ds-r1-llama-8b", "digest": digest}
    env = loader_env(render(homelab))
    assert env["MODELKIT_REF"] == f"harbor.homelab.lan/other/ds-r1-llama-8b@{digest}"
    assert env["UNPACK_PATH"] == "/data/ds-r1-llama-8b/" + version_folder(digest)
    assert version_folder(digest) == "sha256-" + "ab" * 6


def test_loader_runs_as_uid_1001_with_an_fsgroup_and_pinned_image(homelab_render):
    job = objects(homelab_render, "Job")[0]
    pod = job["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 1001 and pod["securityContext"]["fsGroup"] == 1001
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["image"] == "ghcr.io/kitops-ml/kitops-init:v1.7.0"
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_pull_secret_is_a_dockerconfigjson_mounted_as_docker_config(homelab_render):
    secret = next(s for s in objects(homelab_render, "Secret") if s["type"] == "kubernetes.io/dockerconfigjson")
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    assert secret["stringData"] == {".dockerconfigjson": "[secret]"}
    job = objects(homelab_render, "Job")[0]
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["registry-auth"]["secret"]["secretName"] == secret["metadata"]["name"]
    assert volumes["registry-auth"]["secret"]["items"] == [{"key": ".dockerconfigjson", "path": "config.json"}]
    assert loader_env(homelab_render)["DOCKER_CONFIG"] == "/home/user/.docker"


def test_docker_config_carries_the_robot_account():
    config = json.loads(docker_config_json("harbor.homelab.lan", "robot$llm+kitops", "tok"))
    entry = config["auths"]["harbor.homelab.lan"]
    assert base64.b64decode(entry["auth"]).decode() == "robot$llm+kitops:tok"


def test_token_never_appears_in_plaintext(homelab_render, tmp_path):
    from llmd_stack import render as render_out

    render_out.write(homelab_render, tmp_path)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert TOKEN not in text and PASSWORD not in text, path
            assert base64.b64encode(f"robot$llm+kitops:{TOKEN}".encode()).decode() not in text, path


def test_new_modelkit_version_keeps_the_pvc_and_unpacks_next_to_the_old_one(render, homelab, homelab_render):
    homelab["models"][0]["modelKit"]["tag"] = "1.1.0"
    updated = render(homelab)
    [old_pvc], [new_pvc] = model_pvcs(homelab_render), model_pvcs(updated)
    assert (old_pvc.urn, old_pvc.inputs) == (new_pvc.urn, new_pvc.inputs)
    old_job, new_job = objects(homelab_render, "Job")[0], objects(updated, "Job")[0]
    assert old_job["metadata"]["name"] != new_job["metadata"]["name"]
    assert loader_env(updated)["UNPACK_PATH"] == "/data/ds-r1-llama-8b/1.1.0"


def test_cosign_public_key_is_mounted_and_passed(render, homelab):
    homelab["loader"] = {"cosign": {"publicKey": "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"}}
    result = render(homelab)
    assert loader_env(result)["COSIGN_KEY"] == "/etc/cosign/cosign.pub"
    key_map = next(c for c in objects(result, "ConfigMap") if c["metadata"]["name"].endswith("-cosign-key"))
    assert key_map["data"]["cosign.pub"].startswith("-----BEGIN PUBLIC KEY-----")


def test_keyless_cosign_needs_identity_and_issuer(homelab):
    from test_config import problems

    homelab["loader"] = {"cosign": {"certIdentity": "me@example.com"}}
    assert "needs both certIdentity and certOidcIssuer" in problems(homelab)["loader.cosign"]


def test_second_model_gets_its_own_pvc_loader_and_secret_without_name_clashes(render, homelab):
    homelab["models"].append(second_model(homelab))
    result = render(homelab)
    assert len(model_pvcs(result)) == 2 and len(objects(result, "Job")) == 2
    keys = [(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
            for r in result.resources if r.is_kubernetes_object for o in [r.inputs]]
    assert len(keys) == len(set(keys))
    assert loader_env(result, "qwen-7b")["MODELKIT_REF"] == "harbor.homelab.lan/llm/qwen-7b:2.0.0"


# --- Harbor with a private CA or plain HTTP (issue 15, item 1) ----------------------------------------------------

CA_PEM = (Path(__file__).parent / "configs" / "registry-ca.pem").read_text()


def loader_pod(result, model="ds-r1-llama-8b") -> dict:
    job = next(j for j in objects(result, "Job") if j["metadata"]["labels"]["llm-d.ai/model"] == model)
    return job["spec"]["template"]["spec"]


def test_a_private_ca_is_mounted_and_added_to_the_system_roots(render, homelab, homelab_render):
    homelab["registry"]["caCert"] = CA_PEM
    result = render(homelab)
    env = loader_env(result)
    # Go reads SSL_CERT_DIR's folders besides its default bundle file, so public roots keep working.
    assert env["SSL_CERT_DIR"] == "/etc/registry-ca" and "SSL_CERT_FILE" not in env
    pod = loader_pod(result)
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["mountPath"] == "/etc/registry-ca")
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    ca_map = next(c for c in objects(result, "ConfigMap") if c["metadata"]["name"] == volume["configMap"]["name"])
    assert ca_map["data"] == {"ca.crt": CA_PEM} and mount["readOnly"] is True
    assert env["EXTRA_FLAGS"] == "--ignore-existing"
    # How the registry is reached is part of the Job's identity: a new pod template needs a new Job.
    assert objects(result, "Job")[0]["metadata"]["name"] != objects(homelab_render, "Job")[0]["metadata"]["name"]


@pytest.mark.parametrize("tls, flags", [("skipVerify", "--ignore-existing --tls-verify=false"),
                                         ("plainHttp", "--ignore-existing --plain-http"),
                                         ("verify", "--ignore-existing")])
def test_registry_tls_maps_to_kits_own_flags(render, homelab, tls, flags):
    homelab["registry"]["tls"] = tls
    env = loader_env(render(homelab))
    assert env["EXTRA_FLAGS"] == flags and "SSL_CERT_DIR" not in env


@pytest.mark.parametrize("ca, message", [
    ("not a certificate", "not a PEM certificate"),
    (CA_PEM.replace("MII", "M!I", 1), "not valid base64"),
    ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "holds a PRIVATE KEY block"),
    (CA_PEM + "trailing words", "outside its PEM blocks"),
    ("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n", "does not hold a DER certificate"),
])
def test_a_bad_ca_is_a_config_error_naming_the_key(homelab, ca, message):
    from test_config import problems

    homelab["registry"]["caCert"] = ca
    assert message in problems(homelab)["registry.caCert"]


def test_contradictory_tls_settings_are_config_errors(homelab):
    from test_config import problems

    homelab["registry"].update(caCert=CA_PEM, tls="plainHttp")
    assert "is not used with registry.tls 'plainHttp'" in problems(homelab)["registry.caCert"]
    homelab["registry"] = {**homelab["registry"], "tls": "skipVerify"}
    del homelab["registry"]["caCert"]
    homelab["loader"] = {"cosign": {"publicKey": "-----BEGIN PUBLIC KEY-----\nabc\n-----END PUBLIC KEY-----"}}
    assert "--allow-insecure-registry" in problems(homelab)["registry.tls"]


# --- where the ModelKit lands (issue 15, item 5) -------------------------------------------------------------------


def test_the_kitfile_model_path_joins_the_unpack_folder(render, homelab):
    from test_modelservice import RELEASE, command_line

    homelab["models"][0]["modelKit"]["modelPath"] = "models/llama/"
    result = render(homelab)
    assert loader_env(result)["UNPACK_PATH"] == "/data/ds-r1-llama-8b/1.0.0"  # kit unpacks the whole folder
    values = chart_values(result, RELEASE)
    assert values["modelArtifacts"]["uri"].endswith("/ds-r1-llama-8b/1.0.0/models/llama")
    assert "--model /data/ds-r1-llama-8b/1.0.0/models/llama" in command_line(values)


@pytest.mark.parametrize("path", ["../etc", "/abs", "a//b", "a/../b"])
def test_a_model_path_that_leaves_the_folder_is_refused(homelab, path):
    from test_config import problems

    homelab["models"][0]["modelKit"]["modelPath"] = path
    assert "models[0].modelKit.modelPath" in problems(homelab)
