"""`helm.v4.Chart` and `yaml.v2.ConfigFile` as every component creates them: from the verified, staged file (never a
reference the provider fetches unchecked), with every CustomResourceDefinition they render retained on delete.

A CRD is cluster-wide: deleting it deletes every object of its kind in the cluster, the stack's and everyone else's.
So a destroy, a URN change or a chart that stops rendering one leaves the CRD in the cluster. The Chart's `transforms`
reach the objects the provider registers for it (transforms apply to a resource and all its children, packaged
components' included; `transformations` would not), and the offline engine applies them the same way.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from .chart_files import bundle, chart_archive
from .chart_sources import ChartSource, FileSource

CRD_TYPE = "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition"


def retain_crds(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Retain a CustomResourceDefinition on delete; leave everything else as it is."""
    if args.type_ != CRD_TYPE:
        return None
    return pulumi.ResourceTransformResult(
        args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(retain_on_delete=True)))


def _with_transforms(opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(transforms=[retain_crds]))


def chart(resource_name: str, source: ChartSource, version: str, *, opts: pulumi.ResourceOptions,
          namespace: pulumi.Input[str] | None = None, values: pulumi.Input[dict[str, Any]] | None = None,
          release: str | None = None, post_renderer: k8s.helm.v4.PostRendererArgs | None = None) -> k8s.helm.v4.Chart:
    """A Chart from `source` at `version`; the release is named `release`, else after the resource."""
    return k8s.helm.v4.Chart(
        resource_name,
        name=release,
        chart=chart_archive(source.chart, version),
        version=version,
        namespace=namespace,
        values=values,
        post_renderer=post_renderer,
        opts=_with_transforms(opts),
    )


# The program's own interpreter (Pulumi.yaml `virtualenv: .venv`), relative to the program's directory, running the
# post-renderer for charts that offer no value for what every workload here must have.
POST_RENDERER = (".venv/bin/python", "-m", "components.helm_post_render")


def post_renderer(patch: dict) -> k8s.helm.v4.PostRendererArgs:
    """components/helm_post_render.py with `patch` ({"<Deployment>": {"container", "pod", "set", "ports"}})."""
    import json

    command, *prefix = POST_RENDERER
    return k8s.helm.v4.PostRendererArgs(command=command, args=[*prefix, json.dumps(patch, sort_keys=True, separators=(",", ":"))])


def yaml_bundle(resource_name: str, source: FileSource, version: str, *, opts: pulumi.ResourceOptions) -> k8s.yaml.v2.ConfigFile:
    """A release's YAML bundle (CRDs) at `version`."""
    return k8s.yaml.v2.ConfigFile(resource_name, file=bundle(source.at(version)), opts=_with_transforms(opts))
