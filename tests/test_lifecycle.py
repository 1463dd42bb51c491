"""Model lifecycle (issue 23, item 2; docs/models.md): adding, retiring, removing and renaming a model on the homelab,
each step rendered against the outputs the step before it would leave, and what `python -m llmd_stack diff` shows.
What must hold throughout: a model cache PVC is never deleted or replaced by an ordinary config change, and a config
that would make `pulumi up` stop on the protected PVC is refused first, naming `models` and the exact way out."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, homelab_project, stack_config

from llmd_stack import render as render_out
from llmd_stack.__main__ import main
from llmd_stack.config import ConfigError, needed_secrets, parse_config
from llmd_stack.lifecycle import cache_pvc_urn
from llmd_stack.manifest_diff import attention, load_objects, markdown
from llmd_stack.offline import render_config
from llmd_stack.topology import body_based_routing

SECRETS = {"registryToken": "t0ken-aaaa", "grafanaAdminPassword": "pw-aaaaaa", "apiKey": "sk-aaaaaaaaaaaaaaaaaaaaaaaa"}
PREFIX = "llmd-homelab:"
DOCS = (ROOT / "docs" / "models.md").read_text()
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
QWEN_URN = ("urn:pulumi:homelab::llmd-homelab::llmd:model:ModelKitCache$kubernetes:core/v1:PersistentVolumeClaim::"
            "qwen-7b-cache-pvc")

# The snippets of docs/models.md, checked to be there verbatim and applied as written.
ADD = """\
    - name: qwen-7b
      servedName: qwen2.5-7b-instruct
      modelKit:
        repository: qwen-7b
        tag: "2.0.0"
      replicas: 1
      route:
        pathPrefix: /qwen
"""
RENAME_ADD = """\
    - name: deepseek-8b
      servedName: deepseek-r1-distill-llama-8b-next
      modelKit:
        repository: ds-r1-llama-8b
        tag: "1.0.0"
      replicas: 1
      route:
        pathPrefix: /next
"""


def entry(snippet: str) -> dict:
    assert snippet in DOCS
    return yaml.safe_load(snippet)[0]


def step(name: str) -> dict:
    """The homelab stack file's keys after each step of docs/models.md (the real inventory: two A770s)."""
    config = stack_config("homelab")
    models = config["models"]
    if name in ("add", "retire", "removed", "dropped"):
        models[0]["replicas"] = 1  # the two A770s hold one replica of each model
        models.append(entry(ADD))
        if name != "add":
            models[1]["state"] = {"retire": "retired"}.get(name, "removed")
        if name == "dropped":
            del models[1]
    elif name == "rename-1":
        models[0]["replicas"] = 1
        models.append(entry(RENAME_ADD))
    elif name in ("rename-2", "rename-3"):
        models[0]["state"] = "retired"
        models.append({**entry(RENAME_ADD), "servedName": models[0]["servedName"], "route": {"pathPrefix": "/"},
                       "replicas": 2 if name == "rename-3" else 1})
    return config


STEPS = ("homelab", "add", "retire", "removed", "dropped", "rename-1", "rename-2", "rename-3")


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, tuple[Path, object]]:
    """Each step rendered as never deployed, written as `render --out` writes it: (folder, result)."""
    root = tmp_path_factory.mktemp("lifecycle")
    found = {}
    for name in STEPS:
        result = render_config(step(name), dict(SECRETS), stack="homelab")
        assert not result.unrendered, [c.label for c in result.unrendered]
        render_out.write(result, root / name)
        found[name] = (root / name, result)
    return found


def deploy(config: dict, after: object):
    """Render `config` as `pulumi up` would run it on the stack `after` left (its outputs)."""
    return render_config(config, dict(SECRETS), stack="homelab", deployed_outputs=after.outputs)


def pvc(result, model: str):
    return next(r for r in result.of_type(PVC_TYPE) if r.inputs["metadata"]["name"] == f"{model}-model-cache")


def mentioning(folder: Path, *words: str) -> set[str]:
    return {key for key, text in load_objects(folder).items() if any(w in text for w in words)}


# --- add -------------------------------------------------------------------------------------------------------------


def test_adding_a_model_adds_its_objects_and_removes_or_replaces_nothing(renders):
    base, head = load_objects(renders["homelab"][0]), load_objects(renders["add"][0])
    added = head.keys() - base.keys()
    assert not base.keys() - head.keys() and not attention(base, head)
    assert added == {k for k in head if "qwen-7b" in k}
    for key in ("PersistentVolumeClaim llm-d/qwen-7b-model-cache", "Deployment.apps llm-d/qwen-7b-decode",
                "InferencePool.inference.networking.k8s.io llm-d/qwen-7b-pool",
                "HTTPRoute.gateway.networking.k8s.io llm-d/qwen-7b-route", "Secret llm-d/qwen-7b-modelkit-pull",
                "PodMonitor.monitoring.coreos.com llm-d/qwen-7b-vllm"):
        assert key in added
    assert any(k.startswith("Job.batch llm-d/qwen-7b-load-") for k in added)
    assert "Deployment.apps llm-d/ds-r1-llama-8b-decode" in {k for k in base if base[k] != head.get(k)}  # 2 -> 1 replica
    report = markdown(renders["homelab"][0], renders["add"][0])
    assert re.search(r"- \*\*add\*\*: \d+ added, 0 removed, \d+ changed", report) and "**replaced" not in report
    assert renders["add"][1].outputs["modelCaches"]["qwen-7b"] == {
        "state": "serving", "namespace": "llm-d", "pvc": "qwen-7b-model-cache", "urn": QWEN_URN}


# --- retire ----------------------------------------------------------------------------------------------------------


def test_a_retired_model_keeps_its_cache_pvc_exactly_as_it_was(renders):
    before, after = pvc(renders["add"][1], "qwen-7b"), pvc(renders["retire"][1], "qwen-7b")
    assert after.urn == before.urn == QWEN_URN
    assert (after.inputs, after.parent, after.protect, after.retain_on_delete) == \
        (before.inputs, before.parent, True, True)
    assert load_objects(renders["retire"][0])["PersistentVolumeClaim llm-d/qwen-7b-model-cache"] == \
        load_objects(renders["add"][0])["PersistentVolumeClaim llm-d/qwen-7b-model-cache"]
    namespace = renders["retire"][1].one("kubernetes:core/v1:Namespace", "serving-namespace")
    assert namespace.protect and namespace.retain_on_delete


def test_a_retired_model_registers_nothing_but_its_cache(renders):
    result = renders["retire"][1]
    assert {r.urn for r in result.resources if "qwen" in r.urn} == {
        QWEN_URN, "urn:pulumi:homelab::llmd-homelab::llmd:model:ModelKitCache::qwen-7b-cache"}
    # No monitor, alert, dashboard, policy, route or pool names it or its served name.
    assert mentioning(renders["retire"][0], "qwen-7b", "qwen2.5-7b-instruct") == {
        "PersistentVolumeClaim llm-d/qwen-7b-model-cache"}
    assert list(result.outputs["models"]) == ["ds-r1-llama-8b"]
    assert result.outputs["modelCaches"]["qwen-7b"]["state"] == "retired"


def test_the_diff_of_retiring_shows_the_serving_removed_and_the_cache_untouched(renders):
    base, head = load_objects(renders["add"][0]), load_objects(renders["retire"][0])
    removed = base.keys() - head.keys()
    assert not head.keys() - base.keys() and not attention(base, head)
    assert removed == {k for k in base if "qwen-7b" in k} - {"PersistentVolumeClaim llm-d/qwen-7b-model-cache"}
    assert "Deployment.apps llm-d/qwen-7b-decode" in removed and "HTTPRoute.gateway.networking.k8s.io llm-d/qwen-7b-route" in removed
    summary = markdown(renders["add"][0], renders["retire"][0]).split("<details>")[0]  # the lists, not the diff
    assert "0 added, " in summary and "qwen-7b-model-cache" not in summary and "holds data" not in summary


def test_retiring_is_deployable_over_the_serving_stack(renders):
    deploy(step("retire"), renders["add"][1])


def test_serving_it_again_brings_back_its_objects_over_the_same_cache(renders):
    deploy(step("add"), renders["retire"][1])
    base, head = load_objects(renders["retire"][0]), load_objects(renders["add"][0])
    assert not attention(base, head) and not base.keys() - head.keys()
    assert base["PersistentVolumeClaim llm-d/qwen-7b-model-cache"] == head["PersistentVolumeClaim llm-d/qwen-7b-model-cache"]


def test_retired_models_take_no_gpus():
    """The homelab's two A770s: its 2x1 model and a serving 1x1 Qwen overflow them; a retired Qwen takes none."""
    config = stack_config("homelab")
    config["models"].append(entry(ADD))
    with pytest.raises(ConfigError) as info:
        parse_config({**config, **SECRETS}, set(SECRETS))
    assert [p.path for p in info.value.problems] == ["models"] and "need 3 A770" in str(info.value)
    config["models"][1]["state"] = "retired"
    parse_config({**config, **SECRETS}, set(SECRETS))


def test_a_retired_models_served_name_and_route_collide_with_nothing():
    """A retired copy on the same URL and served name: no duplicate, and no body-based routing turned on."""
    config = stack_config("homelab")
    config["models"].append({**copy.deepcopy(config["models"][0]), "name": "ds-old", "state": "retired"})
    cfg = parse_config({**config, **SECRETS}, set(SECRETS))
    assert not body_based_routing(cfg)


def test_a_retired_cache_needs_no_registry_token():
    config = stack_config("sim")
    config["models"].append({"name": "old", "servedName": "old", "state": "retired",
                             "modelKit": {"repository": "old", "tag": "1.0.0"}})
    config["gateway"].pop("defaultModel", None)
    config["models"] = [config["models"][0], config["models"][-1]]
    cfg = parse_config(config, set())
    assert "registryToken" not in needed_secrets(cfg)
    result = render_config(config, {}, stack="sim")
    assert pvc(result, "old").protect and not [r for r in result.resources if "old-cache-loader" in r.urn]


def problems_of(config: dict) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config({**config, **SECRETS}, set(SECRETS))
    return {p.path: p.message for p in info.value.problems}


def test_the_default_model_must_be_serving():
    config = stack_config("sim")  # two models behind one URL, defaultModel ds-r1-llama-8b
    config["models"][0]["state"] = "retired"
    assert problems_of(config) == {"gateway.defaultModel": (
        "'ds-r1-llama-8b' is retired (models[0].state) and serves nothing: name a serving model (qwen-7b)")}


def test_retiring_one_of_two_models_on_one_url_ends_body_based_routing():
    config = stack_config("sim")
    config["models"][1]["state"] = "retired"
    assert problems_of(config) == {"gateway.defaultModel": "only used with body-based routing (gateway.bodyBasedRouting)"}
    del config["gateway"]["defaultModel"]
    assert not body_based_routing(parse_config({**config, **SECRETS}, set(SECRETS)))


def test_a_stack_with_every_model_retired_is_refused():
    config = stack_config("homelab")
    config["models"][0]["state"] = "retired"
    assert problems_of(config) == {"models": (
        "every model is retired or removed: nothing to serve, and the gateway, pools and monitoring would have "
        "nothing behind them; keep at least one model with state: serving (docs/models.md)")}


# --- remove ----------------------------------------------------------------------------------------------------------

REFUSAL = (
    "models: 'qwen-7b' is no longer in models, but the stack's last update holds its model cache (PVC "
    "llm-d/qwen-7b-model-cache, protected): pulumi up would stop on it. To keep the cache, put the entry back with "
    "state: retired (it serves nothing; the PVC stays as it is). To delete the cache, put the entry back with state: "
    f"removed, run pulumi state unprotect --stack homelab '{QWEN_URN}', then pulumi up --stack homelab (the PVC "
    "leaves the stack; retain_on_delete keeps it and its data in the cluster until kubectl -n llm-d delete pvc "
    "qwen-7b-model-cache), then drop the entry (docs/models.md)")


def cli(folder: Path, capsys, config: dict, deployed: dict) -> tuple[int, str, str, str]:
    """`python -m llmd_stack render --stack homelab --deployed-outputs F` on the homelab stack file holding `config`."""
    project, text = homelab_project(folder, "homelab", config)
    (folder / "deployed.json").write_text(json.dumps(deployed))
    code = main(["render", "--stack", "homelab", "--project-dir", str(project), "--out", str(folder / "out"),
                 "--deployed-outputs", str(folder / "deployed.json")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, text


@pytest.mark.parametrize("deployed_step", ["add", "retire"])
def test_dropping_a_deployed_cache_is_refused_before_anything_with_both_ways_out(renders, tmp_path, capsys, deployed_step):
    """The entry deleted outright, serving or retired: exit 2 at the `models` line, nothing written, no traceback,
    the PVC's real URN (as the deploy registered it) in the command."""
    code, out, err, text = cli(tmp_path, capsys, step("dropped"), renders[deployed_step][1].outputs)
    assert code == 2 and out == "" and "Traceback" not in err and not (tmp_path / "out").exists()
    line, message = re.search(r"^Pulumi\.homelab\.yaml:(\d+):\d+: (.*)$", err, re.M).groups()
    assert message == REFUSAL and REFUSAL in DOCS
    assert text.splitlines()[int(line) - 1].strip() == f"{PREFIX}models:"
    assert pvc(renders[deployed_step][1], "qwen-7b").urn == QWEN_URN


def test_outputs_from_before_model_caches_were_exported_are_checked_too(renders):
    """A stack last updated before `modelCaches` existed: every deployed model may hold a cache (a simulator model
    had none), so the refusal says "may" and how to check, and the URN the program forms is the one the engine
    registered."""
    legacy = {k: v for k, v in renders["add"][1].outputs.items() if k != "modelCaches"}
    with pytest.raises(ConfigError) as info:
        render_config(step("dropped"), dict(SECRETS), stack="homelab", deployed_outputs=legacy)
    assert [str(p) for p in info.value.problems] == [REFUSAL.replace(
        "holds its model cache (PVC llm-d/qwen-7b-model-cache, protected)",
        "may hold its model cache (PVC llm-d/qwen-7b-model-cache, protected; its outputs predate modelCaches, check "
        "with: pulumi stack --show-urns --stack homelab | grep 'qwen-7b-cache-pvc')")]
    assert cache_pvc_urn("llmd-homelab", "homelab", "qwen-7b") == pvc(renders["add"][1], "qwen-7b").urn


def test_a_deployed_cache_cannot_lose_its_model_kit(renders):
    config = step("add")
    config["models"][1].pop("modelKit")
    config["models"][1]["engine"] = {"kind": "sim"}
    with pytest.raises(ConfigError) as info:
        deploy(config, renders["add"][1])
    assert [p.path for p in info.value.problems] == ["models[1].modelKit"]


def test_state_removed_says_how_to_unprotect_then_drops_only_the_cache(renders):
    result = deploy(step("removed"), renders["retire"][1])
    assert [w for w in result.warnings if w.startswith("models[1].state")] == [
        "models[1].state: removed: this update drops 'qwen-7b''s model cache PVC from the stack; it is protected, so "
        f"first run pulumi state unprotect --stack homelab '{QWEN_URN}', then pulumi up --stack homelab (the PVC "
        "leaves the stack; retain_on_delete keeps it and its data in the cluster until kubectl -n llm-d delete pvc "
        "qwen-7b-model-cache); afterwards delete the entry"]
    assert not [r for r in result.resources if "qwen" in r.urn] and "qwen-7b" not in result.outputs["modelCaches"]
    base, head = load_objects(renders["retire"][0]), load_objects(renders["removed"][0])
    assert base.keys() - head.keys() == {"PersistentVolumeClaim llm-d/qwen-7b-model-cache"}
    assert attention(base, head) == ["removed (holds data): `PersistentVolumeClaim llm-d/qwen-7b-model-cache`: the "
                                     "program retains it on delete; check the preview"]


def test_after_the_removed_update_the_entry_can_go(renders):
    again = deploy(step("removed"), renders["removed"][1])
    assert "models[1].state: removed: nothing of 'qwen-7b' is left in the stack; delete the entry" in again.warnings
    deploy(step("dropped"), renders["removed"][1])
    assert markdown(renders["removed"][0], renders["dropped"][0]).count("no change to the") == 1


# --- rename ----------------------------------------------------------------------------------------------------------


def test_a_rename_in_place_is_refused_naming_the_old_model(renders):
    config = stack_config("homelab")
    config["models"][0]["name"] = "deepseek-8b"
    with pytest.raises(ConfigError) as info:
        deploy(config, renders["homelab"][1])
    assert [p.path for p in info.value.problems] == ["models"]
    assert str(info.value).startswith("models: 'ds-r1-llama-8b' is no longer in models")


def test_the_documented_rename_deploys_step_by_step_and_keeps_both_caches(renders):
    chain = ["homelab", "rename-1", "rename-2", "rename-3"]
    for before, after in zip(chain, chain[1:]):
        deploy(step(after), renders[before][1])
        base, head = load_objects(renders[before][0]), load_objects(renders[after][0])
        assert not [n for n in attention(base, head) if "holds data" in n or "replaced" in n]
    old = "PersistentVolumeClaim llm-d/ds-r1-llama-8b-model-cache"
    assert len({load_objects(renders[s][0])[old] for s in chain}) == 1
    new = "PersistentVolumeClaim llm-d/deepseek-8b-model-cache"
    assert load_objects(renders["rename-1"][0])[new] == load_objects(renders["rename-3"][0])[new]
    # The new name serves where the old one did: the old served name and URL, now without a collision.
    final = renders["rename-3"][1].outputs
    assert list(final["models"]) == ["deepseek-8b"]
    assert final["models"]["deepseek-8b"]["servedName"] == "deepseek-r1-distill-llama-8b"
    assert final["modelCaches"]["ds-r1-llama-8b"]["state"] == "retired"
