"""GPU capacity (issue 23, item 1): the GPU inventory a stack declares (`gpu.nodes`) and the check that every model's
pods, and the pods a rollout adds, can be scheduled on it. Through the paths a user hits: a stack file and
`python -m llmd_stack render|check` (exit 2 before any resource, naming the key and the numbers; exit 3, never green,
when a GPU stack declares no inventory)."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Callable

import yaml
from conftest import ROOT, homelab_project, objects, second_model, stack_config

from components.modelservice import GPU_ROLLOUT
from llmd_stack.__main__ import main
from llmd_stack.capacity import NOT_CHECKED, capacity_warnings, fits
from llmd_stack.config import StackConfig

PREFIX = "llmd-homelab:"
# A strategy that starts a new pod before an old one goes: what extraValues can set, and what needs spare cards.
SURGE = {"decode": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}}


def run(folder: Path, capsys, edit: Callable[[dict[str, Any]], None], command: str = "render") -> tuple[int, str, str, str]:
    """The homelab stack file after `edit` (on its unqualified keys) through the CLI, as stack `cap`: (exit code,
    stdout, stderr, the stack file's text)."""
    doc = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())
    config = {k[len(PREFIX):]: v for k, v in doc["config"].items() if k.startswith(PREFIX)}
    edit(config)
    project, text = homelab_project(folder, "cap", config)
    code = main([command, "--stack", "cap", "--project-dir", str(project), "--out", str(folder / "out")])
    captured = capsys.readouterr()
    return code, captured.out, captured.err, text


def refused(folder: Path, capsys, edit: Callable[[dict[str, Any]], None]) -> dict[str, str]:
    """A config the CLI refuses: exit 2, nothing rendered or written, no traceback; {key: message} of its problems."""
    code, out, err, _ = run(folder, capsys, edit)
    assert code == 2, out + err
    assert "Traceback" not in err and out == "" and not (folder / "out").exists()
    found = re.findall(r"^Pulumi\.cap\.yaml:\d+:\d+: (\S+): (.*)$", err, re.M)
    assert found, err
    return dict(found)


def qwen(config: dict[str, Any]) -> None:
    """A second model, one replica of one GPU, on its own path prefix."""
    config["models"].append({**second_model(config), "replicas": 1})


def inventory(config: dict[str, Any], *cards: int, model: str = "A770") -> None:
    config["gpu"]["nodes"] = [{"name": f"gpu-{i}", "cards": n, "model": model} for i, n in enumerate(cards, 1)]


# --- the stack files -------------------------------------------------------------------------------------------------


def test_each_stack_file_declares_its_gpus_and_the_sim_has_none():
    homelab, b60, sim = (StackConfig.model_validate(stack_config(s)) for s in ("homelab", "b60", "sim"))
    assert [(n.cards, n.model) for n in homelab.gpu.nodes] == [(2, "A770")] and homelab.gpu.selection.model == "A770"
    assert [(n.cards, n.model) for n in b60.gpu.nodes] == [(1, "B60")] and b60.gpu.selection.model == "B60"
    assert not sim.gpu.enabled and sim.gpu.nodes is None and capacity_warnings(sim) == []


# --- a fit, an overflow, two models that fit only one at a time --------------------------------------------------------


def test_two_models_that_fit_check_green(tmp_path, capsys):
    def three_cards(config):
        qwen(config)
        inventory(config, 3)

    code, out, err, _ = run(tmp_path, capsys, three_cards, "check")
    assert code == 0, out + err
    assert NOT_CHECKED not in err and "not verified: GPU capacity" not in out


def test_an_overflow_is_refused_naming_the_numbers_and_the_ways_out(tmp_path, capsys):
    """The issue's case: the homelab's two replicas plus a one-replica Qwen need three A770s; it has two."""
    code, out, err, text = run(tmp_path, capsys, qwen, "check")
    assert code == 2 and out == "" and "Traceback" not in err
    line, column, message = re.search(r"^Pulumi\.cap\.yaml:(\d+):(\d+): (.*)$", err, re.M).groups()
    assert message == (
        "models: need 3 A770 (ds-r1-llama-8b 2x1, qwen-7b 1x1), the inventory (gpu.nodes) has 2; each model fits "
        "alone, not all together: lower models[0].replicas or serve fewer models, or add 1 A770 to gpu.nodes")
    assert text.splitlines()[int(line) - 1].strip() == f"{PREFIX}models:"  # the line of the key it names


def test_each_of_the_two_models_alone_fits(tmp_path, capsys):
    """The overflow's two models fit one at a time: what makes "serve fewer models" a way out."""
    def only_qwen(config):
        qwen(config)
        del config["models"][0]

    assert run(tmp_path / "ds", capsys, lambda config: None)[0] == 0
    assert run(tmp_path / "qwen", capsys, only_qwen)[0] == 0


def test_a_rollout_surge_makes_two_models_that_fit_one_at_a_time_overflow(tmp_path, capsys):
    """Both models run on the two A770s, but a strategy that starts the new pod before the old one goes needs a
    spare card per model: both rolling at once (one `pulumi up`) needs four."""
    def surging(config):
        qwen(config)
        config["models"][0]["replicas"] = 1
        for model in config["models"]:
            model["extraValues"] = copy.deepcopy(SURGE)

    keys = ("models[0].extraValues.decode.strategy.rollingUpdate.maxUnavailable and "
            "models[1].extraValues.decode.strategy.rollingUpdate.maxUnavailable")
    assert refused(tmp_path, capsys, surging) == {"models[0].extraValues.decode.strategy": (
        "a rolling update needs 2 more A770 while old and new pods overlap (maxUnavailable 0, surge "
        "ds-r1-llama-8b 1x1, qwen-7b 1x1): the models need 4 A770 then, the inventory (gpu.nodes) has 2: set "
        f"{keys} to 1 (an old pod goes first, the program's default), or add 2 A770 to gpu.nodes")}


def test_the_counted_rollout_is_the_rendered_one(homelab_render, render, homelab):
    """The program's strategy takes no spare card (an old pod goes first); one from extraValues is rendered as given
    and counted: one surge pod beside two replicas fits three cards."""
    def strategy(result):
        (deployment,) = [d for d in objects(result, "Deployment") if d["metadata"]["name"] == "ds-r1-llama-8b-decode"]
        return deployment["spec"]["strategy"]

    assert strategy(homelab_render) == GPU_ROLLOUT
    homelab["models"][0]["extraValues"] = copy.deepcopy(SURGE)
    homelab["gpu"]["nodes"] = [{"name": "homelab-gpu", "cards": 3, "model": "A770"}]
    assert strategy(render(homelab))["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    # Recreate (the way out the capacity error names) renders a Deployment the API server takes: no rollingUpdate.
    homelab["models"][0]["extraValues"] = {"decode": {"strategy": {"type": "Recreate"}}}
    assert strategy(render(homelab)) == {"type": "Recreate"}


def test_the_only_claims_besides_the_models_are_admin_access_which_take_no_card(homelab_render, render):
    """Capacity counts the model pods only: every other DRA claim the stacks deploy (the XPU Manager v1 exporter,
    the xpumd v2 chart) is adminAccess, which ignores ordinary claims to a device and takes none from them."""
    for result in (homelab_render, render(stack_config("b60"))):
        others, models = [], []
        for template in objects(result, "ResourceClaimTemplate"):
            (request,) = template["spec"]["spec"]["devices"]["requests"]
            if template["metadata"]["name"].startswith(("ds-r1-llama-8b-gpu-", "qwen3-8b-gpu-")):
                models.append(request["exactly"])
            else:
                others.append(request["exactly"])
        assert models and all(r.get("count", 1) == 1 and not r.get("adminAccess") for r in models), models
        assert others and all(r["adminAccess"] is True and r["allocationMode"] == "All" for r in others), others


# --- what must fit on one node; a card the inventory lacks -----------------------------------------------------------


def test_a_replica_bigger_than_every_node_is_refused_though_the_cluster_has_the_cards(tmp_path, capsys):
    def three_per_replica(config):
        config["models"][0].update(replicas=1, gpusPerReplica=3)
        inventory(config, 2, 2)

    assert refused(tmp_path, capsys, three_per_replica) == {"models[0].gpusPerReplica": (
        "a replica claims its 3 GPUs with one DRA claim, so it needs 3 A770 on one node; the largest in gpu.nodes "
        "has 2 (gpu-1): lower gpusPerReplica to 2, or add a node with 3 A770 to gpu.nodes")}


def test_replicas_sharing_a_readwriteonce_cache_must_fit_on_one_node(tmp_path, capsys):
    """Three one-GPU replicas on two nodes of two cards: they fit as separate pods, not on the one node their
    ReadWriteOnce model volume attaches to."""
    def three_replicas(config):
        config["models"][0]["replicas"] = 3
        inventory(config, 2, 2)

    found = refused(tmp_path / "rwo", capsys, three_replicas)
    assert found == {"models[0].replicas": (
        "3 replicas of 1 GPU(s) all mount the model cache (cache.accessMode ReadWriteOnce, attached to one node), so "
        "they need 3 A770 on one node; the largest in gpu.nodes has 2 (gpu-1): lower replicas to 2, use "
        "cache.accessMode ReadWriteMany on storage several nodes mount, or add cards to gpu-1 in gpu.nodes")}

    def shared_volume(config):
        three_replicas(config)
        config["models"][0]["cache"]["accessMode"] = "ReadWriteMany"

    assert run(tmp_path / "rwx", capsys, shared_volume)[0] == 0


def test_cards_enough_in_sum_but_split_across_nodes_are_refused(tmp_path, capsys):
    """Three replicas of two GPUs need six A770s; two nodes of three have six, but each node holds one replica."""
    def split(config):
        config["models"][0].update(replicas=3, gpusPerReplica=2, cache={"accessMode": "ReadWriteMany"})
        inventory(config, 3, 3)

    assert refused(tmp_path, capsys, split) == {"models": (
        "need 6 A770 (ds-r1-llama-8b 3x2) and the inventory (gpu.nodes) has 6 (gpu-1: 3 A770, gpu-2: 3 A770), but not "
        "on the nodes the pods can use: a replica's GPUs are on one node, and so are all replicas sharing a "
        "ReadWriteOnce model cache: lower models[0].replicas or models[0].gpusPerReplica or serve fewer models, or add "
        "cards to gpu.nodes")}


def test_a_card_model_the_inventory_lacks_is_refused(tmp_path, capsys):
    def b60_selected(config):
        config["gpu"]["selection"] = {"model": "B60"}

    assert refused(tmp_path, capsys, b60_selected) == {"gpu.selection.model": (
        "the models need 2 B60 (ds-r1-llama-8b 2x1) and no node in gpu.nodes has one (homelab-gpu: 2 A770): set "
        "gpu.selection.model to the card model the nodes have, or add the nodes with B60 cards to gpu.nodes (the DRA "
        "driver's `model` attribute: kubectl get resourceslices -o yaml)")}


def test_cards_of_another_model_do_not_count(tmp_path, capsys):
    """A node with two A770s and one with two B580s: two A770 replicas and a third have two cards, not four."""
    def mixed(config):
        config["models"][0]["cache"]["accessMode"] = "ReadWriteMany"
        config["models"][0]["replicas"] = 3
        config["gpu"]["nodes"] = [{"name": "a", "cards": 2, "model": "A770"}, {"name": "b", "cards": 2, "model": "B580"}]

    found = refused(tmp_path, capsys, mixed)
    assert found["models"].startswith("need 3 A770 (ds-r1-llama-8b 3x1), the inventory (gpu.nodes) has 2 "
                                      "(a: 2 A770, b: 2 B580): lower models[0].replicas")


def test_a_node_listed_twice_is_refused(tmp_path, capsys):
    def twice(config):
        config["gpu"]["nodes"] = [{"name": "homelab-gpu", "cards": 1, "model": "A770"}] * 2

    assert refused(tmp_path, capsys, twice) == {
        "gpu.nodes": "node 'homelab-gpu' with A770 cards is listed twice; give all its A770 cards in one entry"}


def test_a_strategy_capacity_cannot_count_is_refused(tmp_path, capsys):
    def bad_surge(config):
        config["models"][0]["extraValues"] = {"decode": {"strategy": {"rollingUpdate": {"maxSurge": "one"}}}}

    found = refused(tmp_path, capsys, bad_surge)
    assert found["models[0].extraValues.decode.strategy"].startswith("not a Deployment strategy the program can count")


# --- no inventory: not checked, and said so ----------------------------------------------------------------------------


def test_a_gpu_stack_without_an_inventory_is_never_a_green_check(tmp_path, capsys):
    def no_inventory(config):
        del config["gpu"]["nodes"]

    code, out, err, _ = run(tmp_path, capsys, no_inventory, "check")
    assert code == 3, out + err
    assert (f"warning: Pulumi.cap.yaml: {NOT_CHECKED}: the models need 2 A770 (ds-r1-llama-8b 2x1); declare the GPU "
            "nodes as gpu.nodes: [{name, cards, model}]") in err
    assert "not verified: GPU capacity (gpu.nodes not set" in out
    assert (tmp_path / "out" / "resources.json").is_file()  # rendered and checked, only capacity was not


# --- the arithmetic ----------------------------------------------------------------------------------------------------


def test_placement_is_exact_not_first_fit():
    # First-fit decreasing puts 5+4 on one node and then cannot place the last 2; 5+3+2 and 4+4+2 fit.
    assert fits([5, 4, 4, 3, 2, 2], [10, 10])
    # Six cards for six, but a 3 cannot sit on the node of 2.
    assert not fits([3, 3], [4, 2])
    assert fits([1] * 200 + [2] * 100, [400])  # hundreds of pods: no recursion limit


def test_a_surge_that_fits_the_total_but_not_the_cache_node_says_where_the_card_must_go(tmp_path, capsys):
    """Two replicas sharing a ReadWriteOnce cache stay on one node: a surge pod needs a third card there, and the
    second node's free cards do not help, so the message must not say to add cards anywhere."""
    def surging(config):
        inventory(config, 2, 2)
        config["models"][0]["extraValues"] = copy.deepcopy(SURGE)

    (message,) = refused(tmp_path, capsys, surging).values()
    assert "the models need 3 A770 then" in message and "do not fit on its nodes" in message
    assert message.endswith("add A770 cards to the node the surging model's pods run on (a replica's cards, and a "
                            "ReadWriteOnce cache's pods, stay on one node: a card on another node does not help)")
