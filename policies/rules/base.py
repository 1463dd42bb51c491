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
    parent: str = ""  # the parent's URN: a chart-rendered object's is its Chart's (CrossGuard's `opts.parent`)


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
    # Judges every object whatever its origin: an unrendered chart's objects leave it not verified offline.
    any_object: bool = False
    # The charts (chart names; YAML files by file name) whose objects the rule needs: offline, if one was not
    # rendered, the rule's verdict means nothing and it is reported as not verified.
    charts: tuple[str, ...] = ()
    # What the rule judges: with nothing of it in the stack the rule is "not applicable", not "ok". None: always.
    applies_to: Callable[[Res], bool] | None = None

    def applicable(self, resources: list[Res]) -> bool:
        return self.applies_to is None or any(self.applies_to(r) for r in resources)


# --- helpers over Kubernetes objects ----------------------------------------------------------------------------------
# Rules judge objects, never a Chart's inputs: in a real preview a Chart/ConfigFile has no inputs and CrossGuard sees
# each rendered object as a resource of its own (REFERENCE section 5). The offline render registers the same shapes.

WORKLOAD_POD_SPEC = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
ROLE_LABEL = "llm-d.ai/role"  # modelservice labels every model-server pod with its role (decode/prefill)


def dig(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def is_object(res: Res) -> bool:
    return res.type.startswith("kubernetes:") and isinstance(res.props.get("kind"), str)


def kind_of(res: Res) -> str:
    return str(res.props.get("kind")) if is_object(res) else ""


def name_of(res: Res) -> str:
    return str(dig(res.props, "metadata", "name") or "")


def resource_namespace(res: Res) -> str:
    return str(dig(res.props, "metadata", "namespace") or "")


def of_kind(resources: list[Res], kind: str) -> list[Res]:
    return [r for r in resources if kind_of(r) == kind]


def pod_spec(res: Res) -> Mapping[str, Any] | None:
    path = WORKLOAD_POD_SPEC.get(kind_of(res))
    spec = dig(res.props, *path) if path else None
    return spec if isinstance(spec, Mapping) else None


def pod_labels(res: Res) -> dict[str, str]:
    """Labels of the pods a workload runs (its template's; a Pod's own)."""
    path = ("metadata", "labels") if kind_of(res) == "Pod" else ("spec", "template", "metadata", "labels")
    if kind_of(res) == "CronJob":
        path = ("spec", "jobTemplate", "spec", "template", "metadata", "labels")
    labels = dig(res.props, *path) or {}
    return {str(k): str(v) for k, v in labels.items()} if isinstance(labels, Mapping) else {}


def pod_specs(res: Res) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(namespace, pod spec) of the pods a workload object runs."""
    spec = pod_spec(res)
    if spec is not None:
        yield resource_namespace(res), spec


def containers(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if isinstance(container, Mapping):
                yield container


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A non-empty matchLabels-style selector that the labels satisfy."""
    return bool(selector) and all(labels.get(str(k)) == str(v) for k, v in (selector or {}).items())


def workloads_selected(resources: list[Res], namespace: str, selector: Mapping[str, Any] | None) -> list[Res]:
    return [r for r in resources if pod_spec(r) is not None and resource_namespace(r) == namespace
            and selects(selector, pod_labels(r))]


def is_model_server(res: Res) -> bool:
    """A workload whose pods are model servers (modelservice's role label)."""
    return pod_spec(res) is not None and ROLE_LABEL in pod_labels(res)


def model_servers(resources: list[Res]) -> list[Res]:
    return [r for r in resources if is_model_server(r)]


def main_container(res: Res) -> Mapping[str, Any]:
    """The first app container of a workload (modelservice puts vLLM first)."""
    found = (pod_spec(res) or {}).get("containers") or [{}]
    return found[0] if isinstance(found[0], Mapping) else {}


def command_line(container: Mapping[str, Any]) -> str:
    return " ".join(str(x) for x in [*(container.get("command") or []), *(container.get("args") or [])])


def flags(container: Mapping[str, Any]) -> dict[str, str]:
    """Go-style flags of a container's args: `--name=value`, `--name value`, or a bare `--name` (true)."""
    args = [str(a) for a in container.get("args") or []]
    found: dict[str, str] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("-"):
            name = arg.lstrip("-")
            if "=" in name:
                name, value = name.split("=", 1)
            elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                value, i = args[i + 1], i + 1
            else:
                value = "true"
            found[name] = value
        i += 1
    return found


def endpoint_pickers(pool: Res, resources: list[Res]) -> list[Res]:
    """The workloads behind a pool's endpointPickerRef (its Service's selector)."""
    namespace = resource_namespace(pool)
    service_name = dig(pool.props, "spec", "endpointPickerRef", "name")
    for service in of_kind(resources, "Service"):
        if resource_namespace(service) == namespace and name_of(service) == service_name:
            return workloads_selected(resources, namespace, dig(service.props, "spec", "selector"))
    return []


CHART_TYPES = ("kubernetes:helm.sh/v4:Chart", "kubernetes:yaml/v2:ConfigFile", "kubernetes:yaml/v2:ConfigGroup")


def urn_types(urn: str) -> list[str]:
    """The type chain of a URN (`urn:pulumi:<stack>::<project>::<parent types>$<type>::<name>`), outermost first."""
    parts = urn.split("::")
    return parts[2].split("$") if len(parts) >= 4 else []


def urn_name(urn: str) -> str:
    parts = urn.split("::")
    return parts[-1] if len(parts) >= 4 else ""


def rendering_chart(res: Res) -> str:
    """The resource name of the Chart or YAML bundle that rendered this object ('' if the program declared it): all a
    real preview tells of a chart-rendered object's origin, since the Chart itself reaches CrossGuard with no inputs.
    From the parent CrossGuard names, else from the object's own URN (its parent's type, and the prefix the provider
    gives a child's name: the Chart's resource name)."""
    if res.parent:
        return urn_name(res.parent) if urn_types(res.parent)[-1:] and urn_types(res.parent)[-1] in CHART_TYPES else ""
    types = urn_types(res.urn)
    return urn_name(res.urn).split(":", 1)[0] if len(types) >= 2 and types[-2] in CHART_TYPES else ""


def chart_label(res: Res) -> str:
    """The `helm.sh/chart` label Helm charts put on what they render (`<chart>-<version>`), or ''."""
    return str((dig(res.props, "metadata", "labels") or {}).get("helm.sh/chart") or "")


def of_kinds(*kinds: str) -> Callable[[Res], bool]:
    return lambda res: kind_of(res) in kinds


def is_workload(res: Res) -> bool:
    return pod_spec(res) is not None


def is_model_loader(res: Res) -> bool:
    return kind_of(res) == "Job" and dig(res.props, "metadata", "labels", "app.kubernetes.io/component") == "model-loader"
