"""GPU capacity: whether every model's pods, and the pods a rollout adds, fit the GPU nodes the stack declares
(`gpu.nodes`). Pure arithmetic over the config: config.py reports what does not fit as Problems, before any resource
is registered; a GPU stack without an inventory gets a warning that its capacity was not checked, and `check` then
exits 3 (not verified), never green.

What takes cards, read from the objects the program creates:
- a model pod claims `gpusPerReplica` devices of `gpu.selection.model` (one stack-wide selection) with one
  ResourceClaim, allocated on the pod's node: a replica's cards are all on one node;
- a model's pods that mount its ModelKit cache through a ReadWriteOnce(Pod) volume run where that volume is
  attached: all of them on one node;
- a rollout: the program's strategy (components.modelservice.GPU_ROLLOUT: maxSurge 0, maxUnavailable 1) removes an
  old pod before it starts a new one, so it needs no extra card. A strategy set through extraValues with
  maxUnavailable 0 and maxSurge > 0 starts its surge pods while every old pod still holds its cards: those are
  counted. (With maxUnavailable >= 1 a surge pod waits for the cards an old pod frees, and the rollout completes.)
- the GPU exporter (XPU Manager v1, xpumd v2) and the driver's xpumd health monitor claim every GPU of their node
  with `adminAccess: true`, which "ignores all ordinary claims to the device" (resource.k8s.io/v1
  ExactDeviceRequest): they take no card from the models, so they are not counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from components.modelservice import GPU_ROLLOUT
from components.values import deep_merge

from .topology import Problem, serving

if TYPE_CHECKING:
    from .config import ModelConfig, StackConfig

# How the program's warning for a GPU stack without `gpu.nodes` begins: `check` reads it as "not verified".
NOT_CHECKED = "gpu.nodes: not set, so GPU capacity was not checked"


@dataclass(frozen=True)
class Group:
    """Pods of one model that must run on one node: one pod, or every pod sharing a ReadWriteOnce model cache."""

    index: int  # models[index]
    pods: int
    gpus: int  # per pod

    @property
    def cards(self) -> int:
        return self.pods * self.gpus


def gpu_models(cfg: "StackConfig") -> list[tuple[int, "ModelConfig"]]:
    """(index, model) of every model whose pods claim GPUs."""
    if not cfg.gpu.enabled:
        return []
    return [(i, model) for i, model in serving(cfg) if model.engine.kind != "sim"]  # retired: 0 GPUs


def one_node(model: "ModelConfig") -> bool:
    """Whether every pod of the model runs on one node: a ReadWriteOnce(Pod) volume attaches to one node."""
    return model.model_kit is not None and model.cache.access_mode != "ReadWriteMany"


def _pods(value: Any, replicas: int, round_up: bool) -> int:
    """A rollingUpdate bound as pods: an integer, or a percentage of replicas (maxSurge rounds up, maxUnavailable
    down, as the Deployment controller does). ValueError for anything else."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        share = replicas * int(value[:-1]) / 100
        return math.ceil(share) if round_up else math.floor(share)
    raise ValueError


def rollout_surge(model: "ModelConfig") -> int:
    """Pods a rollout of this model starts while all of its old pods still hold their cards (0 with the program's
    strategy). ValueError when extraValues gives a strategy the Deployment would not take."""
    given = model.extra_values.get("decode")
    decode = deep_merge({"strategy": GPU_ROLLOUT}, given if isinstance(given, dict) else {})
    strategy = decode.get("strategy") or {}
    if not isinstance(strategy, dict):
        raise ValueError
    if strategy.get("type", "RollingUpdate") == "Recreate":
        return 0
    bounds = strategy.get("rollingUpdate") or {}
    if not isinstance(bounds, dict):
        raise ValueError
    surge = _pods(bounds.get("maxSurge", "25%"), model.replicas, round_up=True)  # Kubernetes' defaults: 25%
    unavailable = _pods(bounds.get("maxUnavailable", "25%"), model.replicas, round_up=False)
    if unavailable > 0 or surge == 0:  # both 0: the controller takes maxUnavailable 1
        return 0
    return min(surge, model.replicas)  # the first step starts this many new pods


def fits(groups: list[int], nodes: list[int]) -> bool:
    """Whether groups of cards (each on one node) can all be placed on nodes with these many free cards: an exact
    search, largest group first, without recursion (a stack may run hundreds of pods)."""
    if sum(groups) > sum(nodes):
        return False
    # One-card groups fit in whatever the larger ones leave, and the total was checked: only the larger are placed.
    items = sorted((g for g in groups if g > 1), reverse=True)

    def choices(i: int, free: tuple[int, ...]):
        """The free cards left after placing items[i] on each node it fits (nodes alike in free cards tried once)."""
        for cards in sorted(set(free), reverse=True):
            if cards >= items[i]:
                j = free.index(cards)
                yield tuple(sorted((*free[:j], cards - items[i], *free[j + 1:])))

    failed: set[tuple[int, tuple[int, ...]]] = set()  # (item, free cards) already known not to lead to a placement
    start = tuple(sorted(nodes))
    stack = [(start, choices(0, start))] if items else []
    while stack:
        i = len(stack) - 1
        free, options = stack[-1]
        after = next(options, None)
        if after is None:
            failed.add((i, free))
            stack.pop()
        elif i + 1 == len(items):
            return True
        elif (i + 1, after) not in failed:
            stack.append((after, choices(i + 1, after)))
    return not items


def _groups(model: "ModelConfig", index: int, pods: int) -> list[Group]:
    if one_node(model):
        return [Group(index, pods, model.gpus_per_replica)]
    return [Group(index, 1, model.gpus_per_replica)] * pods


def _demand(models: list[tuple[int, "ModelConfig"]]) -> str:
    """`ds-r1-llama-8b 2x1, qwen-7b 1x1`: each model's replicas x GPUs per replica."""
    return ", ".join(f"{m.name} {m.replicas}x{m.gpus_per_replica}" for _, m in models)


def _lower(models: list[tuple[int, "ModelConfig"]]) -> str:
    keys = [f"models[{i}].replicas" for i, m in models if m.replicas > 1]
    keys += [f"models[{i}].gpusPerReplica" for i, m in models if m.gpus_per_replica > 1]
    return f"lower {' or '.join(keys)} or serve fewer models" if keys else "serve fewer models"


def capacity_problems(cfg: "StackConfig") -> list[Problem]:
    """What the declared GPU nodes cannot run: each a Problem naming the key, the numbers and the ways out."""
    models = gpu_models(cfg)
    if not models or cfg.gpu.nodes is None:
        return []
    card = cfg.gpu.selection.model
    nodes = [node for node in cfg.gpu.nodes if node.model == card]
    inventory = ", ".join(f"{n.name}: {n.cards} {n.model}" for n in cfg.gpu.nodes) or "empty"
    need = sum(m.replicas * m.gpus_per_replica for _, m in models)
    if not nodes:
        return [Problem("gpu.selection.model", (
            f"the models need {need} {card} ({_demand(models)}) and no node in gpu.nodes has one ({inventory}): set "
            f"gpu.selection.model to the card model the nodes have, or add the nodes with {card} cards to gpu.nodes "
            "(the DRA driver's `model` attribute: kubectl get resourceslices -o yaml)"))]
    supply = sum(n.cards for n in nodes)
    largest = max(nodes, key=lambda n: n.cards)
    on = f"{card} on one node; the largest in gpu.nodes has {largest.cards} ({largest.name})"
    problems = []
    for i, model in models:
        if model.gpus_per_replica > largest.cards:
            problems.append(Problem(f"models[{i}].gpusPerReplica", (
                f"a replica claims its {model.gpus_per_replica} GPUs with one DRA claim, so it needs "
                f"{model.gpus_per_replica} {on}: lower gpusPerReplica to {largest.cards}, or add a node with "
                f"{model.gpus_per_replica} {card} to gpu.nodes")))
        elif one_node(model) and model.replicas * model.gpus_per_replica > largest.cards:
            cards = model.replicas * model.gpus_per_replica
            problems.append(Problem(f"models[{i}].replicas", (
                f"{model.replicas} replicas of {model.gpus_per_replica} GPU(s) all mount the model cache "
                f"(cache.accessMode {model.cache.access_mode}, attached to one node), so they need {cards} {on}: lower "
                f"replicas to {largest.cards // model.gpus_per_replica}, use cache.accessMode ReadWriteMany on storage "
                f"several nodes mount, or add cards to {largest.name} in gpu.nodes")))
    if problems:
        return problems
    free = [n.cards for n in nodes]
    steady = [g.cards for i, m in models for g in _groups(m, i, m.replicas)]
    has = f"the inventory (gpu.nodes) has {supply}" + (f" ({inventory})" if len(cfg.gpu.nodes) > 1 else "")
    if need > supply:
        alone = len(models) > 1 and all(m.replicas * m.gpus_per_replica <= supply for _, m in models)
        return [Problem("models", (
            f"need {need} {card} ({_demand(models)}), {has}"
            + ("; each model fits alone, not all together" if alone else "")
            + f": {_lower(models)}, or add {need - supply} {card} to gpu.nodes"))]
    if not fits(steady, free):
        return [Problem("models", (
            f"need {need} {card} ({_demand(models)}) and {has}, but not on the nodes the pods can use: a replica's "
            f"GPUs are on one node, and so are all replicas sharing a ReadWriteOnce model cache: {_lower(models)}, or "
            "add cards to gpu.nodes"))]
    surges = []
    for i, model in models:
        try:
            surges.append((i, model, rollout_surge(model)))
        except ValueError:
            problems.append(Problem(f"models[{i}].extraValues.decode.strategy", (
                "not a Deployment strategy the program can count GPUs for: type RollingUpdate with rollingUpdate."
                "maxSurge and maxUnavailable as whole numbers or percentages, or type Recreate")))
    surging = [(i, m, s) for i, m, s in surges if s]
    if problems or not surging:
        return problems
    extra = sum(s * m.gpus_per_replica for _, m, s in surging)
    rolling = [g.cards for i, m, s in surges for g in _groups(m, i, m.replicas + s)]
    if need + extra <= supply and fits(rolling, free):
        return []
    keys = " and ".join(f"models[{i}].extraValues.decode.strategy.rollingUpdate.maxUnavailable" for i, _, _ in surging)
    return [Problem(f"models[{surging[0][0]}].extraValues.decode.strategy", (
        f"a rolling update needs {extra} more {card} while old and new pods overlap (maxUnavailable 0, surge "
        + ", ".join(f"{m.name} {s}x{m.gpus_per_replica}" for _, m, s in surging)
        + f"): the models need {need + extra} {card} then, {has}"
        + ("" if need + extra > supply else f", and they do not fit on its nodes ({inventory})")
        + f": set {keys} to 1 (an old pod goes first, the program's default), or "
        + (f"add {need + extra - supply} {card} to gpu.nodes" if need + extra > supply else
           f"add {card} cards to the node the surging model's pods run on (a replica's cards, and a ReadWriteOnce "
           "cache's pods, stay on one node: a card on another node does not help)")))]


def capacity_warnings(cfg: "StackConfig") -> list[str]:
    """A GPU stack that declares no GPU nodes: its capacity was not checked, said where `check` sees it."""
    models = gpu_models(cfg)
    if not models or cfg.gpu.nodes is not None:
        return []
    need = sum(m.replicas * m.gpus_per_replica for _, m in models)
    return [f"{NOT_CHECKED}: the models need {need} {cfg.gpu.selection.model} ({_demand(models)}); declare the GPU "
            "nodes as gpu.nodes: [{name, cards, model}] (names as `kubectl get nodes` prints them) and pods that "
            "could never be scheduled are refused before deploy"]


def not_checked(warnings: list[str]) -> bool:
    """Whether a render's warnings say GPU capacity was not checked."""
    return any(warning.startswith(NOT_CHECKED) for warning in warnings)
