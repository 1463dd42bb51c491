"""A gateway controller installed as its two charts (CRDs, then the controller with the inference extension on) in a
namespace of its own: how kgateway and agentgateway both ship."""

from __future__ import annotations

import pulumi

from .. import helm
from ..chart_sources import ChartSource
from ..meta import namespace as meta_namespace
from .xds_tls import xds_certificate
from ..network import ClusterNetwork, PodFlows, fence_namespace, ingress_from, pods_in


def install_controller(name: str, namespace: str, crds_chart: ChartSource, controller_chart: ChartSource, version: str,
                       parent: pulumi.Resource, depends_on: list[pulumi.Resource],
                       xds_tls_after: list[pulumi.Resource] | None = None) -> list[pulumi.Resource]:
    """The namespace, the CRDs chart and the controller chart; returns what Gateways must wait for. Both charts have
    no Helm hooks, so helm.v4.Chart shows every object in previews. `xds_tls_after`: xDS over TLS (kgateway's
    `controller.xds.tls`), its certificate issued by cert-manager once what the list names is ready."""
    created = meta_namespace(f"{name}-namespace", namespace, "gateway-controller", "baseline",
                             pulumi.ResourceOptions(parent=parent))
    crds = helm.chart(f"{name}-crds", crds_chart, version, namespace=created.metadata.name,
                      opts=pulumi.ResourceOptions(parent=parent, depends_on=[created, *depends_on]))
    release = f"{name}-controller"
    values: dict = {"inferenceExtension": {"enabled": True}}
    before: list[pulumi.Resource] = [crds, *depends_on]
    if xds_tls_after is not None:
        # The chart's Service is named after the release (it contains the chart's name).
        before.append(xds_certificate(f"{name}-xds", created.metadata.name, namespace, release, parent,
                                      [created, *xds_tls_after]))
        values["controller"] = {"xds": {"tls": {"enabled": True}}}
    controller = helm.chart(release, controller_chart, version, namespace=created.metadata.name, values=values,
                            opts=pulumi.ResourceOptions(parent=parent, depends_on=before))
    return [controller]


def fence_controller(name: str, control_plane: tuple[str, dict[str, str], int], serving_namespace: str,
                     proxy_pod_labels: list[dict[str, str]], network: ClusterNetwork,
                     opts: pulumi.ResourceOptions) -> None:
    """The controller's namespace: its proxies (in the serving namespace) reach xDS, the controller reaches the API
    server; nothing else in or out. Neither chart installs a webhook, and nothing scrapes the controller."""
    namespace, pods, xds_port = control_plane
    proxies = [pods_in(serving_namespace, labels) for labels in proxy_pod_labels]
    fence_namespace(name, namespace, [PodFlows("controller", pods, ingress=(ingress_from(proxies, xds_port),),
                                               egress=(network.api_egress(),))], "gateway", opts)
