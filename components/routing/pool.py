"""InferencePool + Endpoint Picker for one model service, and the CRDs they need, rendered by a pool chart line
(gaie_pool.py, llmd_router.py).

Uses `helm.v4.Chart` (no Helm hooks). The release name is the pool name. Selector and target port come from the model
service's outputs; the EPP's metric names from its engine generation.
"""

from __future__ import annotations

import pulumi

from .. import helm
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
                           namespace=args.namespace, values=values, opts=child_options(self, opts))
        self.pool_name = chart.urn.apply(lambda _: args.release)
        self.epp_service = chart.urn.apply(lambda _: line.epp_service(args.release))
        self.epp_port = chart.urn.apply(lambda _: line.ext_proc_port)
        self.epp_ports = (line.ext_proc_port, line.metrics_port)
        self.epp_pod_labels = line.epp_pod_labels(args.release)
        self.metrics_auth = line.metrics_auth(args.chart_version, args.monitor_labels)
        self.epp_metrics = line.epp_metrics(args.chart_version)
        self.register_outputs({"pool_name": self.pool_name, "epp_service": self.epp_service, "epp_port": self.epp_port})
