"""Labels and object metadata every component applies the same way."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

PART_OF = {"app.kubernetes.io/part-of": "llm-d", "app.kubernetes.io/managed-by": "pulumi"}


def labels(component: str, **extra: str) -> dict[str, str]:
    return {**PART_OF, "app.kubernetes.io/component": component, **extra}


def object_meta(name: str, namespace: str | None, component: str, **extra_labels: str) -> k8s.meta.v1.ObjectMetaArgs:
    return k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels(component, **extra_labels))


# pulumi-kubernetes (>= 4.18) waits for this condition before dependents are created: a cert-manager Certificate is
# Ready once its Secret holds the issued certificate.
WAIT_FOR_READY = {"pulumi.com/waitFor": "condition=Ready"}


def child_options(parent: pulumi.Resource, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """Options for a component's child that keep the component's own `depends_on`.

    A component's `depends_on` does not hold back the children it creates in its constructor, so a component
    that must wait (model pods for the download, the EPP for the CRDs) forwards it to them.
    """
    inherited = opts.depends_on if opts else None
    if inherited is None:
        inherited = []
    elif not isinstance(inherited, (list, tuple)):
        inherited = [inherited]
    return pulumi.ResourceOptions(parent=parent, depends_on=list(inherited))


def namespace(
    resource_name: str,
    name: str,
    component: str,
    pod_security: str,
    opts: pulumi.ResourceOptions,
    admin_access: bool = False,
) -> k8s.core.v1.Namespace:
    """A namespace enforcing a Pod Security level; `admin_access` admits DRA admin-access claims (GPU monitoring)."""
    namespace_labels = {**labels(component), "pod-security.kubernetes.io/enforce": pod_security}
    if admin_access:
        namespace_labels["resource.kubernetes.io/admin-access"] = "true"
    return k8s.core.v1.Namespace(
        resource_name, metadata=k8s.meta.v1.ObjectMetaArgs(name=name, labels=namespace_labels), opts=opts
    )


class LiveObject(pulumi.CustomResource):
    """A Kubernetes custom object whose live `status` is an output too: pulumi_kubernetes' CustomResource exposes only
    what it was given (apiVersion, kind, metadata, spec), not what the provider returns after applying it. The same
    type token and inputs, so the same URN and the same registration."""

    metadata: pulumi.Output[Any]
    status: pulumi.Output[Any]

    def __init__(self, resource_name: str, api_version: str, kind: str, metadata: Any, spec: Any,
                 opts: pulumi.ResourceOptions | None = None):
        props = {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec, "status": None}
        super().__init__(f"kubernetes:{api_version}:{kind}", resource_name, props, opts)


def spec_hash(spec: Any) -> str:
    """A short, stable hash of an object's spec: an immutable object (a ResourceClaimTemplate) named with it is
    created anew when the spec changes, instead of an update the API server rejects."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]
