"""What a rule sees and returns: plain data, so the same rule runs in CrossGuard and over the offline render."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Mapping, NamedTuple

Level = Literal["advisory", "mandatory", "disabled"]


class Res(NamedTuple):
    """One resource as a rule sees it: the same fields in `pulumi preview` and offline."""

    type: str
    props: Mapping[str, Any]
    urn: str
    name: str
    protect: bool


class Violation(NamedTuple):
    urn: str | None
    message: str


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    level: Level
    fix: str  # how to fix it: appended to every message
    resource_check: Callable[[Res, Mapping[str, Any]], list[str]] | None = None
    stack_check: Callable[[list[Res], Mapping[str, Any]], list[Violation]] | None = None
    config: Mapping[str, Any] = field(default_factory=dict)  # defaults; overridable through policy config


# --- helpers over Kubernetes objects and chart values ---------------------------------------------------------------

WORKLOAD_POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def is_chart(res: Res, name: str) -> bool:
    return res.type.startswith("kubernetes:helm.sh/") and str(res.props.get("chart", "")).rstrip("/").endswith(name)


def chart_values(res: Res) -> Mapping[str, Any]:
    values = res.props.get("values")
    return values if isinstance(values, Mapping) else {}


def k8s_objects(res: Res) -> Iterator[Mapping[str, Any]]:
    """Objects a resource declares: itself when it is a Kubernetes object, and a chart's `extraObjects`."""
    if res.type.startswith("kubernetes:") and isinstance(res.props.get("kind"), str):
        yield res.props
    for obj in chart_values(res).get("extraObjects", []) or []:
        if isinstance(obj, Mapping):
            yield obj


def pod_specs(res: Res) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(namespace, pod spec) of every pod the resource runs: workloads, and modelservice roles."""
    for obj in k8s_objects(res):
        path = WORKLOAD_POD_SPEC.get(str(obj.get("kind")))
        spec = dig(obj, *path) if path else None
        if isinstance(spec, Mapping):
            yield str(dig(obj, "metadata", "namespace") or res.props.get("namespace") or ""), spec
    if is_chart(res, "llm-d-modelservice"):
        values = chart_values(res)
        for role in ("decode", "prefill"):
            role_values = values.get(role)
            if isinstance(role_values, Mapping) and role_values.get("create", True) and role_values.get("containers"):
                yield str(res.props.get("namespace") or ""), {
                    "containers": role_values.get("containers") or [],
                    "initContainers": role_values.get("initContainers") or [],
                    "volumes": role_values.get("volumes") or [],
                    "securityContext": role_values.get("podSecurityContext") or {},
                }


def containers(pod_spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            if isinstance(container, Mapping):
                yield container


def resource_namespace(res: Res) -> str:
    return str(dig(res.props, "metadata", "namespace") or res.props.get("namespace") or "")


def modelservice_pod_labels(res: Res) -> dict[str, str]:
    """Labels the modelservice chart puts on decode pods: `modelArtifacts.labels` + `llm-d.ai/role: decode`."""
    labels = dig(chart_values(res), "modelArtifacts", "labels") or {}
    return {**{str(k): str(v) for k, v in labels.items()}, "llm-d.ai/role": "decode"}


def decode_container(res: Res) -> Mapping[str, Any]:
    found = dig(chart_values(res), "decode", "containers") or [{}]
    return found[0] if isinstance(found[0], Mapping) else {}


def command_line(container: Mapping[str, Any]) -> str:
    return " ".join(str(x) for x in [*(container.get("command") or []), *(container.get("args") or [])])
