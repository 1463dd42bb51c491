"""InferencePool + Endpoint Picker for one model service, and the CRDs they need, rendered by a pool chart line
(gaie_pool.py, llmd_router.py).

Uses `helm.v4.Chart` (no Helm hooks). The release name is the pool name. Selector and target port come from the model
service's outputs; the EPP's metric names from its engine generation.
"""

from __future__ import annotations

import pulumi

from .. import helm
from ..hardening import locked_container, nonroot_pod
from ..meta import child_options
from .contract import POOL_GROUP, POOL_KIND, InferencePoolArgs, PoolLine


class InferenceExtensionCrds(pulumi.ComponentResource):
    """The CRDs a pool line's EPPs watch (InferencePool v1 and the objective/rewrite kinds), installed first."""

    def __init__(self, name: str, line: PoolLine, chart_version: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferenceExtensionCrds", name, None, opts)
        self.bundles = [
            helm.yaml_bundle(f"{name}-{bundle.suffix}", bundle.source, bundle.version,
                             opts=pulumi.ResourceOptions(parent=self))
            for bundle in line.crd_bundles(chart_version)
        ]
        self.register_outputs({})


EPP_CONTAINER = "epp"  # the container's name in both lines' charts


def epp_hardening(line: PoolLine, args: InferencePoolArgs) -> dict:
    """What the post-renderer sets on the EPP Deployment (no pool chart offers a security context): a non-root
    UID (the images are distroless/static:nonroot), seccomp, a read-only root filesystem, no capability; resources
    too where the chart has no value for them (GAIE before v1.5)."""
    container: dict = {"securityContext": locked_container()}
    if args.epp_resources is not None and not line.takes_epp_resources(args.chart_version):
        container["resources"] = args.epp_resources
    # Both charts name the EPP Deployment as its Service.
    return {line.epp_service(args.release): {"container": EPP_CONTAINER, "pod": {"securityContext": nonroot_pod()},
                                            "set": container}}


class InferencePool(pulumi.ComponentResource):
    pool_name: pulumi.Output[str]
    pool_group: str = POOL_GROUP
    pool_kind: str = POOL_KIND
    epp_service: pulumi.Output[str]
    epp_port: pulumi.Output[int]

    def __init__(self, name: str, line: PoolLine, args: InferencePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferencePool", name, None, opts)
        values = pulumi.Output.all(args.pod_labels, args.target_port, args.metrics_generation).apply(
            lambda resolved: line.values(args, *resolved)
        )
        chart = helm.chart(f"{name}-release", line.chart, args.chart_version, release=args.release,
                           namespace=args.namespace, values=values, post_renderer=helm.post_renderer(epp_hardening(line, args)),
                           opts=child_options(self, opts))
        self.pool_name = chart.urn.apply(lambda _: args.release)
        self.epp_service = chart.urn.apply(lambda _: line.epp_service(args.release))
        self.epp_port = chart.urn.apply(lambda _: line.ext_proc_port)
        self.epp_ports = (line.ext_proc_port, line.metrics_port)
        self.epp_pod_labels = line.epp_pod_labels(args.release)
        self.metrics_auth = line.metrics_auth(args.chart_version, args.monitor_labels)
        self.epp_metrics = line.epp_metrics(args.chart_version)
        self.register_outputs({"pool_name": self.pool_name, "epp_service": self.epp_service, "epp_port": self.epp_port})
