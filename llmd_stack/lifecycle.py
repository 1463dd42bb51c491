"""A model's lifecycle against the deployed stack: what keeps, drops or would strand its model cache.

A model's name is in its cache PVC's URN and object name, and that PVC is protected and retained on delete. Taking a
model out of `models` would make `pulumi up` delete the PVC, and the engine stops on the protected resource without
a word from the program. The stack's last update exports every cache it holds (`modelCaches`); the next one reads
it back (program.deployed_outputs) and refuses, before registering anything, a config that would drop one without
saying so (`state: removed`). docs/models.md walks through each step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from .topology import Problem

if TYPE_CHECKING:
    from .config import ModelConfig, StackConfig

CACHE_TYPE = "llmd:model:ModelKitCache"  # components.modelkit.ModelKitCache's type token
PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
DOCS = "docs/models.md"


def cache_component_name(model: str) -> str:
    return f"{model}-cache"


def cache_pvc_name(model: str) -> str:
    """The PVC's Kubernetes name (components.modelkit: `<model>-model-cache`)."""
    return f"{model}-model-cache"


def cache_pvc_urn(project: str, stack: str, model: str) -> str:
    """The PVC's URN as the engine forms it: the parent component's type, then the PVC's, then its name."""
    return f"urn:pulumi:{stack}::{project}::{CACHE_TYPE}${PVC_TYPE}::{cache_component_name(model)}-pvc"


def keeps_cache(model: "ModelConfig") -> bool:
    """Whether the program registers a cache PVC for this model: serving or retired, with a ModelKit."""
    return model.state != "removed" and model.model_kit is not None


def deployed_caches(deployed: Mapping[str, Any], cfg: "StackConfig", project: str, stack: str) -> dict[str, dict]:
    """name -> {namespace, pvc, urn} of every model cache the stack's last update holds. Before `modelCaches` was
    exported, every deployed model is taken to have one (what the program deployed then: one per ModelKit)."""
    caches = deployed.get("modelCaches")
    if isinstance(caches, dict):
        return {name: dict(cache or {}) for name, cache in caches.items()}
    models = deployed.get("models")
    return {name: {} for name in models} if isinstance(models, dict) else {}


def _where(name: str, cache: Mapping[str, Any], cfg: "StackConfig", project: str, stack: str) -> tuple[str, str, str]:
    return (str(cache.get("namespace") or cfg.cluster.namespace), str(cache.get("pvc") or cache_pvc_name(name)),
            str(cache.get("urn") or cache_pvc_urn(project, stack, name)))


def delete_steps(name: str, cache: Mapping[str, Any], cfg: "StackConfig", project: str, stack: str) -> str:
    namespace, pvc, urn = _where(name, cache, cfg, project, stack)
    return (f"pulumi state unprotect --stack {stack} '{urn}', then pulumi up --stack {stack} (the PVC leaves the "
            f"stack; retain_on_delete keeps it and its data in the cluster until kubectl -n {namespace} delete pvc "
            f"{pvc})")


def lifecycle_problems(deployed: Mapping[str, Any] | None, cfg: "StackConfig", project: str,
                       stack: str) -> list[Problem]:
    """A deployed model cache the config would drop without `state: removed`: refused, with both ways out."""
    if not deployed:
        return []
    entries = {model.name: (i, model) for i, model in enumerate(cfg.models)}
    problems = []
    for name, cache in deployed_caches(deployed, cfg, project, stack).items():
        namespace, pvc, _ = _where(name, cache, cfg, project, stack)
        if name not in entries:
            holds = (f"the stack's last update holds its model cache (PVC {namespace}/{pvc}, protected)"
                     if "modelCaches" in deployed else
                     # Outputs from before `modelCaches`: a model without a ModelKit (the simulator) had no cache.
                     f"the stack's last update may hold its model cache (PVC {namespace}/{pvc}, protected; its outputs "
                     f"predate modelCaches, check with: pulumi stack --show-urns --stack {stack} | grep "
                     f"'{cache_component_name(name)}-pvc')")
            problems.append(Problem("models", (
                f"{name!r} is no longer in models, but {holds}: pulumi up would stop on it. To keep the cache, put the entry back "
                f"with state: retired (it serves nothing; the PVC stays as it is). To delete the cache, put the entry "
                f"back with state: removed, run {delete_steps(name, cache, cfg, project, stack)}, then drop the entry "
                f"({DOCS})")))
            continue
        i, model = entries[name]
        if model.state != "removed" and model.model_kit is None and "modelCaches" in deployed:
            problems.append(Problem(f"models[{i}].modelKit", (
                f"the stack's last update holds {name!r}'s model cache (PVC {namespace}/{pvc}, protected), which "
                f"goes without a modelKit: keep modelKit (with state: retired to stop serving), or drop the cache "
                f"with state: removed ({DOCS})")))
    return problems


def lifecycle_warnings(deployed: Mapping[str, Any] | None, cfg: "StackConfig", project: str, stack: str) -> list[str]:
    """What a `state: removed` entry does in this update, said before the engine acts on it."""
    if not deployed:
        return []  # never deployed (or rendered as such): a removed entry registers nothing, and there is nothing
    caches = deployed_caches(deployed, cfg, project, stack)
    warnings = []
    for i, model in enumerate(cfg.models):
        if model.state != "removed":
            continue
        if model.name in caches:
            warnings.append(
                f"models[{i}].state: removed: this update drops {model.name!r}'s model cache PVC from the stack; it "
                f"is protected, so first run {delete_steps(model.name, caches[model.name], cfg, project, stack)}; "
                "afterwards delete the entry")
        else:
            warnings.append(f"models[{i}].state: removed: nothing of {model.name!r} is left in the stack; delete "
                            "the entry")
    return warnings
