"""Chart cache and offline rendering of `helm.v4.Chart` and `yaml.v2.ConfigFile` as pulumi-kubernetes does it.

What the provider does, read from pulumi-kubernetes (provider/pkg/provider/helm/v4/chart.go, yaml/v2/yaml.go) and
Helm (pkg/action, pkg/releaseutil), and mirrored here (REFERENCE section 5):
- `helm template` with `DisableHooks` (hook objects dropped), CRDs from `crds/` first unless `skipCrds`, release
  name = the `name` input or the resource name, namespace = the `namespace` input; NOTES.txt is not an object;
- Helm's manifest order: template files by path, documents in file order, stable-sorted by kind (InstallOrder);
- objects without a namespace get the default one when their kind is namespaced;
- registration in dependency waves (cli-utils: a CRD before its custom resources, a Namespace before what lives in
  it), each object a child named `<prefix>:<namespace>/<name>` or `<prefix>:<name>`, prefix = `resourcePrefix` or
  the resource name; a Secret's `data`/`stringData` are secret; `helm.sh/resource-policy: keep` retains on delete.

The cache is a list of folders (`LLMD_CHART_CACHE`, colon-separated; else ~/.cache/llmd-homelab/charts) laid out
as `<chart name>-<version>.tgz` and `urls/<host>/<path>`. Rendering never touches the network.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import sys
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import urlparse

import yaml

from components.chart_files import (
    CACHE_ENV,
    DEFAULT_CACHE,
    PROGRAM_DIR,
    PULL_COMMAND,
    ChartCache,
    ChartFileError,
    ChartMissing,
    archive_name,
    chart_name,
    staged_relative,
    url_path,
    verify,
)

CHART_TYPE = "kubernetes:helm.sh/v4:Chart"
CONFIG_FILE_TYPE = "kubernetes:yaml/v2:ConfigFile"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"  # one opaque resource, for the engine too: never rendered
RENDERED_TYPES = (CHART_TYPE, CONFIG_FILE_TYPE)
# The provider's namespace when neither the Chart nor the provider names one (kubeconfig context default).
DEFAULT_NAMESPACE = "default"
HOOK_ANNOTATION = "helm.sh/hook"
RESOURCE_POLICY = "helm.sh/resource-policy"
DEPENDS_ON_ANNOTATION = "config.kubernetes.io/depends-on"

# Helm's InstallOrder (pkg/releaseutil/kind_sorter.go); other kinds come after, alphabetically, stable.
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy",
    "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
    "PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
    "ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob",
    "IngressClass", "Ingress", "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]
_KIND_RANK = {kind: i for i, kind in enumerate(INSTALL_ORDER)}

# Built-in kinds that are cluster-scoped; a custom kind's scope comes from a CRD in the same render (else namespaced,
# which is what every custom kind this stack deploys is).
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterRole", "ClusterRoleBinding",
    "ComponentStatus", "CustomResourceDefinition", "DeviceClass", "FlowSchema", "GatewayClass", "IngressClass",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "MutatingWebhookConfiguration", "Namespace", "Node",
    "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "ResourceSlice",
    "RuntimeClass", "SecurityContextConstraints", "StorageClass", "StorageVersionMigration",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration",
    "VolumeAttachment", "VolumeAttributesClass",
})


# A chart or file missing from the cache: the same error the program raises under the engine.
ChartNotCached = ChartMissing


def missing_message(labels: list[str], cache: ChartCache, what: str = "not rendered, so not checked") -> str:
    """One line: what could not be rendered, and the ways to get it (the CLI, `make render` and `make test` say this)."""
    return (f"{what}: {', '.join(labels)} (not in the chart cache {cache.describe()}); fetch them with "
            f"`{PULL_COMMAND}` (needs network access to their registries), or set {CACHE_ENV} to a folder that holds "
            "them (a chart mirror)")


class ChartRenderError(ValueError):
    """Helm refused the chart with these values (a template `required`, a schema violation)."""


# --- where charts come from ------------------------------------------------------------------------------------------


_ARCHIVE = re.compile(r"^(?P<name>.+?)-(?P<version>v?[0-9][A-Za-z0-9.+_-]*)\.tgz$")  # `<chart>-<version>.tgz`


def source_name(type_: str, inputs: Mapping[str, Any]) -> str:
    """What rules name a chart or file by: the chart's name, or the file name of a YAML bundle."""
    if type_ == CONFIG_FILE_TYPE:
        return urlparse(str(inputs.get("file", ""))).path.rsplit("/", 1)[-1]
    chart = chart_name(str(inputs.get("chart", "")))
    archive = _ARCHIVE.match(chart)
    return archive["name"] if archive else chart


def is_url(file: str) -> bool:
    return urlparse(file).scheme in ("http", "https")


def is_local(chart: str) -> bool:
    """A chart path (Helm's rule: absolute, or starting with `.`), not a reference to fetch."""
    return chart.startswith((".", "/"))


def local_file(path: str, cache: ChartCache, what: str, version: str | None) -> Path:
    """The file a local path names, as the provider reads it (relative to the program's directory). A staged path
    (`.charts/...`) is read from the chart cache, as `pulumi up` would stage it, and checked against the lock."""
    relative = staged_relative(path)
    if relative is None:
        return PROGRAM_DIR / path
    found = cache.find(relative)
    if found is None:
        raise ChartNotCached(what, version, cache)
    verify(relative, found)
    return found


def chart_file(inputs: Mapping[str, Any], cache: ChartCache) -> Path:
    """The archive a Chart's `chart` and `version` name: a local (staged) path, or a reference found in the cache."""
    chart, version = str(inputs.get("chart", "")), str(inputs.get("version", ""))
    name = source_name(CHART_TYPE, inputs)
    if is_local(chart):
        return local_file(chart, cache, name, version)
    found = cache.find(archive_name(chart, version))
    if found is None:
        raise ChartNotCached(name, version, cache)
    return found


def yaml_file(file: str, cache: ChartCache) -> Path:
    """The YAML a ConfigFile's `file` names: a URL (from the cache, as the provider would fetch it) or a local path."""
    if is_url(file):
        found = cache.find(url_path(file))
        if found is None:
            raise ChartNotCached(file, None, cache)
        return found
    relative = staged_relative(file)
    return local_file(file, cache, f"https://{relative[len('urls/'):]}" if relative else file, None)


# --- one rendered object, as the engine registers it -----------------------------------------------------------------


@dataclass
class RenderedObject:
    type: str  # the Pulumi type token, e.g. kubernetes:apps/v1:Deployment
    name: str  # the resource name: <prefix>:<namespace>/<name>
    object: dict[str, Any]
    depends_on: list[int] = field(default_factory=list)  # indexes of earlier objects of the same Chart
    retain_on_delete: bool = False


def type_token(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion"))
    group_version = f"core/{api_version}" if "/" not in api_version else api_version
    return f"kubernetes:{group_version}:{obj.get('kind')}"


def _group(obj: Mapping[str, Any]) -> str:
    api_version = str(obj.get("apiVersion", ""))
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return "" if group == "core" else group


def _meta(obj: Mapping[str, Any], key: str) -> Any:
    metadata = obj.get("metadata")
    return metadata.get(key) if isinstance(metadata, Mapping) else None


class _ManifestLoader(yaml.CSafeLoader):
    """YAML as Kubernetes reads manifests: a plain `=` is the string "=" (YAML 1.1's `!!value` type, which PyYAML
    cannot construct; prometheus-operator's CRDs hold one)."""


_ManifestLoader.add_constructor("tag:yaml.org,2002:value", yaml.constructor.SafeConstructor.construct_yaml_str)


# How Helm splits a rendered template into manifests (pkg/releaseutil SplitManifests): a `---` that starts a line ends
# a document whatever follows it, so `---# comment` does too (cert-manager's chart writes one), which YAML does not.
_HELM_SEPARATOR = re.compile(r"(?:^|\s*\n)---\s*")


def _helm_manifests(text: str) -> list[Any]:
    return [yaml.load(part, Loader=_ManifestLoader) for part in _HELM_SEPARATOR.split(text) if part.strip()]


def _documents(text: str, helm: bool = False) -> list[dict[str, Any]]:
    """The non-empty objects of a YAML stream (split as Helm splits a rendered template with `helm`); `kind: List`
    expanded into its items."""
    found: list[dict[str, Any]] = []
    for doc in _helm_manifests(text) if helm else yaml.load_all(text, Loader=_ManifestLoader):
        if not isinstance(doc, dict) or not doc:
            continue
        if str(doc.get("kind", "")).endswith("List") and isinstance(doc.get("items"), list):
            found += [item for item in doc["items"] if isinstance(item, dict) and item]
        else:
            found.append(doc)
    return found


def _normalize(objects: list[dict[str, Any]], namespace: str, where: str) -> None:
    """Default namespace on namespaced objects without one; `core/v1` -> `v1`; every object named."""
    cluster_crds = {
        (dig_str(o, "spec", "group"), dig_str(o, "spec", "names", "kind"))
        for o in objects
        if o.get("kind") == "CustomResourceDefinition" and dig_str(o, "spec", "scope") == "Cluster"
    }
    for obj in objects:
        if not obj.get("kind") or not obj.get("apiVersion"):
            raise ChartRenderError(f"{where}: an object has no kind or apiVersion")
        if not _meta(obj, "name"):
            raise ChartRenderError(f"{where}: a {obj.get('kind')} has no metadata.name")
        if str(obj["apiVersion"]).startswith("core/"):
            obj["apiVersion"] = str(obj["apiVersion"])[len("core/"):]
        namespaced = obj["kind"] not in CLUSTER_SCOPED_KINDS and (_group(obj), obj["kind"]) not in cluster_crds
        if namespaced and not _meta(obj, "namespace"):
            obj["metadata"]["namespace"] = namespace


def dig_str(value: Any, *path: str) -> str:
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    return str(value) if value is not None else ""


def _edges(objects: list[dict[str, Any]]) -> list[set[int]]:
    """For each object, the objects it waits for (cli-utils' dependency graph: CRDs, Namespaces, depends-on)."""
    crd_index = {
        (dig_str(o, "spec", "group"), dig_str(o, "spec", "names", "kind")): i
        for i, o in enumerate(objects)
        if o.get("kind") == "CustomResourceDefinition"
    }
    namespace_index = {_meta(o, "name"): i for i, o in enumerate(objects) if o.get("kind") == "Namespace" and o.get("apiVersion") == "v1"}
    identity = {
        (_group(o), o.get("kind"), _meta(o, "namespace") or "", _meta(o, "name")): i for i, o in enumerate(objects)
    }
    waits: list[set[int]] = []
    for i, obj in enumerate(objects):
        before = set()
        if (_group(obj), obj.get("kind")) in crd_index:
            before.add(crd_index[(_group(obj), obj.get("kind"))])
        if _meta(obj, "namespace") in namespace_index:
            before.add(namespace_index[_meta(obj, "namespace")])
        annotations = _meta(obj, "annotations") or {}
        for ref in str(annotations.get(DEPENDS_ON_ANNOTATION, "")).split(","):
            # <group>/namespaces/<namespace>/<kind>/<name> or <group>/<kind>/<name>
            parts = ref.strip().split("/")
            if len(parts) == 5 and parts[1] == "namespaces":
                key = (parts[0], parts[3], parts[2], parts[4])
            elif len(parts) == 3:
                key = (parts[0], parts[1], "", parts[2])
            else:
                continue
            if key in identity:
                before.add(identity[key])
        before.discard(i)
        waits.append(before)
    return waits


def _registration_order(objects: list[dict[str, Any]]) -> list[tuple[int, set[int]]]:
    """(object index, its dependencies) in the provider's order: dependency waves, source order inside a wave."""
    waits = _edges(objects)
    done: set[int] = set()
    order: list[tuple[int, set[int]]] = []
    while len(done) < len(objects):
        wave = [i for i in range(len(objects)) if i not in done and waits[i] <= done]
        if not wave:  # a cycle: cli-utils refuses it, so does the provider
            raise ChartRenderError("the objects' depends-on annotations form a cycle")
        order += [(i, waits[i]) for i in wave]
        done.update(wave)
    return order


def register_objects(objects: list[dict[str, Any]], prefix: str) -> list[RenderedObject]:
    """The children the provider registers for these (normalized) objects, in its order."""
    registered: list[RenderedObject] = []
    position: dict[int, int] = {}
    for index, waits in _registration_order(objects):
        obj = objects[index]
        namespace, name = _meta(obj, "namespace"), _meta(obj, "name")
        resource_name = f"{namespace}/{name}" if namespace else str(name)
        if prefix:
            resource_name = f"{prefix}:{resource_name}"
        keep = (_meta(obj, "annotations") or {}).get(RESOURCE_POLICY) == "keep"
        position[index] = len(registered)
        registered.append(
            RenderedObject(type_token(obj), resource_name, obj, sorted(position[w] for w in waits), retain_on_delete=keep)
        )
    return registered


# --- Helm ------------------------------------------------------------------------------------------------------------

def _open_remote_refs(schema: Any) -> tuple[Any, int]:
    """A values schema with every `$ref` to a URL replaced by an open schema, and how many there were."""
    if isinstance(schema, dict):
        if str(schema.get("$ref", "")).startswith(("http://", "https://")):
            return {}, 1
        count, out = 0, {}
        for key, value in schema.items():
            out[key], n = _open_remote_refs(value)
            count += n
        return out, count
    if isinstance(schema, list):
        items = [_open_remote_refs(v) for v in schema]
        return [v for v, _ in items], sum(n for _, n in items)
    return schema, 0


def offline_archive(data: bytes) -> tuple[bytes, int]:
    """The chart archive with remote schema `$ref`s opened (Helm would fetch them; a render never touches the
    network), and how many were opened. Everything else in the schemas is still enforced."""
    opened = 0
    source = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")
    members = source.getmembers()
    patched: dict[str, bytes] = {}
    for member in members:
        if member.isfile() and member.name.endswith("values.schema.json"):
            raw = source.extractfile(member).read()  # type: ignore[union-attr]
            if b'"http' in raw:
                schema, n = _open_remote_refs(json.loads(raw))
                if n:
                    patched[member.name], opened = json.dumps(schema).encode(), opened + n
    if not patched:
        return data, 0
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as target:
        for member in members:
            content = patched.get(member.name)
            if content is None:
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
            else:
                member.size = len(content)
                target.addfile(member, io.BytesIO(content))
    return out.getvalue(), opened


def load_helm() -> None:
    """Load Helm's native library (idempotent); a render calls it first, a caller may call it early."""
    try:
        import helm_python  # noqa: F401
    except ImportError:
        pass  # reported by the render that needs it


# Every call into Helm's native library, one at a time (loading, reading CRDs, rendering): the bench once saw a render
# fail with two concurrent ones. Loaded charts are kept for the process: a chart object freed by the garbage collector
# (from whichever thread dropped it) would call into the library outside the lock.
_HELM_LOCK = threading.RLock()
_LOADED: dict[tuple[str, float], Any] = {}


def _load_chart(path: str, mtime: float):
    import helm_python  # imported lazily: the native library loads once, on the first render that needs it

    with _HELM_LOCK:
        if (path, mtime) not in _LOADED:
            data, _ = offline_archive(Path(path).read_bytes())
            _LOADED[(path, mtime)] = helm_python.Chart.load_archive(data)
        return _LOADED[(path, mtime)]


PARSED_VERSION = "1"  # bump when _documents changes what it returns


def _machine_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmd-homelab"


def machine_cached(folder: str, name: str, compute: Callable[[], str]) -> str:
    """`compute()`, kept in `~/.cache/llmd-homelab/<folder>/<name>` (written atomically: renders may run side by
    side) and read back from there next time. Without a writable cache folder it just computes."""
    cached = _machine_cache() / folder / name
    try:
        return cached.read_text()
    except OSError:
        pass
    text = compute()
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.part")
        partial.write_text(text)
        os.replace(partial, cached)
    except OSError:
        pass
    return text


def parsed_json(text: str, helm: bool = False) -> str:
    """`_documents(text)` as JSON, through a disk cache keyed by the text's sha256: YAML that never changes (CRD
    bundles, a chart's `crds/`) is parsed once per machine, not on every render (kube-prometheus-stack's CRDs are
    4.5 MB, a second of parsing)."""
    import hashlib

    key = hashlib.sha256(f"{PARSED_VERSION}\0{'helm' if helm else 'yaml'}\0{text}".encode()).hexdigest()
    return machine_cached("parsed", f"{key}.json", lambda: json.dumps(_documents(text, helm)))


@functools.lru_cache(maxsize=32)
def _chart_crds(path: str, mtime: float) -> str:
    """The objects of the chart's `crds/` folders (its subcharts' included), as JSON: they do not depend on the
    values, so each archive's are parsed once."""
    chart = _load_chart(path, mtime)
    with _HELM_LOCK:
        text = "\n---\n".join(crd.get("data", "") for crd in chart.crds)
    return parsed_json(text)


LARGE_TEMPLATE = 64 * 1024  # characters of one rendered template


@functools.lru_cache(maxsize=512)
def _render_cached(path: str, mtime: float, values_json: str, release: str, namespace: str) -> str:
    """Helm's manifest (hooks dropped, kind-sorted) as JSON; cached since tests render the same often.

    Helm's render validates the values against the schemas of the chart and its enabled subcharts, as install does.
    """
    import helm_python

    chart = _load_chart(path, mtime)
    values = json.loads(values_json)
    try:
        with _HELM_LOCK:
            where = f"chart {chart.name} {chart.version}"
            rendered = chart.render(values, name=release, namespace=namespace, is_install=True)
    except helm_python.HelmError as exc:
        # Helm's schema report spans lines ("chart:\n- at '/key': ..."): one line per problem for the CLI.
        raise ChartRenderError(f"{where}: {' '.join(str(exc).split())}") from None
    manifests: list[dict[str, Any]] = []
    for template in sorted(rendered):
        if template.endswith("NOTES.txt"):
            continue
        text = rendered[template]
        # A large template is most often static (a CRDs chart's templates): parsed once per machine, as crds/ are.
        documents = json.loads(parsed_json(text, helm=True)) if len(text) > LARGE_TEMPLATE else _documents(text, helm=True)
        manifests += [doc for doc in documents if HOOK_ANNOTATION not in (_meta(doc, "annotations") or {})]
    manifests.sort(key=lambda o: (_KIND_RANK.get(str(o.get("kind")), len(_KIND_RANK)), "" if str(o.get("kind")) in _KIND_RANK else str(o.get("kind"))))
    return json.dumps(manifests)


# pulumi-kubernetes runs a Chart's plugins and post-renderers from the program's directory: so does the render.
PROGRAM_PYTHON = ".venv/bin/python"  # Pulumi.yaml `virtualenv: .venv`: the interpreter `pulumi up` runs


IN_PROCESS = ("-m", "components.helm_post_render")


def _post_render_in_process(text: str, args: tuple[str, ...], where: str) -> str:
    """What `main` prints for this input and these arguments (charts render on threads: no stdio swapping)."""
    from components.helm_post_render import transform

    try:
        return transform(text, *args[2:])
    except SystemExit as exc:
        raise ChartRenderError(f"{where}: post-renderer {' '.join(IN_PROCESS)} failed: {exc}") from None


@functools.lru_cache(maxsize=64)
def _post_render(manifests_json: str, command: str, args: tuple[str, ...], where: str) -> str:
    """Helm's exec post-renderer: the rendered manifests (not the CRDs of `crds/`) through `command` on stdin/stdout."""
    import subprocess

    text = yaml.safe_dump_all(json.loads(manifests_json), sort_keys=False)
    if command == PROGRAM_PYTHON and args[:2] == IN_PROCESS:
        # The program's own post-renderer: its `main` run here on the same YAML text, not in a new interpreter
        # (one per chart: 64 EPPs took seconds). tests/test_body_routing.py checks both give the same objects.
        return json.dumps(_documents(_post_render_in_process(text, args, where)))
    executable = command
    if command == PROGRAM_PYTHON and not (PROGRAM_DIR / command).exists():
        executable = sys.executable  # the program's interpreter, wherever this checkout's venv lives
    try:
        proc = subprocess.run([executable, *args], input=text, capture_output=True, text=True, cwd=PROGRAM_DIR, timeout=120)
    except OSError as exc:
        raise ChartRenderError(f"{where}: post-renderer {command!r} could not run: {exc}") from None
    except subprocess.TimeoutExpired:
        raise ChartRenderError(f"{where}: post-renderer {command!r} did not finish within 120 s") from None
    if proc.returncode != 0:
        raise ChartRenderError(f"{where}: post-renderer {command!r} failed: {' '.join(proc.stderr.split())}")
    try:
        return json.dumps(_documents(proc.stdout))
    except yaml.YAMLError as exc:
        raise ChartRenderError(f"{where}: post-renderer {command!r} printed invalid YAML: {' '.join(str(exc).split())}") from None


@functools.lru_cache(maxsize=32)
def _file_documents(path: str, mtime: float) -> str:
    return parsed_json(Path(path).read_text())


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _children(objects: list[dict[str, Any]], namespace: str, where: str, inputs: Mapping[str, Any],
              resource_name: str) -> list[RenderedObject]:
    """Normalized objects registered under the prefix the provider uses: `resourcePrefix`, else the resource name."""
    _normalize(objects, namespace, where)
    prefix = inputs["resourcePrefix"] if "resourcePrefix" in inputs else resource_name
    return register_objects(objects, str(prefix))


def render_chart(inputs: Mapping[str, Any], resource_name: str, cache: ChartCache) -> tuple[list[RenderedObject], str]:
    """The children of a `helm.v4.Chart` with these (plain) inputs, and a label `name version` for summaries."""
    chart, version = str(inputs.get("chart", "")), str(inputs.get("version", ""))
    path = chart_file(inputs, cache)
    release = str(inputs.get("name") or resource_name)
    namespace = str(inputs.get("namespace") or DEFAULT_NAMESPACE)
    values_json = json.dumps(inputs.get("values") or {}, sort_keys=True)
    manifests = json.loads(_render_cached(str(path), _mtime(path), values_json, release, namespace))
    crds = [] if inputs.get("skipCrds") else json.loads(_chart_crds(str(path), _mtime(path)))
    label = f"{source_name(CHART_TYPE, inputs)} {version}"
    post_renderer = inputs.get("postRenderer")
    if post_renderer:
        manifests = json.loads(_post_render(json.dumps(manifests), str(post_renderer["command"]),
                                            tuple(str(a) for a in post_renderer.get("args") or ()), f"chart {label}"))
    return _children(crds + manifests, namespace, f"chart {label}", inputs, resource_name), label


def render_config_file(inputs: Mapping[str, Any], resource_name: str, cache: ChartCache) -> tuple[list[RenderedObject], str]:
    """The children of a `yaml.v2.ConfigFile` (a URL from the cache, or a local file)."""
    file = str(inputs.get("file", ""))
    path = yaml_file(file, cache)
    relative = staged_relative(file)
    label = f"https://{relative[len('urls/'):]}" if relative and relative.startswith("urls/") else file
    objects = json.loads(_file_documents(str(path), _mtime(path)))
    return _children(objects, DEFAULT_NAMESPACE, f"file {label}", inputs, resource_name), label


def render_provider_component(type_: str, inputs: Mapping[str, Any], resource_name: str, cache: ChartCache):
    """A Chart's or ConfigFile's children; ChartNotCached, or ChartRenderError for anything that stops the render."""
    try:
        if type_ == CHART_TYPE:
            return render_chart(inputs, resource_name, cache)
        return render_config_file(inputs, resource_name, cache)
    except (ChartNotCached, ChartRenderError, ChartFileError):
        raise
    except Exception as exc:  # noqa: BLE001 (a truncated archive, bad YAML, an unreadable file: the cache entry)
        what = str(inputs.get("file")) if type_ == CONFIG_FILE_TYPE else f"chart {source_name(type_, inputs)} {inputs.get('version')}"
        detail = " ".join(str(exc).split())[:300]
        raise ChartRenderError(f"{what}: cannot be read ({type(exc).__name__}: {detail}); pull it again") from None

