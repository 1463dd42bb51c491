"""The offline CLI as a user runs it: `python -m llmd_stack render|check --stack NAME`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TEST_CACHE

SECURE = {"secure": "v1:ciphertext-nobody-can-read"}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "llmd_stack", *args], cwd=cwd, env=env, capture_output=True, text=True)


def project_with_stack(tmp_path: Path, name: str, config: dict) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump({"config": config}))
    return tmp_path


def homelab_stack_file() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())["config"]


def test_render_writes_resources_and_manifests(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("render", "--stack", "homelab", "--out", str(out), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "resources.json").read_text())
    assert (doc["project"], doc["stack"]) == ("llmd-homelab", "homelab")
    first = doc["resources"][0]
    assert set(first) >= {"urn", "type", "name", "parent", "dependsOn", "protect", "retainOnDelete", "inputs"}
    manifests = sorted((out / "manifests").glob("*.yaml"))
    assert manifests, "no manifest written"
    for path in manifests:
        obj = yaml.safe_load(path.read_text())
        assert obj["apiVersion"] and obj["kind"] and obj["metadata"]["name"], path.name
    assert "resources" in proc.stdout and "llmd-homelab/homelab" in proc.stdout


def test_render_is_byte_identical_across_runs_and_working_directories(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    assert run_cli("render", "--stack", "homelab", "--out", str(first), cwd=ROOT).returncode == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = run_cli("render", "--stack", "homelab", "--out", str(second), "--project-dir", str(ROOT), cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    files_a = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel


def test_bad_config_exits_2_naming_every_key_and_writes_nothing(tmp_path):
    config = homelab_stack_file()
    config["llmd-homelab:cluster"]["namepsace"] = "typo"
    config["llmd-homelab:models"][0]["gpusPerReplica"] = "two"
    config["llmd-homelab:models"][0]["replicas"] = 0
    project = project_with_stack(tmp_path, "bad", config)
    proc = run_cli("render", "--stack", "bad", cwd=project)
    assert proc.returncode == 2
    # Each problem at the line of its key (the file here is written by yaml.safe_dump: keys sorted).
    lines = [re.sub(r"^Pulumi\.bad\.yaml:\d+:\d+: ", "Pulumi.bad.yaml: ", line) for line in proc.stderr.strip().splitlines()]
    assert "Pulumi.bad.yaml: cluster.namepsace: unknown key (did you mean 'namespace'?)" in lines
    assert "Pulumi.bad.yaml: models[0].replicas: must be >= 1, got 0" in lines
    assert any(line.startswith("Pulumi.bad.yaml: models[0].gpusPerReplica: must be a whole number") for line in lines)
    assert re.search(r"^Pulumi\.bad\.yaml:\d+:5: models\[0\]\.replicas: ", proc.stderr, re.M)
    assert "Traceback" not in proc.stderr
    assert not (project / "build").exists()


def test_secure_values_render_without_a_passphrase_and_stay_redacted(tmp_path):
    config = homelab_stack_file()
    config["llmd-homelab:registryToken"] = SECURE
    project = project_with_stack(tmp_path, "enc", config)
    proc = run_cli("render", "--stack", "enc", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "ciphertext-nobody-can-read" not in (project / "build/enc/resources.json").read_text()


def test_the_committed_stack_files_hold_no_secret_values():
    """The Pulumi CLI decrypts every `secure:` value before the program runs: a value nobody can decrypt stops every
    preview. The stacks' deployers set their own secrets; the committed files carry none."""
    for path in ROOT.glob("Pulumi.*.yaml"):
        assert "secure:" not in path.read_text(), path.name


def test_secrets_a_stack_file_does_not_set_render_with_stand_ins_and_are_listed_with_their_commands(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("check", "--stack", "homelab", "--out", str(out), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("secrets a deploy needs: "))
    assert lines[start].startswith("secrets a deploy needs: registryToken, grafanaAdminPassword, apiKey; not set in "
                                   "Pulumi.homelab.yaml, so rendered with offline stand-ins")
    assert lines[start + 1:start + 4] == [
        "  pulumi config set --secret registryToken '<Harbor robot account token>' --stack homelab",
        "  pulumi config set --secret grafanaAdminPassword '<password>' --stack homelab",
        '  pulumi config set --secret apiKey "$(openssl rand -hex 32)" --stack homelab',
    ]
    # The stand-ins exist only masked: the Secrets the stack makes hold "[secret]", never the stand-in text.
    rendered = (out / "resources.json").read_text()
    assert "offline-stand-in" not in rendered and '"[secret]"' in rendered
    api_key = yaml.safe_load(next((out / "manifests").glob("*-secret-llm-d-llm-d-api-key.yaml")).read_text())
    assert api_key["stringData"] == {"api-key": "[secret]"}
    # A secret set in the stack file (ciphertext) is used as it is, and the report says so.
    config = homelab_stack_file()
    for key in ("registryToken", "grafanaAdminPassword", "apiKey"):
        config[f"llmd-homelab:{key}"] = SECURE
    proc = run_cli("render", "--stack", "enc", cwd=project_with_stack(tmp_path, "enc", config))
    assert "secrets a deploy needs: registryToken, grafanaAdminPassword, apiKey (all set in Pulumi.enc.yaml)" in proc.stdout
    assert run_cli("render", "--stack", "sim", "--out", str(tmp_path / "sim"), cwd=ROOT).stdout.count(
        "secrets a deploy needs: none") == 1


def test_plain_secret_in_stack_file_is_refused(tmp_path):
    config = homelab_stack_file()
    config["llmd-homelab:registryToken"] = "plaintext-token"
    proc = run_cli("render", "--stack", "plain", cwd=project_with_stack(tmp_path, "plain", config))
    assert proc.returncode == 2
    assert "registryToken: must be a secret" in proc.stderr
    assert "<redacted>" in proc.stderr and "plaintext-token" not in proc.stderr, "the excerpt echoed the token"


def test_stack_file_must_disable_the_default_kubernetes_provider(tmp_path):
    config = homelab_stack_file()
    del config["pulumi:disable-default-providers"]
    proc = run_cli("render", "--stack", "nodefault", cwd=project_with_stack(tmp_path, "nodefault", config))
    assert proc.returncode == 2
    assert 'pulumi:disable-default-providers: must include "kubernetes"' in proc.stderr


def test_unknown_stack_is_a_clear_error(tmp_path):
    proc = run_cli("render", "--stack", "nope", cwd=ROOT)
    assert proc.returncode == 2
    assert "no stack file Pulumi.nope.yaml" in proc.stderr and "Traceback" not in proc.stderr


def test_check_runs_after_render(tmp_path):
    proc = run_cli("check", "--stack", "homelab", "--out", str(tmp_path / "o"), cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


def test_check_exits_1_on_a_mandatory_violation_and_honours_policy_config(tmp_path):
    config = homelab_stack_file()
    config["llmd-homelab:cluster"]["networkPolicies"] = False
    project = project_with_stack(tmp_path, "open", config)
    proc = run_cli("check", "--stack", "open", cwd=project)
    assert proc.returncode == 1
    assert re.search(r"^mandatory +network-isolation: no ingress NetworkPolicy", proc.stdout, re.M), proc.stdout
    assert re.search(r"^ +fix: ", proc.stdout, re.M)
    assert re.search(r"^mandatory +namespaces-default-deny: namespace 'llm-d' has no NetworkPolicy", proc.stdout, re.M)
    (project / "policy.json").write_text('{"network-isolation": "advisory", "namespaces-default-deny": "advisory"}')
    proc = run_cli("check", "--stack", "open", "--policy-config", str(project / "policy.json"), "--verbose", cwd=project)
    assert proc.returncode == 0 and re.search(r"^network-isolation +\| advisory", proc.stdout, re.M)


# --- charts: rendered from the cache, opaque when missing, --strict --------------------------------------------------


def test_render_shows_the_engines_view_and_the_programs_view_of_a_chart(tmp_path):
    out = tmp_path / "out"
    proc = run_cli("render", "--stack", "homelab", "--out", str(out), "--verbose", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "resources.json").read_text())
    charts = [r for r in doc["resources"] if r["type"] == "kubernetes:helm.sh/v4:Chart"]
    assert charts and all(r["inputs"] == {} and r["programInputs"]["version"] for r in charts)
    pool = next(r for r in charts if r["name"] == "ds-r1-llama-8b-pool-release")
    children = [r for r in doc["resources"] if r["parent"] == pool["urn"]]
    assert {r["inputs"]["kind"] for r in children} >= {"InferencePool", "Deployment", "Service", "ConfigMap"}
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in (out / "manifests").glob("*.yaml")]
    assert {"InferencePool", "DeviceClass", "CustomResourceDefinition", "DaemonSet", "ResourceClaimTemplate"} <= set(kinds)
    # The summary counts objects per chart; every chart the stack deploys is rendered, kgateway's included.
    assert "ds-r1-llama-8b-pool-release" in proc.stdout and "7 objects  chart inferencepool v1.2.1" in proc.stdout
    assert re.search(r"gateway-kgateway-controller +\d+ objects  chart kgateway v2.1.2", proc.stdout), proc.stdout
    assert "not rendered" not in proc.stdout


def cache_without(tmp_path: Path, *prefixes: str) -> Path:
    """A chart cache holding what the tests' cache holds, but the archives whose names start with `prefixes`."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for folder in TEST_CACHE.folders:
        for entry in folder.iterdir():
            if not entry.name.startswith(prefixes) and not (cache / entry.name).exists():
                (cache / entry.name).symlink_to(entry.resolve())
    return cache


def run_with_cache(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMD_CHART_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "llmd_stack", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("command", ["render", "check"])
def test_a_chart_missing_from_the_cache_fails_with_one_line_saying_how_to_get_it(tmp_path, command):
    """A green check means everything was checked: an unrendered chart is exit 3, the render is still written, and
    one line names what is missing and the ways to get it."""
    out = tmp_path / "out"
    proc = run_with_cache(cache_without(tmp_path, "kgateway"), command, "--stack", "homelab", "--out", str(out))
    assert proc.returncode == 3, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, proc.stderr
    assert "chart kgateway v2.1.2, chart kgateway-crds v2.1.2" in errors[0]
    assert "python -m llmd_stack charts pull" in errors[0] and "LLMD_CHART_CACHE" in errors[0]
    assert (out / "resources.json").is_file()
    assert len(proc.stdout.splitlines()) <= 35, proc.stdout
    assert "not rendered (not in the chart cache)  chart kgateway v2.1.2" in proc.stdout
    if command == "check":
        rows = {line.split(":")[0] for line in proc.stdout.splitlines() if line.startswith("not verified")}
        assert rows, proc.stdout


def test_check_with_every_chart_rendered_verifies_every_rule(tmp_path):
    proc = run_cli("check", "--stack", "homelab", "--out", str(tmp_path / "out"), "--verbose", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if " | " in line]
    assert rows and not [row for row in rows if "not verified" in row]
    assert "policy checks: " in proc.stdout and " 0 not verified;" in proc.stdout
    assert "config:charts-pinned" in proc.stdout


def test_an_empty_chart_cache_renders_every_chart_opaque_and_fails(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_with_cache(empty, "render", "--stack", "homelab", "--out", str(tmp_path / "out"))
    assert proc.returncode == 3, proc.stderr
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    listed = error.split("not rendered, so not checked: ", 1)[1].split(" (not in the chart cache")[0].split(", ")
    assert len(listed) == 9  # 7 charts and 2 remote YAML files


def test_helm_refusing_the_values_is_exit_2_naming_the_chart(tmp_path):
    config = homelab_stack_file()
    config["llmd-homelab:scheduling"] = {"extraValues": {"inferencePool": {"modelServers": None}}}
    project = project_with_stack(tmp_path, "bad", config)
    proc = run_cli("render", "--stack", "bad", "--out", str(tmp_path / "out"), cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert "Pulumi.bad.yaml: Helm refused ds-r1-llama-8b-pool-release: chart inferencepool v1.2.1" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


# --- --out never deletes what the render did not write --------------------------------------------------------------


def test_out_refuses_the_project_its_parents_and_home(tmp_path):
    for target in (ROOT, ROOT.parent, Path.home()):
        before = sorted(p.name for p in target.iterdir())
        proc = run_cli("render", "--stack", "homelab", "--out", str(target), cwd=ROOT)
        assert proc.returncode == 2 and "refusing" in proc.stderr and "Traceback" not in proc.stderr
        assert sorted(p.name for p in target.iterdir()) == before
    proc = run_cli("render", "--stack", "homelab", "--out", ".", cwd=ROOT)
    assert proc.returncode == 2 and (ROOT / ".git").is_dir() and (ROOT / "README.md").is_file()


def test_out_refuses_a_folder_with_files_it_did_not_write(tmp_path):
    folder = tmp_path / "mine"
    (folder / "manifests").mkdir(parents=True)
    (folder / "notes.txt").write_text("keep me")
    (folder / "manifests" / "hand-written.yml").write_text("keep me too")
    proc = run_cli("render", "--stack", "homelab", "--out", str(folder), cwd=ROOT)
    assert proc.returncode == 2 and "notes.txt" in proc.stderr and "manifests/hand-written.yml" in proc.stderr
    assert (folder / "notes.txt").read_text() == "keep me" and not (folder / "resources.json").exists()


def test_a_render_replaces_only_its_own_files_and_a_failed_one_leaves_none(tmp_path):
    out = tmp_path / "out"
    assert run_cli("render", "--stack", "homelab", "--out", str(out), cwd=ROOT).returncode == 0
    stale = out / "manifests" / "999-stale-object.yaml"
    stale.write_text("kind: ConfigMap\n")  # what an earlier render with more objects left
    assert run_cli("render", "--stack", "homelab", "--out", str(out), cwd=ROOT).returncode == 0
    assert not stale.exists() and (out / "resources.json").is_file() and (out / ".llmd-render").is_file()
    config = homelab_stack_file()
    config["llmd-homelab:models"][0]["replicas"] = 0
    project = project_with_stack(tmp_path / "p", "bad", config) if (tmp_path / "p").mkdir() is None else None
    proc = run_cli("render", "--stack", "bad", "--out", str(out), cwd=project)
    assert proc.returncode == 2
    assert not (out / "resources.json").exists() and not (out / "manifests").exists()  # nothing that looks current


def test_a_policy_config_typo_is_exit_2_naming_it(tmp_path):
    cases = {
        '{"network-isolaton": "advisory"}': "unknown policy 'network-isolaton' (did you mean 'network-isolation'?)",
        '{"route-timeouts": {"minimun": "5m"}}': "route-timeouts: unknown setting 'minimun' (settings: minimum)",
        '{"route-timeouts": "warn"}': "route-timeouts.enforcementLevel: 'warn' is not one of",
        '[1]': "must be a JSON object",
    }
    for text, message in cases.items():
        path = tmp_path / "policy.json"
        path.write_text(text)
        proc = run_cli("check", "--stack", "homelab", "--out", str(tmp_path / "o"), "--policy-config", str(path), cwd=ROOT)
        assert proc.returncode == 2 and message in proc.stderr, (text, proc.stderr)
        assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


def test_a_misspelt_project_prefix_is_named_with_the_right_key(tmp_path):
    config = homelab_stack_file()
    config["llmd-homelb:models"] = config.pop("llmd-homelab:models")
    project = project_with_stack(tmp_path, "typo", config)
    proc = run_cli("render", "--stack", "typo", "--out", str(tmp_path / "out"), cwd=project)
    assert proc.returncode == 2
    assert "llmd-homelb:models: `llmd-homelb:models` is not a key of this project (`llmd-homelab` in Pulumi.yaml); " \
           "did you mean `llmd-homelab:models`?" in proc.stderr
