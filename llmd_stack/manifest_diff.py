"""`python -m llmd_stack diff BASE HEAD`: what a change does to the objects the cluster gets, as Markdown.

BASE and HEAD are render folders (`render --out`), or folders of them, one per stack. Objects are matched by
identity (`Kind namespace/name`), not by file name: the manifests' numeric prefixes shift whenever an object is
added, and a reviewer wants to see the Deployment that changed, not a renamed file. Every object counts, charts'
included.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

MARKER = "<!-- llmd-render-diff -->"
# GitHub refuses comments over 65,536 characters; leave room for the header and the truncation note.
MAX_CHARS = 60_000


def _load(text: str) -> dict:
    """One manifest (libyaml's parser: CRDs run to megabytes)."""
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def load_objects(render_dir: Path) -> dict[str, str]:
    """`Kind.group namespace/name` -> the object's YAML, for every manifest of one render (the API group tells
    apart kinds of the same name, e.g. InferencePool in inference.networking.k8s.io and its x-k8s.io alpha)."""
    found: dict[str, str] = {}
    for path in sorted((render_dir / "manifests").glob("*.yaml")):
        text = path.read_text()
        obj = _load(text)
        metadata = obj.get("metadata") or {}
        where = f"{metadata['namespace']}/" if metadata.get("namespace") else ""
        api_version = str(obj.get("apiVersion", ""))
        group = f".{api_version.split('/')[0]}" if "/" in api_version else ""
        found[f"{obj.get('kind')}{group} {where}{metadata.get('name')}"] = text
    return found


def stacks_in(folder: Path) -> dict[str, Path]:
    """The renders in a folder: itself when it is one render, else its sub-folders that are."""
    if (folder / "manifests").is_dir():
        return {folder.name: folder}
    return {p.name: p for p in sorted(folder.iterdir()) if (p / "manifests").is_dir()} if folder.is_dir() else {}


def diff_stack(base: dict[str, str], head: dict[str, str]) -> tuple[list[str], list[str], list[str], str]:
    """(added, removed, changed) object keys and a unified diff of all of them."""
    added = sorted(head.keys() - base.keys())
    removed = sorted(base.keys() - head.keys())
    changed = sorted(k for k in base.keys() & head.keys() if base[k] != head[k])
    chunks = []
    for key in sorted(added + removed + changed):
        chunks += difflib.unified_diff(
            base.get(key, "").splitlines(keepends=True), head.get(key, "").splitlines(keepends=True),
            fromfile=f"base: {key}" if key in base else "/dev/null", tofile=f"head: {key}" if key in head else "/dev/null",
        )
    return added, removed, changed, "".join(chunks)


# Fields the API server refuses to change: a new value means delete and create (the provider replaces the object).
IMMUTABLE = {
    "Deployment": (("spec", "selector"),),
    "StatefulSet": (("spec", "selector"), ("spec", "volumeClaimTemplates")),
    "DaemonSet": (("spec", "selector"),),
    "Job": (("spec", "template"),),
    "PersistentVolumeClaim": (("spec", "accessModes"), ("spec", "storageClassName"), ("spec", "volumeName")),
    "ResourceClaimTemplate": (("spec",),),
    "Service": (("spec", "clusterIP"),),
}
HOLDS_DATA = ("PersistentVolumeClaim", "Namespace")
GATEWAY_API_BUNDLE = "gateway.networking.k8s.io/bundle-version"
SAFE_UPGRADES_FROM = (1, 5)  # the Gateway API release whose standard install refuses older CRDs


def _dig(obj: dict, path: tuple[str, ...]):
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj


def _release(text: str) -> tuple[int, ...]:
    parts = str(text).lstrip("v").split("-")[0].split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def attention(base: dict[str, str], head: dict[str, str]) -> list[str]:
    """What a reviewer must not miss: objects the change replaces (an immutable field changed), objects holding data
    it removes or replaces, and steps that cannot be undone (a Gateway API bundle past v1.5)."""
    notes = []
    for key in sorted(base.keys() & head.keys()):
        if base[key] == head[key]:
            continue
        before, after = _load(base[key]), _load(head[key])
        kind = str(after.get("kind"))
        fields = [".".join(path) for path in IMMUTABLE.get(kind, ()) if _dig(before, path) != _dig(after, path)]
        if fields:
            data = " (holds data)" if kind in HOLDS_DATA else ""
            notes.append(f"replaced{data}: `{key}` ({', '.join(fields)} cannot change in place)")
        versions = [str(_dig(o, ("metadata", "annotations", GATEWAY_API_BUNDLE)) or "") for o in (before, after)]
        if kind == "CustomResourceDefinition" and all(versions) and _release(versions[1]) > _release(versions[0]) \
                and _release(versions[1])[:2] >= SAFE_UPGRADES_FROM and "gateways." in key:
            notes.append(f"one-way: Gateway API {versions[0]} -> {versions[1]}: from v1.5 the bundle's safe-upgrades "
                         "admission policy refuses the CRDs of an older release")
    claims = {k.split(" ", 1)[1].split("/", 1)[0] for k in base if k.startswith("PersistentVolumeClaim ")}
    for key in sorted(base.keys() - head.keys()):
        kind, name = key.split(" ", 1)[0].split(".", 1)[0], key.split(" ", 1)[1]
        if kind == "PersistentVolumeClaim" or (kind == "Namespace" and name in claims):
            notes.append(f"removed (holds data): `{key}`: the program retains it on delete; check the preview")
    return notes


def markdown(base_dir: Path, head_dir: Path, title: str = "Rendered manifests") -> str:
    """The comment: per stack, counts and object lists, then the diff (truncated to fit a GitHub comment)."""
    base_stacks, head_stacks = stacks_in(base_dir), stacks_in(head_dir)
    if (base_dir / "manifests").is_dir() and (head_dir / "manifests").is_dir():
        base_stacks = {head_dir.name: base_dir}  # two single renders: the same stack, whatever the folders' names
    lines = [MARKER, f"### {title}: base -> head", ""]
    diffs = []
    for stack in sorted(base_stacks.keys() | head_stacks.keys()):
        base = load_objects(base_stacks[stack]) if stack in base_stacks else {}
        head = load_objects(head_stacks[stack]) if stack in head_stacks else {}
        added, removed, changed, text = diff_stack(base, head)
        state = " (new stack)" if stack not in base_stacks else " (stack removed)" if stack not in head_stacks else ""
        if not (added or removed or changed):
            lines.append(f"- **{stack}**{state}: no change to the {len(head)} rendered objects")
            continue
        lines.append(f"- **{stack}**{state}: {len(added)} added, {len(removed)} removed, {len(changed)} changed "
                     f"of {len(head)} objects")
        for note in attention(base, head):
            lines.append(f"  - **{note}**")
        for label, keys in (("added", added), ("removed", removed), ("changed", changed)):
            if keys:
                lines.append(f"  - {label}: " + ", ".join(f"`{k}`" for k in keys))
        diffs.append((stack, text))
    body = "\n".join(lines) + "\n"
    for stack, text in diffs:
        block = f"\n<details><summary>{stack}: diff</summary>\n\n```diff\n{text}```\n</details>\n"
        if len(body) + len(block) > MAX_CHARS:
            body += (f"\nThe full diff of `{stack}` does not fit in a comment: run "
                     "`python -m llmd_stack diff` on the two renders (the workflow keeps them as an artifact).\n")
            continue
        body += block
    return body
