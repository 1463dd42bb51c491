"""A gateway controller installed as its two charts (CRDs, then the controller with the inference extension on) in a
namespace of its own: how kgateway and agentgateway both ship."""

from __future__ import annotations

import pulumi

from .. import helm
from ..chart_sources import ChartSource
from ..meta import namespace as meta_namespace


def install_controller(name: str, namespace: str, crds_chart: ChartSource, controller_chart: ChartSource, version: str,
                       parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
    """The namespace, the CRDs chart and the controller chart; returns what Gateways must wait for. Both charts have
    no Helm hooks, so helm.v4.Chart shows every object in previews."""
    created = meta_namespace(f"{name}-namespace", namespace, "gateway-controller", "baseline",
                             pulumi.ResourceOptions(parent=parent))
    crds = helm.chart(f"{name}-crds", crds_chart, version, namespace=created.metadata.name,
                      opts=pulumi.ResourceOptions(parent=parent, depends_on=[created, *depends_on]))
    controller = helm.chart(f"{name}-controller", controller_chart, version, namespace=created.metadata.name,
                            values={"inferenceExtension": {"enabled": True}},
                            opts=pulumi.ResourceOptions(parent=parent, depends_on=[crds, *depends_on]))
    return [controller]
