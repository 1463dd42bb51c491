"""The deployment critical path of a render: how many sequential waves `pulumi up` must wait through.

A resource can start once everything it depends on is done. Waiting steps (charts, CRD bundles, Jobs, custom
resources that need a controller, workloads) take a wave; instant objects (namespaces, secrets, PVCs, RBAC,
policies) do not. A dependency on a component means a dependency on everything the component contains. A Chart
or ConfigFile is one waiting step that stands for the objects it renders (its children are not steps of their own).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmd_stack.engine import Registration, RenderResult

WAITING = (
    "kubernetes:helm.sh/",  # charts and releases: objects applied and awaited
    "kubernetes:yaml/",  # CRD bundles: established before use
    "kubernetes:batch/v1:Job",  # awaited to completion (the model download)
    "kubernetes:apps/v1:",  # workloads awaited to readiness
    "kubernetes:gateway.networking.k8s.io/",  # custom resources: accepted once a controller runs
    "kubernetes:monitoring.coreos.com/",
)
WAITING_EXACT = ("kubernetes:core/v1:Service",)  # awaited for endpoints (a ServiceAccount is not: exact match)
ACTIONS = ("kubernetes:",)


def is_waiting(type_: str) -> bool:
    return type_.startswith(WAITING) or type_ in WAITING_EXACT


@dataclass
class Step:
    name: str
    type: str
    wave: int
    waiting: bool
    after: str | None  # the dependency that decides its wave


def _actionable(r: Registration) -> bool:
    return r.type.startswith(ACTIONS)


def steps(result: RenderResult) -> list[Step]:
    by_urn = result.by_urn()
    children: dict[str, list[str]] = {}
    for r in result.resources:
        if r.parent:
            children.setdefault(r.parent, []).append(r.urn)

    def expand(urn: str) -> set[str]:
        r = by_urn.get(urn)
        if r is None:
            return set()
        if _actionable(r):
            return {urn}
        return {u for child in children.get(urn, []) for u in expand(child)}

    waves: dict[str, int] = {}
    decided_by: dict[str, str | None] = {}

    def wave(urn: str) -> int:
        if urn in waves:
            return waves[urn]
        r = by_urn[urn]
        level, after = 1, None
        for dep in sorted({u for d in r.depends_on for u in expand(d)} - {urn}):
            dep_done = wave(dep) + (1 if is_waiting(by_urn[dep].type) else 0)
            if dep_done > level:
                level, after = dep_done, dep
        waves[urn], decided_by[urn] = level, after
        return level

    return [
        Step(r.name, r.type, wave(r.urn), is_waiting(r.type), by_urn[decided_by[r.urn]].name if decided_by[r.urn] else None)
        for r in result.resources
        if _actionable(r) and not r.type.startswith("pulumi:providers:") and not r.rendered_by
    ]


def longest_chain(all_steps: list[Step]) -> list[Step]:
    by_name = {s.name: s for s in all_steps}
    last = max((s for s in all_steps if s.waiting), key=lambda s: (s.wave, s.name))
    chain = [last]
    while chain[-1].after:
        chain.append(by_name[chain[-1].after])
    return [s for s in reversed(chain) if s.waiting]


# The llm-d guides' helmfile installs its releases one after another (`needs:`): gateway provider CRDs and
# controller, then infra (the Gateway), then the inferencepool chart, then modelservice, whose pods download the
# model as they start.
GUIDE_ORDER = [
    "Gateway API + GAIE CRDs",
    "gateway provider CRDs (kgateway-crds)",
    "gateway provider (kgateway)",
    "llm-d-infra (Gateway)",
    "inferencepool (EPP + pool)",
    "modelservice (decode pods; the model download starts here)",
]
