"""Labels and object metadata every component applies the same way."""

from __future__ import annotations

import pulumi_kubernetes as k8s

PART_OF = {"app.kubernetes.io/part-of": "llm-d", "app.kubernetes.io/managed-by": "pulumi"}


def labels(component: str, **extra: str) -> dict[str, str]:
    return {**PART_OF, "app.kubernetes.io/component": component, **extra}


def object_meta(name: str, namespace: str | None, component: str, **extra_labels: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(component, **extra_labels))
