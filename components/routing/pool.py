"""InferencePool + Endpoint Picker for one model service, and the CRDs they need, rendered by a pool chart line.

Uses `helm.v4.Chart` (no Helm hooks). The release name is the pool name. Selector and target port come from the model
service's outputs; the EPP's metric names from its engine generation.
"""

from __future__ import annotations

import pulumi

from .. import helm
from ..chart_sources import GAIE_CRDS, INFERENCEPOOL
from ..meta import child_options
from .contract import POOL_GROUP, POOL_KIND, InferencePoolArgs
from .gaie_pool import EXT_PROC_PORT, chart_values, epp_metrics_auth

class InferenceExtensionCrds(pulumi.ComponentResource):
    """All GAIE CRDs of a release (InferencePool v1 plus the x-k8s ones the EPP watches), installed first."""

    def __init__(self, name: str, version: str, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferenceExtensionCrds", name, None, opts)
        self.manifests = helm.yaml_bundle(f"{name}-manifests", GAIE_CRDS, version, opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


class InferencePool(pulumi.ComponentResource):
    pool_name: pulumi.Output[str]
    pool_group: str = POOL_GROUP
    pool_kind: str = POOL_KIND
    epp_service: pulumi.Output[str]
    epp_port: pulumi.Output[int]

    def __init__(self, name: str, args: InferencePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferencePool", name, None, opts)
        values = pulumi.Output.all(args.pod_labels, args.target_port, args.metrics_generation).apply(
            lambda resolved: chart_values(args, *resolved)
        )
        chart = helm.chart(f"{name}-release", INFERENCEPOOL, args.chart_version, release=args.release,
                           namespace=args.namespace, values=values, opts=child_options(self, opts))
        self.pool_name = chart.urn.apply(lambda _: args.release)
        self.epp_service = chart.urn.apply(lambda _: f"{args.release}-epp")
        self.epp_port = chart.urn.apply(lambda _: EXT_PROC_PORT)
        # The chart labels EPP pods `inferencepool: <release>-epp`.
        self.epp_pod_labels = {"inferencepool": f"{args.release}-epp"}
        self.metrics_auth = epp_metrics_auth(args.chart_version, args.monitor_labels)
        self.register_outputs({"pool_name": self.pool_name, "epp_service": self.epp_service, "epp_port": self.epp_port})
