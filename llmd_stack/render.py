"""Write what the engine recorded: `resources.json`, one manifest per Kubernetes object, and a summary."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from .engine import Registration, RenderResult, provider_autoname


def manifest(resource: Registration) -> dict[str, Any]:
    """The object as the provider would apply it, `metadata.name` filled in (numbers are integral already: the engine
    records them so)."""
    obj = dict(resource.inputs)
    metadata = obj["metadata"] = dict(obj.get("metadata") or {})
    if not metadata.get("name"):
        metadata["name"] = provider_autoname(resource.name, f"{resource.type}::{resource.name}")
    ordered = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    ordered.update({k: v for k, v in obj.items() if k not in ordered})
    return ordered


def manifests(result: RenderResult) -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) for every Kubernetes object the program declares directly, in registration order."""
    files = []
    for index, resource in enumerate(r for r in result.resources if r.is_kubernetes_object):
        obj = manifest(resource)
        namespace = obj["metadata"].get("namespace", "cluster")
        slug = re.sub(r"[^a-z0-9.-]+", "-", f"{obj.get('kind', 'object').lower()}-{namespace}-{obj['metadata']['name']}")
        files.append((f"{index:03d}-{slug}.yaml", obj))
    return files


class _Dumper(yaml.CSafeDumper):  # libyaml: the CRDs charts bring are large (~750 kB), the Python dumper is 6x slower
    pass


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def _dump(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def to_yaml(obj: Any) -> str:
    """The object as YAML. A CRD (kube-prometheus-stack's are 4.5 MB in all) comes from a disk cache keyed by the sha256
    of its JSON, so it is emitted once per machine, not on every render."""
    if obj.get("kind") != "CustomResourceDefinition":
        return _dump(obj)
    import hashlib

    from .charts import machine_cached

    key = hashlib.sha256(json.dumps(obj).encode()).hexdigest()
    return machine_cached("yaml", f"{key}.yaml", lambda: _dump(obj))


def resources_document(result: RenderResult) -> dict[str, Any]:
    return {
        "project": result.project,
        "stack": result.stack,
        "resources": [r.to_json() for r in result.resources],
        "outputs": result.outputs,
        "secretOutputs": result.secret_outputs,
    }


def resources_json(result: RenderResult) -> str:
    """resources.json: one resource per line (diffable, and written by the C encoder: an indented dump of the CRDs
    took longer than Helm takes to render every chart)."""
    document = resources_document(result)
    lines = ",\n    ".join(json.dumps(r) for r in document.pop("resources"))
    head = json.dumps(document, indent=2)[:-2]
    return f'{head},\n  "resources": [\n    {lines}\n  ]\n}}\n'


MARKER = ".llmd-render"  # says a folder holds a render of this program (and nothing else)
RESULT = "resources.json"
MANIFESTS = "manifests"


class UnsafeOutput(ValueError):
    """An output folder that holds something a render did not write, or one that must never be written over."""


def render_files(out_dir: Path) -> list[Path]:
    """What earlier renders wrote in `out_dir`: the marker, resources.json, manifests/*.yaml."""
    found = [out_dir / name for name in (MARKER, RESULT) if (out_dir / name).is_file()]
    manifests_dir = out_dir / MANIFESTS
    return found + (sorted(manifests_dir.glob("*.yaml")) if manifests_dir.is_dir() else [])


def check_out_dir(out_dir: Path, project_dir: Path) -> None:
    """Refuse a folder the render could destroy something in: the project, its parents, $HOME, or a folder holding
    anything but an earlier render's own files."""
    out, project = out_dir.resolve(), project_dir.resolve()
    if out == project or out in project.parents or out == Path.home().resolve() or out == Path(out.anchor):
        raise UnsafeOutput(f"--out {out_dir}: refusing to write a render over the project, a parent of it or $HOME")
    if out.exists() and not out.is_dir():
        raise UnsafeOutput(f"--out {out_dir}: is a file")
    if out.is_dir():
        ours = set(render_files(out)) | ({out / MANIFESTS} if (out / MANIFESTS).is_dir() else set())
        foreign = sorted(p.name for p in out.iterdir() if p not in ours)
        foreign += sorted(f"{MANIFESTS}/{p.name}" for p in (out / MANIFESTS).iterdir() if p not in ours) if (
            out / MANIFESTS).is_dir() else []
        if foreign:
            raise UnsafeOutput(f"--out {out_dir}: holds files a render did not write ({', '.join(foreign[:5])}"
                               f"{', ...' if len(foreign) > 5 else ''}); choose an empty or a render folder")


def clear(out_dir: Path) -> None:
    """Remove an earlier render's own files (nothing else), so a failed render leaves nothing that looks current."""
    for path in render_files(out_dir):
        path.unlink()
    if (out_dir / MANIFESTS).is_dir() and not any((out_dir / MANIFESTS).iterdir()):
        (out_dir / MANIFESTS).rmdir()


def write(result: RenderResult, out_dir: Path) -> list[Path]:
    """Write this render into `out_dir` (checked with check_out_dir first), replacing only an earlier render's files;
    return the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    clear(out_dir)
    (out_dir / MANIFESTS).mkdir()
    written = [out_dir / RESULT]
    written[0].write_text(resources_json(result))
    for name, obj in manifests(result):
        path = out_dir / MANIFESTS / name
        path.write_text(to_yaml(obj))
        written.append(path)
    (out_dir / MARKER).write_text("written by python -m llmd_stack render; replaced by the next render\n")
    return written


def top_resource(resource: Registration, by_urn: dict[str, Registration]) -> Registration:
    """The stack's direct child this resource belongs to (itself when it is one)."""
    current = resource
    while current.parent and current.parent in by_urn:
        current = by_urn[current.parent]
    return current


def summary(result: RenderResult, verbose: bool = False) -> str:
    """One line per component of the stack (`verbose`: its resources by type), then the charts and YAML files."""
    by_urn = result.by_urn()
    groups: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for resource in result.resources:
        top = top_resource(resource, by_urn)
        groups[(top.name, top.type)][resource.type] += 1
    lines = [f"{result.project}/{result.stack}: {len(result.resources)} resources, by top-level resource:"]
    width = max(len(name) for name, _ in groups)
    for (component, own_type), counts in groups.items():
        lines.append(f"  {component:{width}s}  {sum(counts.values()):3d}  {own_type}")
        if verbose:
            lines.extend(f"  {'':{width}s}  {count:3d}    {type_}" for type_, count in sorted(counts.items()))
    if result.charts:
        rendered = [c for c in result.charts if c.rendered]
        lines.append(f"charts and YAML files: {len(rendered)} of {len(result.charts)} rendered as the provider does")
        if verbose or len(rendered) < len(result.charts):
            width = max(len(c.urn.split("::")[-1]) for c in result.charts)
            for chart in result.charts:
                if verbose or not chart.rendered:
                    state = f"{chart.objects:3d} objects" if chart.rendered else "not rendered (not in the chart cache)"
                    lines.append(f"  {chart.urn.split('::')[-1]:{width}s}  {state}  {chart.kind} {chart.label}")
    return "\n".join(lines)
