"""Offline engine: runs the real program in-process under Pulumi's mocks and records every registration.

The mock monitor sees what `pulumi up` would send to the engine: type, name, parent, dependencies, options and
inputs in Kubernetes wire form. Outputs echo the inputs, plus the `metadata.name` the Kubernetes provider would
auto-generate, so cross-references resolve as they would on a cluster (`preview=False`: every apply runs).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.config import set_all_config
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.chart_files import Staging

from .charts import (
    CONFIG_FILE_TYPE,
    RENDERED_TYPES,
    ChartCache,
    ChartNotCached,
    ChartRenderError,
    load_helm,
    render_provider_component,
    source_name,
)

SECRET = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
_SECRET_SIG = rpc._special_secret_sig
_SIG_KEY = rpc._special_sig_key
_RESOURCE_SIG = rpc._special_resource_sig
_OUTPUT_SIG = rpc._special_output_value_sig
# Provider-side components and groups: not Kubernetes objects themselves (their rendered children are).
NON_OBJECT_TYPES = ("kubernetes:helm.sh/", "kubernetes:yaml", "kubernetes:kustomize", "pulumi:providers:")


class DuplicateUrn(Exception):
    """Two resources with one URN: the engine refuses the program (`Duplicate resource URN`), so the render does."""


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str | None
    depends_on: list[str]
    protect: bool
    retain_on_delete: bool
    custom: bool
    provider: str | None
    inputs: dict[str, Any]  # what the engine records (and CrossGuard sees): `{}` for a Chart or ConfigFile
    aliases: list[str] = field(default_factory=list)
    program_inputs: dict[str, Any] | None = None  # a Chart's or ConfigFile's inputs as the program passed them
    rendered_by: str | None = None  # the Chart/ConfigFile URN that rendered this object

    @property
    def declared(self) -> dict[str, Any]:
        """What the program declared: a Chart's own inputs, else the recorded inputs."""
        return self.program_inputs if self.program_inputs is not None else self.inputs

    def to_json(self) -> dict[str, Any]:
        extra = {"programInputs": self.program_inputs} if self.program_inputs is not None else {}
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "dependsOn": self.depends_on,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "custom": self.custom,
            "provider": self.provider,
            "aliases": self.aliases,
            "inputs": self.inputs,
            **extra,
        }

    @property
    def is_kubernetes_object(self) -> bool:
        """A Kubernetes object the program declares directly (not a chart, YAML group or provider)."""
        return self.custom and self.type.startswith("kubernetes:") and not self.type.startswith(NON_OBJECT_TYPES)


@dataclass
class ChartRecord:
    """A Chart or ConfigFile: what it is (`name version` or the URL), and its children if it could be rendered."""

    urn: str
    label: str
    rendered: bool
    kind: str = "chart"  # or "file" (a ConfigFile)
    source: str = ""  # the chart's name or the file's name, as rules name what they need
    objects: int = 0
    reason: str = ""  # why it was not rendered


class ChartFailed(Exception):
    """Helm (or the YAML parser) refused what the program handed to a Chart or ConfigFile."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class RenderResult:
    project: str
    stack: str
    resources: list[Registration]
    outputs: dict[str, Any]
    secret_outputs: list[str]
    warnings: list[str] = field(default_factory=list)  # what the program logged at warning level or above
    charts: list[ChartRecord] = field(default_factory=list)  # every Chart/ConfigFile, rendered or not
    secrets_needed: list[str] = field(default_factory=list)  # the secret config keys a deploy needs
    stand_ins: list[str] = field(default_factory=list)  # those the stack file does not set: rendered with stand-ins

    @property
    def unrendered(self) -> list[ChartRecord]:
        return [c for c in self.charts if not c.rendered]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str | None = None) -> Registration:
        found = [r for r in self.of_type(type_) if name is None or r.name == name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_} {name or ''}, found {[r.name for r in found]}")
        return found[0]

    def by_urn(self) -> dict[str, Registration]:
        return {r.urn: r for r in self.resources}


def canonical(value: Any) -> Any:
    """Dict keys sorted at every level: protobuf maps carry no order, output must be byte-identical."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def _mask(value: Any) -> Any:
    """A secret value with its shape kept (keys stay readable) and every leaf replaced by "[secret]"."""
    value = _plain(value)
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return SECRET


def integral(value: Any) -> Any:
    """Mocks hand numbers over as floats; Kubernetes and Helm want `replicas: 2`, not `2.0`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [integral(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """Deserialized RPC properties with secrets replaced by "[secret]" and resource references by their URN."""
    if isinstance(value, dict):
        sig = value.get(_SIG_KEY)
        if sig == _SECRET_SIG:
            return _mask(value.get("value"))
        if sig == _RESOURCE_SIG:
            return value.get("urn")
        if sig == _OUTPUT_SIG:
            return SECRET if value.get("secret") else redact(value.get("value"))
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Deserialized properties with secret wrappers removed (for mock outputs, which stay inside the engine)."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def provider_autoname(name: str, urn: str) -> str:
    """The provider names an object `<name>-<8 random chars>`; offline the suffix is derived from the URN."""
    return f"{name}-{hashlib.sha256(urn.encode()).hexdigest()[:8]}"


READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"  # the engine's builtin invoke behind stack references


class _Mocks(pulumi_mocks.Mocks):
    def __init__(self, deployed_outputs: dict[str, Any] | None = None):
        # What reading a stack's outputs returns: those of its last update ({} for a stack never deployed).
        self.deployed_outputs = deployed_outputs

    def new_resource(self, args: pulumi_mocks.MockResourceArgs):
        outputs = _plain(dict(args.inputs))
        if args.typ.startswith("kubernetes:") and args.custom and isinstance(outputs.get("metadata"), dict):
            metadata = outputs["metadata"]
            if not metadata.get("name"):
                urn = f"{args.typ}::{args.name}"
                metadata["name"] = provider_autoname(args.name, urn)
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs):
        if args.token == READ_STACK_OUTPUTS:
            return {"name": args.args.get("name"), "outputs": dict(self.deployed_outputs or {}), "secretOutputNames": []}
        return {}


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks, cache: ChartCache):
        super().__init__(mocks)
        self.cache = cache
        self.registrations: list[Registration] = []
        self.charts: list[ChartRecord] = []
        self.chart_errors: list[str] = []
        self.duplicate_urns: list[str] = []
        self._urns: set[str] = set()
        self._pending: list[tuple[Registration, dict[str, Any]]] = []  # Charts/ConfigFiles to render after the run
        self._transforms: dict[str, list] = {}  # URN -> the transforms its options carry (they reach its children)
        self._parents: dict[str, str | None] = {}

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: the parent's full type chain, `$`, the type; the root stack's type is left out
        (Pulumi's resource.NewURN). The SDK's mock monitor keeps only the parent's last type and adds the stack's."""
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                type_ = f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{type_}::{name}"

    def _alias_urn(self, request, alias) -> str:
        """The URN an alias stands for: given outright, or built from the parts of the resource it overrides."""
        if alias.urn:
            return alias.urn
        spec = alias.spec
        # "No parent" means parented to the stack, as every top-level resource is.
        stack_urn = self.make_urn("", STACK_TYPE, f"{pulumi.get_project()}-{pulumi.get_stack()}")
        parent = stack_urn if spec.noParent else (spec.parentUrn or request.parent)
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:
            return response
        if response.urn in self._urns:
            self.duplicate_urns.append(response.urn)
        self._urns.add(response.urn)
        self._transforms[response.urn] = pulumi_mocks._resolve_callbacks(request.transforms)
        self._parents[response.urn] = request.parent or None
        inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
        recorded = canonical(integral(redact(inputs)))
        provider_side = request.type in RENDERED_TYPES
        registration = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            depends_on=sorted(set(request.dependencies)),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            custom=bool(request.custom),
            provider=request.provider or None,
            aliases=sorted(self._alias_urn(request, a) for a in request.aliases),
            # The provider registers a Chart/ConfigFile with no input properties (REFERENCE section 5).
            inputs={} if provider_side else recorded,
            program_inputs=recorded if provider_side else None,
        )
        self.registrations.append(registration)
        if provider_side:
            self._pending.append((registration, inputs))
        return response

    def render_charts(self) -> None:
        """Render every Chart/ConfigFile the program registered. Done once the program has run, outside the SDK's
        registration threads: the program never reads a Chart's children, so the result is the same, without
        contending for the interpreter with the program's own registrations. Helm renders in Go with the
        interpreter released, so two workers overlap it with YAML parsing; children are registered in URN order."""
        pending = [(chart, inputs, _plain(inputs)) for chart, inputs in sorted(self._pending, key=lambda p: p[0].urn)]
        self._pending.clear()

        def render(item: tuple[Registration, dict[str, Any], dict[str, Any]]):
            chart, _, plain = item
            try:
                return render_provider_component(chart.type, plain, chart.name, self.cache)
            except (ChartNotCached, ChartRenderError) as exc:
                return exc

        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(render, pending))
        for (chart, inputs, plain), outcome in zip(pending, outcomes):
            self._register_children(chart, inputs, plain, outcome)

    def _register_children(self, chart: Registration, inputs: dict[str, Any], plain: dict[str, Any], outcome) -> None:
        """Register what the provider would: each rendered object as a child of the Chart/ConfigFile."""
        source = source_name(chart.type, plain)
        if isinstance(outcome, ChartNotCached):
            self.charts.append(ChartRecord(chart.urn, outcome.label, False, _kind(chart.type), source, reason=str(outcome)))
            return
        if isinstance(outcome, ChartRenderError):
            self.chart_errors.append(f"{chart.name}: {outcome}")
            return
        children, label = outcome
        # A template can transform a secret value (b64enc, toJson...): a chart given secrets has every rendered
        # object masked but its identity, and config:no-secrets-in-chart-values refuses the stack.
        masked = _has_secret(inputs)
        urns: list[str] = []
        transforms = self._inherited_transforms(chart.urn)
        for child in children:
            obj, options = _transformed(transforms, child, pulumi.ResourceOptions(
                protect=chart.protect, retain_on_delete=child.retain_on_delete))  # protect is inherited from the parent
            obj = _identity_only(obj) if masked else obj
            if child.type == "kubernetes:core/v1:Secret":
                obj = {k: (_mask(v) if k in ("data", "stringData") else v) for k, v in obj.items()}
            urn = self.make_urn(chart.urn, child.type, child.name)
            urns.append(urn)
            self.registrations.append(
                Registration(
                    urn=urn,
                    type=child.type,
                    name=child.name,
                    parent=chart.urn,
                    depends_on=[urns[i] for i in child.depends_on],
                    protect=bool(options.protect),
                    retain_on_delete=bool(options.retain_on_delete),
                    custom=True,
                    provider=chart.provider,
                    # The provider's order (the chart's): deterministic already, unlike protobuf maps.
                    inputs=obj,
                    rendered_by=chart.urn,
                )
            )
        self.charts.append(ChartRecord(chart.urn, label, True, _kind(chart.type), source, objects=len(children)))


    def _inherited_transforms(self, urn: str) -> list:
        """The transforms the engine runs on a child of `urn`: those of `urn` and of each ancestor, innermost first,
        then the stack's."""
        found: list = []
        current: str | None = urn
        while current:
            found += self._transforms.get(current, [])
            current = self._parents.get(current)
        return found + list(self._stack_transforms)


def _transformed(transforms: list, child, options: pulumi.ResourceOptions) -> tuple[dict[str, Any], pulumi.ResourceOptions]:
    """A chart-rendered object and its options after the transforms (what the engine registers); each gets what the
    previous one returned."""
    import inspect

    props = child.object
    for transform in transforms:
        result = transform(pulumi.ResourceTransformArgs(True, child.type, child.name, props, options))
        if inspect.isawaitable(result):
            result = _sync_await(result)
        if result is not None:
            props, options = result.props, result.opts
    return props, options


def _kind(type_: str) -> str:
    return "file" if type_ == CONFIG_FILE_TYPE else "chart"


def _has_secret(value: Any) -> bool:
    """Whether deserialized inputs hold a secret anywhere (chart values can)."""
    if isinstance(value, dict):
        return value.get(_SIG_KEY) == _SECRET_SIG or any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _identity_only(obj: dict[str, Any]) -> dict[str, Any]:
    """An object with everything but apiVersion, kind, name and namespace replaced by "[secret]" (keys kept)."""
    metadata = obj.get("metadata") or {}
    kept = {k: metadata[k] for k in ("name", "namespace") if k in metadata}
    masked = {k: _mask(v) for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept, **masked}


def run_program(
    program: Callable[[], None],
    *,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    before_resources: Callable[[], Any] | None = None,
    cache: ChartCache | None = None,
    deployed_outputs: dict[str, Any] | None = None,
) -> RenderResult:
    """Run `program` as `pulumi up` would, against mocks, and return everything it registered.

    `config` maps fully qualified keys (`project:key`) to their string values, as the CLI passes them.
    `before_resources` runs after config is set and before the runtime starts: config validation goes there,
    so a bad config fails before any resource (even the root stack) is registered.
    Charts and remote YAML files are rendered from `cache` (default: `LLMD_CHART_CACHE`); one that is not cached
    stays an opaque component, listed in `RenderResult.unrendered`. ChartFailed when Helm refuses its values.
    `deployed_outputs`: the stack outputs of its last update (`pulumi stack output --json`), what the program reads
    through the engine's `readStackOutputs` on itself; None for a stack never deployed.
    """
    # A render builds millions of objects that live until it ends (the CRDs alone are 6 MB of YAML): the cyclic garbage
    # collector would walk them again and again for nothing (a fifth of the render). Off for the run, as it was.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(program, project, stack, config, secret_keys, before_resources, cache, deployed_outputs)
    finally:
        if collecting:
            gc.enable()
            # The run's garbage now, not at a random later moment: the Pulumi runtime leaves gRPC servers (its
            # transform callbacks) whose finalizers run Python code inside whatever the process does next (CPython
            # 3.11.7 then fails an ast.parse with "AST constructor recursion depth mismatch"). What survives is
            # frozen, so the next run's collection scans only what that run allocated.
            gc.collect()
            gc.freeze()


def _run(program, project, stack, config, secret_keys, before_resources, cache, deployed_outputs) -> RenderResult:
    # Helm's native library takes ~70 ms to load; it loads while the program runs (dlopen releases the interpreter).
    threading.Thread(target=load_helm, daemon=True).start()
    # The program stages nothing into the project: the render reads each staged path's file from the chart cache.
    Staging.copy = False
    set_all_config(dict(config), list(secret_keys))
    prepared = before_resources() if before_resources else None
    pulumi_settings.ROOT.set(None)
    # A previous render that failed inside an apply can leave RPCs and outputs pending: start clean.
    pulumi_settings.SETTINGS.rpc_manager.clear()
    pulumi_settings.SETTINGS.outputs.clear()
    mocks = _Mocks(deployed_outputs)
    monitor = _RecordingMonitor(mocks, cache or ChartCache.from_env())
    logger, logged = _collecting_logger()
    # The organization a DIY backend (the homelab's) always reports.
    pulumi_mocks.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=logger,
                           organization="organization")
    root = pulumi_settings.get_root_resource()

    def run() -> None:
        program(prepared) if before_resources else program()  # type: ignore[call-arg]

    _sync_await(run_pulumi_func(run))
    monitor.render_charts()
    outputs, secret_outputs = _resolve_outputs(getattr(root, "outputs", {}))
    pulumi_settings.ROOT.set(None)
    if monitor.duplicate_urns:
        raise DuplicateUrn(f"the program registers {', '.join(sorted(set(monitor.duplicate_urns)))} twice; the engine "
                           "refuses a duplicate resource URN (give one of them another name)")
    if monitor.chart_errors:
        raise ChartFailed(sorted(monitor.chart_errors))
    charts = sorted(monitor.charts, key=lambda c: c.urn)
    return RenderResult(
        project, stack, registration_order(monitor.registrations), outputs, secret_outputs, logged, charts
    )


def _collecting_logger() -> tuple[logging.Logger, list[str]]:
    """A logger that keeps the program's warnings for the caller instead of printing them."""
    logged: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(record.getMessage())

    logger = logging.Logger("llmd_stack.engine", level=logging.WARNING)
    logger.addHandler(_Collect())
    return logger, logged


def registration_order(registrations: list[Registration]) -> list[Registration]:
    """A deterministic order the engine could have registered in: parents, providers and dependencies first.

    The SDK sends registrations from a thread pool, so their arrival order varies from run to run; ties are
    broken by URN so that rendering twice gives byte-identical output.
    """
    import heapq

    children: dict[str, list[Registration]] = {}
    for r in registrations:
        if r.rendered_by:
            children.setdefault(r.rendered_by, []).append(r)
    registrations = [r for r in registrations if not r.rendered_by]
    by_urn = {r.urn: r for r in registrations}
    waits_on: dict[str, set[str]] = {}
    for r in registrations:
        before = {r.parent, *r.depends_on}
        if r.provider:
            before.add(r.provider.rsplit("::", 1)[0])
        waits_on[r.urn] = {u for u in before if u in by_urn and u != r.urn}
    unlocks: dict[str, list[str]] = {u: [] for u in by_urn}
    for urn, before in waits_on.items():
        for b in before:
            unlocks[b].append(urn)
    ready = [u for u, before in waits_on.items() if not before]
    heapq.heapify(ready)
    remaining = {u: len(b) for u, b in waits_on.items()}
    ordered: list[Registration] = []
    while ready:
        urn = heapq.heappop(ready)
        ordered.append(by_urn[urn])
        ordered += children.get(urn, [])  # the provider registers a chart's objects in its own order
        for nxt in unlocks[urn]:
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                heapq.heappush(ready, nxt)
    if len(ordered) < len(registrations) + sum(map(len, children.values())):  # no cycle in Pulumi; keep all anyway
        seen = {r.urn for r in ordered}
        for r in sorted((r for r in registrations if r.urn not in seen), key=lambda r: r.urn):
            ordered += [r, *children.get(r.urn, [])]
    return ordered


def _resolve_outputs(exports: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    resolved: dict[str, Any] = {}
    secret: list[str] = []

    async def resolve_all() -> None:
        for name in sorted(exports):
            output = pulumi.Output.from_input(exports[name])
            is_secret = await output.is_secret()
            value = await output.future(with_unknowns=True)
            if is_secret:
                secret.append(name)
            resolved[name] = SECRET if is_secret else redact(_deep_resolve(value))

    _sync_await(resolve_all())
    return resolved, secret


def _deep_resolve(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_resolve(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_deep_resolve(v) for v in value]
    return value
