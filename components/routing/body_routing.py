"""BodyBasedRouter: GAIE's body-based router (the `body-based-routing` chart), so one URL serves every model.

It reads the JSON body's `model` and sets `X-Gateway-Model-Name`; each model's HTTPRoute matches its served name in
that header. The chart offers no resources, security context or metrics port: a Helm post-renderer adds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from policies.rules.versions import release

from .. import helm
from ..hardening import locked_container, nonroot_pod
from ..chart_sources import ChartSource
from ..meta import object_meta
from ..network import ClusterNetwork, dns_egress, ingress_from, pods, policy, prometheus

# GAIE's body-based router chart: v1.2.1 with the seed's kgateway path, v1.5.0 (plugin-based) with agentgateway.
BODY_BASED_ROUTING = ChartSource("oci://registry.k8s.io/gateway-api-inference-extension/charts/body-based-routing",
                                 "v1.2.1", supported=("v1.5.0",))
CURRENT_VERSION = "v1.5.0"
CHARTS = (BODY_BASED_ROUTING,)

NAME = "body-based-router"  # the chart's `bbr.name`: Deployment, Service and pod label `app`
EXT_PROC_PORT = 9004  # the chart's `bbr.port` (TLS, a self-signed certificate: BBR always serves securely)
HEALTH_PORT = 9005  # gRPC health
METRICS_PORT = 9090  # BBR's `--metrics-port` default; the chart declares no port for it


@dataclass(frozen=True)
class BodyBasedRouterArgs:
    namespace: pulumi.Input[str]
    chart_version: str
    image: str  # hub/name:tag
    replicas: int
    requests: dict[str, str]
    limits: dict[str, str]
    gateway_pod_labels: dict[str, str]  # the only clients
    network_policies: bool = True
    prometheus_namespace: str | None = None  # admitted to the metrics port
    network: ClusterNetwork = field(default_factory=lambda: ClusterNetwork())  # where it reaches the API server


def _chart_account(chart_version: str) -> bool:
    """From v1.5 the chart makes the router's account (`<bbr.name>-<release>`, allowed to read ConfigMaps for its
    base-model mapping); before, the router ran as the namespace's default account."""
    found = release(chart_version)
    return found is not None and found[:2] >= (1, 5)


def account_name(chart_version: str, release_name: str) -> str:
    return f"{NAME}-{release_name}" if _chart_account(chart_version) else NAME


def hardening(args: BodyBasedRouterArgs, account: str) -> dict:
    """What the post-renderer sets on the chart's Deployment."""
    return {NAME: {
        "container": "bbr",
        # Its own account: the router checks scrapers' tokens (TokenReview, SubjectAccessReview) as itself.
        "pod": {"serviceAccountName": account, "automountServiceAccountToken": True, "securityContext": nonroot_pod()},
        "set": {
            "imagePullPolicy": "IfNotPresent",
            "resources": {"requests": dict(args.requests), "limits": dict(args.limits)},
            "securityContext": locked_container(),
            "readinessProbe": {"grpc": {"port": HEALTH_PORT}, "periodSeconds": 5},
            "livenessProbe": {"grpc": {"port": HEALTH_PORT}, "periodSeconds": 10, "failureThreshold": 6},
        },
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"}],
    }}


def chart_values(args: BodyBasedRouterArgs) -> dict:
    """v1.2: image `hub`/`name`/`tag`; v1.5: `registry`/`repository`/`tag` (the plugins default to the model
    header and the base-model header)."""
    name, _, tag = args.image.rpartition(":")
    hub, _, image = name.rpartition("/")
    if _chart_account(args.chart_version):
        image_values = {"registry": hub, "repository": image, "tag": tag, "pullPolicy": "IfNotPresent"}
    else:
        image_values = {"hub": hub, "name": image, "tag": tag, "pullPolicy": "IfNotPresent"}
    return {"bbr": {"name": NAME, "replicas": args.replicas, "image": image_values},
            "provider": {"name": "none"}}  # the chart's providers are GKE and Istio: the gateway is wired by the program


class BodyBasedRouter(pulumi.ComponentResource):
    service_name: pulumi.Output[str]
    port: int
    pod_labels: dict[str, str]

    def __init__(self, name: str, args: BodyBasedRouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:BodyBasedRouter", name, None, opts)
        # BBR guards /metrics with controller-runtime's authn/authz filter, which asks the API server as the router:
        # the built-in `system:auth-delegator` grants exactly those two reviews.
        chart_name = f"{name}-release"  # also the Helm release's name
        account = account_name(args.chart_version, chart_name)
        waits: list[pulumi.Resource] = []
        if not _chart_account(args.chart_version):
            waits.append(k8s.core.v1.ServiceAccount(
                f"{name}-account", metadata=object_meta(NAME, args.namespace, "body-router"),
                opts=pulumi.ResourceOptions(parent=self)))
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-auth-delegator",
            metadata=object_meta(f"{NAME}-auth-delegator", None, "body-router"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole",
                                             name="system:auth-delegator"),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account, namespace=args.namespace)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits))
        chart = helm.chart(
            chart_name, BODY_BASED_ROUTING, args.chart_version, namespace=args.namespace, values=chart_values(args),
            post_renderer=helm.post_renderer(hardening(args, account)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=waits),
        )
        self.pod_labels = {"app": NAME}
        self.port = EXT_PROC_PORT
        self.metrics_port = METRICS_PORT
        if args.network_policies:
            ingress = [ingress_from([pods(args.gateway_pod_labels)], EXT_PROC_PORT)]
            if args.prometheus_namespace:
                ingress.append(ingress_from([prometheus(args.prometheus_namespace)], METRICS_PORT))
            # It serves and calls no one; its manager reaches the API server (token reviews for /metrics).
            egress = [dns_egress(), args.network.api_egress()]
            policy(f"{name}-network", object_meta(NAME, args.namespace, "network-policy"), self.pod_labels,
                   ingress=ingress, egress=egress, opts=pulumi.ResourceOptions(parent=self))
        self.service_name = chart.urn.apply(lambda _: NAME)
        self.register_outputs({"service_name": self.service_name})
