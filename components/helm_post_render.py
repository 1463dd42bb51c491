"""A Helm post-renderer for charts that offer no value for what every workload here must have (GAIE's
body-based-routing chart: no resources, no security context, no metrics port).

Helm pipes the rendered manifests to `python -m components.helm_post_render '<patch JSON>'` and applies what comes
back (pulumi-kubernetes' `helm.v4.Chart` `postRenderer`, run from the program's directory; the offline render runs
the same command). The patch names Deployments and, per Deployment, what to set on its pod and on one container.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml


def patch_documents(documents: list[dict[str, Any]], patch: dict[str, Any]) -> list[dict[str, Any]]:
    """`patch`: {"<Deployment name>": {"container": name, "pod": {...}, "set": {...}, "ports": [...]}}; every named
    Deployment must be there and hold that container, so a chart that renamed it fails the render, not the cluster."""
    seen = set()
    for doc in documents:
        if not isinstance(doc, dict) or doc.get("kind") != "Deployment":
            continue
        name = (doc.get("metadata") or {}).get("name")
        change = patch.get(name)
        if change is None:
            continue
        seen.add(name)
        pod = doc["spec"]["template"]["spec"]
        pod.update(change.get("pod") or {})
        container = next((c for c in pod.get("containers") or [] if c.get("name") == change["container"]), None)
        if container is None:
            raise SystemExit(f"post-render: Deployment {name!r} has no container {change['container']!r}")
        container.update(change.get("set") or {})
        ports = container.setdefault("ports", [])
        ports += [p for p in change.get("ports") or [] if p["containerPort"] not in {q.get("containerPort") for q in ports}]
    missing = sorted(set(patch) - seen)
    if missing:
        raise SystemExit(f"post-render: no Deployment named {', '.join(missing)} in the chart's output")
    return documents


def transform(text: str, patch_json: str) -> str:
    """The manifests Helm pipes in, patched, as the YAML Helm reads back."""
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    return yaml.safe_dump_all(patch_documents(documents, json.loads(patch_json)), sort_keys=False)


def main(argv: list[str]) -> int:
    sys.stdout.write(transform(sys.stdin.read(), argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
