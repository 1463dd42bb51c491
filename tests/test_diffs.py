"""Diffs stay minimal: a change touches only the resources it is about, URNs never move silently, renders are stable.

Two renders are compared resource by resource (URN, parent, dependencies, options, inputs), as `pulumi preview`
would diff them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, second_model

from llmd_stack import render as render_out
from llmd_stack.engine import RenderResult
from llmd_stack.offline import render_stack

MODEL = "ds-r1-llama-8b"
URNS = Path(__file__).parent / "configs" / "homelab-urns.txt"
CHART = "kubernetes:helm.sh/v4:Chart"


def engine_view(registration) -> dict:
    """What the engine diffs: a Chart's own inputs are empty, its rendered children carry the change."""
    seen = registration.to_json()
    seen.pop("programInputs", None)
    return seen


def diff(before: RenderResult, after: RenderResult) -> tuple[set[str], set[str], set[str]]:
    """(added, removed, changed) URNs; changed means anything the engine would see differs."""
    a, b = before.by_urn(), after.by_urn()
    changed = {urn for urn in a.keys() & b.keys() if engine_view(a[urn]) != engine_view(b[urn])}
    return set(b) - set(a), set(a) - set(b), changed


def decode_deployment(result: RenderResult):
    """The model's vLLM Deployment, as the modelservice chart renders it."""
    return result.one("kubernetes:apps/v1:Deployment", f"{MODEL}-release:llm-d/{MODEL}-decode")


def belongs_to(by_urn: dict, urn: str, model: str) -> bool:
    """Whether a resource or one of its parents is named after the model."""
    while urn in by_urn:
        if model in by_urn[urn].name:
            return True
        urn = by_urn[urn].parent
    return False


def urn_of(result: RenderResult, type_: str, name: str) -> str:
    return result.one(type_, name).urn


def test_decode_replicas_change_only_the_model_service_chart(render, homelab, homelab_render):
    homelab["models"][0]["replicas"] = 4
    after = render(homelab)
    added, removed, changed = diff(homelab_render, after)
    assert (added, removed) == (set(), set())
    assert changed == {decode_deployment(after).urn}
    assert decode_deployment(after).inputs["spec"]["replicas"] == 4


def test_new_modelkit_tag_changes_the_loader_and_the_model_service_not_the_pvc(render, homelab, homelab_render):
    homelab["models"][0]["modelKit"]["tag"] = "1.1.0"
    after = render(homelab)
    added, removed, changed = diff(homelab_render, after)
    assert (added, removed) == (set(), set())
    assert changed == {
        urn_of(after, "kubernetes:batch/v1:Job", f"{MODEL}-cache-loader"),
        decode_deployment(after).urn,
    }
    assert urn_of(after, "kubernetes:core/v1:PersistentVolumeClaim", f"{MODEL}-cache-pvc") not in changed
    uri = after.one(CHART, f"{MODEL}-release").declared["values"]["modelArtifacts"]["uri"]
    assert uri == f"pvc://{MODEL}-model-cache/{MODEL}/1.1.0"
    command = " ".join(decode_deployment(after).inputs["spec"]["template"]["spec"]["containers"][0]["args"])
    assert f"--model /data/{MODEL}/1.1.0" in command


def test_new_route_timeout_changes_only_the_http_route_and_the_proxys_stream_idle_timeout(render, homelab, homelab_render):
    homelab["models"][0]["route"]["timeouts"] = {"request": "7200s", "backendRequest": "1800s"}
    after = render(homelab)
    added, removed, changed = diff(homelab_render, after)
    assert (added, removed) == (set(), set())
    assert changed == {urn_of(after, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", f"gateway-route-{MODEL}"),
                       urn_of(after, "kubernetes:gateway.kgateway.dev/v1alpha1:HTTPListenerPolicy",
                              "gateway-kgateway-listener-policy")}


def test_adding_a_second_model_changes_nothing_of_the_first(render, homelab, homelab_render):
    homelab["models"].append(second_model(homelab))
    after = render(homelab)
    added, removed, changed = diff(homelab_render, after)
    assert removed == set()
    before_by_urn, by_urn = homelab_render.by_urn(), after.by_urn()
    of_first = {urn for urn in changed if belongs_to(before_by_urn, urn, MODEL)}
    assert of_first == set(), f"resources of the first model changed: {sorted(of_first)}"
    for urn in changed:  # stack-wide resources (e.g. alert rules) may change, but only to cover the new model
        assert "qwen-7b" in json.dumps(by_urn[urn].inputs), f"{urn} changed without covering the new model"
    for urn in added:
        assert "qwen-7b" in by_urn[urn].name, f"{urn} was added but does not belong to the new model"
    # The first model keeps its cache, model service, pool and route exactly (URNs and inputs: `changed` is empty).
    first = {r.urn for r in homelab_render.resources if MODEL in r.name}
    assert {by_urn[u].name for u in first} >= {
        f"{MODEL}-cache", f"{MODEL}-cache-pvc", f"{MODEL}-cache-loader", MODEL, f"{MODEL}-release", f"{MODEL}-pool",
        f"{MODEL}-pool-release", f"gateway-route-{MODEL}",
    }
    # The only place the second model meets the first: the gateway component gains a route.
    new_route = after.one("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "gateway-route-qwen-7b")
    assert new_route.parent == homelab_render.one("llmd:routing:InferenceGateway", "gateway").urn


def test_homelab_urns_match_the_checked_in_list():
    """A refactor that moves or renames a resource changes its URN, and Pulumi would delete and recreate it (a model
    PVC included). Moving one on purpose: add an alias (`pulumi.Alias`/`aliases=[...]`) to the old URN, then update
    the list:

        .venv/bin/python -c "import sys; sys.path.insert(0, 'tests'); import conftest; from pathlib import Path; \\
            from llmd_stack.offline import render_stack; \\
            print(*sorted(r.urn for r in render_stack(Path('.'), 'homelab').resources), sep='\\n')" \\
            > tests/configs/homelab-urns.txt

    (`import conftest` renders from the same chart cache as the tests.)
    """
    # Chart-rendered objects are in the list too: tests render every chart the stack deploys from the chart mirror.
    current = sorted(r.urn for r in render_stack(ROOT, "homelab").resources)
    expected = [line for line in URNS.read_text().splitlines() if line.strip()]
    missing, extra = sorted(set(expected) - set(current)), sorted(set(current) - set(expected))
    assert not missing and not extra, (
        f"URNs changed. Gone (Pulumi would delete these unless aliased): {missing}\nNew: {extra}\n"
        "See this test's docstring to update tests/configs/homelab-urns.txt."
    )
    assert current == expected, "tests/configs/homelab-urns.txt is not sorted or has duplicates"


def test_urns_are_the_engines_full_type_chains():
    """Pulumi's resource.NewURN: a top-level resource's type alone (the root stack's type is left out); a child's
    type after its parent's full chain; a chart-rendered object under its Chart under the component."""
    by_name = {r.name: r for r in render_stack(ROOT, "homelab").resources}
    assert by_name["gpu"].urn == "urn:pulumi:homelab::llmd-homelab::llmd:gpu:IntelGpuDra::gpu"
    assert by_name["gpu-driver"].urn == (
        "urn:pulumi:homelab::llmd-homelab::llmd:gpu:IntelGpuDra$kubernetes:helm.sh/v4:Chart::gpu-driver")
    assert by_name["gpu-driver:intel-gpu-resource-driver/intel-gpu-sa"].urn == (
        "urn:pulumi:homelab::llmd-homelab::llmd:gpu:IntelGpuDra$kubernetes:helm.sh/v4:Chart"
        "$kubernetes:core/v1:ServiceAccount::gpu-driver:intel-gpu-resource-driver/intel-gpu-sa")
    assert not [r.urn for r in by_name.values() if "pulumi:pulumi:Stack" in r.urn]


def test_aliases_name_former_urns_of_this_stack():
    """Any alias in the homelab names a former URN of this stack that no current resource holds."""
    resources = render_stack(ROOT, "homelab").resources
    aliased = [r for r in resources if r.aliases]
    current = {r.urn for r in resources}
    for resource in aliased:
        for alias in resource.aliases:
            assert alias not in current, f"{resource.urn}: alias {alias} is a current URN (two resources, one identity)"
            if alias.startswith("urn:"):
                assert alias.startswith("urn:pulumi:homelab::llmd-homelab::"), f"{resource.urn}: alias {alias}"


def test_a_moved_resource_records_the_urn_it_had_before():
    """The mechanism a refactor uses: moving a resource under a component with an alias keeps its identity."""
    import pulumi
    import pulumi_kubernetes as k8s

    from llmd_stack.engine import run_program

    def before() -> None:
        k8s.core.v1.ConfigMap("settings", metadata={"name": "settings"}, opts=pulumi.ResourceOptions(provider=k8s.Provider("k8s")))

    def after() -> None:
        provider = k8s.Provider("k8s")
        group = pulumi.ComponentResource("llmd:test:Group", "group")
        k8s.core.v1.ConfigMap("settings", metadata={"name": "settings"}, opts=pulumi.ResourceOptions(
            provider=provider, parent=group, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)]))

    old = next(r for r in run_program(before, project="p", stack="s", config={}, secret_keys=[]).resources if r.name == "settings")
    moved = next(r for r in run_program(after, project="p", stack="s", config={}, secret_keys=[]).resources if r.name == "settings")
    assert moved.urn != old.urn
    assert old.urn in moved.aliases


# --- determinism --------------------------------------------------------------------------------------------------------


def _two_model_nodeport_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_bytes((ROOT / "Pulumi.yaml").read_bytes())
    doc = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())
    models = doc["config"]["llmd-homelab:models"]
    models.append(second_model({"models": models}))
    doc["config"]["llmd-homelab:gpu"]["nodes"][0]["cards"] = 4  # room for both models' two replicas
    doc["config"]["llmd-homelab:gateway"] = {"serviceType": "NodePort", "port": 8080}
    (project / "Pulumi.twomodels.yaml").write_text(yaml.safe_dump(doc))
    return project


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_models_with_a_nodeport_gateway_render_byte_identically_everywhere(tmp_path):
    """In-process twice, and through the CLI from another working directory: the same bytes."""
    project = _two_model_nodeport_project(tmp_path)
    first, second, third = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    render_out.write(render_stack(project, "twomodels"), first)
    render_out.write(render_stack(project, "twomodels"), second)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "llmd_stack", "render", "--stack", "twomodels", "--project-dir", str(project), "--out", str(third)],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    a, b, c = _files(first), _files(second), _files(third)
    assert any("qwen-7b" in name for name in a) and any("gatewayparameters" in name for name in a), sorted(a)
    assert a.keys() == b.keys() == c.keys()
    for name in a:
        assert a[name] == b[name] == c[name], name
