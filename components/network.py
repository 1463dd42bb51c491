"""NetworkPolicies: every namespace the stack owns denies ingress and egress by default and admits only the flows the
stack needs (controllers to the API server, proxies to xDS, Prometheus to its scrape targets, Grafana to Prometheus,
the loader to the registry). Model pods and the EPP accept traffic only from the gateway, the EPP and Prometheus;
model pods reach out only to DNS; the GPU exporter admits only Prometheus."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from .meta import object_meta


@dataclass(frozen=True)
class ServingNetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    model: str
    model_pod_labels: pulumi.Input[dict[str, str]]  # from the model service
    model_port: pulumi.Input[int]
    epp_pod_labels: dict[str, str]  # from the inference pool
    epp_ports: tuple[int, int]  # (ext-proc, metrics)
    gateway_pod_labels: dict[str, str]  # from the gateway provider
    prometheus_namespace: str | None  # None: nothing scrapes
    loader_pod_labels: dict[str, str] | None = None  # the model's ModelKit loader Job, if it has one
    registry_cidrs: tuple[str, ...] = ()  # where the loader may pull from; empty: any address on the registry ports
    registry_ports: tuple[int, ...] = (443, 80)  # the port of `registry.host`, else HTTPS and HTTP
    network: ClusterNetwork = field(default_factory=lambda: ClusterNetwork())  # where the EPP reaches the API


# prometheus-operator labels every Prometheus pod it runs with this (kube-prometheus-stack included).
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}


def pods(labels: pulumi.Input[dict[str, str]]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels))


def pods_in(namespace: str, labels: dict[str, str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods with these labels in that namespace (both selectors in one peer)."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": namespace}),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels),
    )


def addresses(cidrs: tuple[str, ...]) -> list[k8s.networking.v1.NetworkPolicyPeerArgs]:
    return [k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=c)) for c in cidrs]


def tcp_ports(*ports: pulumi.Input[int]) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(port=p, protocol="TCP") for p in ports]


def egress_to(peers: list | None, *ports: pulumi.Input[int]) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """To these peers (None: anywhere) on these TCP ports."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=peers, ports=tcp_ports(*ports))


def prometheus(namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Prometheus pods in their namespace."""
    return pods_in(namespace, PROMETHEUS_POD_LABELS)


def dns_egress() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """The cluster DNS (CoreDNS in kube-system, `k8s-app: kube-dns` on k3s and kubeadm clusters)."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[pods_in("kube-system", {"k8s-app": "kube-dns"})],
        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol=p) for p in ("UDP", "TCP")],
    )


def egress_anywhere() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """An empty rule: any address, any port (where this program cannot know the peer)."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs()


@dataclass(frozen=True)
class ClusterNetwork:
    """Where pods reach the Kubernetes API: the control-plane nodes' addresses after the `kubernetes` Service's NAT
    (NetworkPolicy sees the translated address and port). Empty: any address, on the API port only."""

    api_server_cidrs: tuple[str, ...] = ()
    api_server_port: int = 6443

    def api_egress(self) -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
        return egress_to(addresses(self.api_server_cidrs) or None, self.api_server_port)

    def from_api_server(self, port: int) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
        """The API server calling a webhook (from a control-plane node; a pod's own node is always admitted)."""
        return k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=addresses(self.api_server_cidrs) or None,
                                                               ports=tcp_ports(port))


@dataclass(frozen=True)
class PodFlows:
    """What one set of pods may receive and send beyond DNS (empty: nothing)."""

    name: str
    pods: dict[str, str]
    ingress: tuple = ()
    egress: tuple = ()


def fence_namespace(name: str, namespace: pulumi.Input[str], flows: list[PodFlows], component: str,
                    opts: pulumi.ResourceOptions) -> None:
    """Default-deny for ingress and egress, DNS for every pod, then each pod set's own flows."""
    policy(f"{name}-default-deny", object_meta("default-deny", namespace, "network-policy"), {}, ingress=[], egress=[],
           opts=opts)
    policy(f"{name}-dns", object_meta("dns", namespace, "network-policy"), {}, egress=[dns_egress()], opts=opts)
    for flow in flows:
        if flow.ingress or flow.egress:
            policy(f"{name}-{flow.name}", object_meta(f"{component}-{flow.name}", namespace, "network-policy"),
                   flow.pods, ingress=list(flow.ingress) or None, egress=list(flow.egress) or None, opts=opts)


def policy(
    name: str, metadata: k8s.meta.v1.ObjectMetaArgs, selector: pulumi.Input[dict[str, str]], *,
    ingress: list | None = None, egress: list | None = None, opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.NetworkPolicy:
    """A policy for the pods `selector` matches; a direction given (even empty: deny all) is enforced."""
    types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata=metadata,
        spec=k8s.networking.v1.NetworkPolicySpecArgs(
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            policy_types=types,
            ingress=ingress,
            egress=egress,
        ),
        opts=opts,
    )


def ingress_from(peers, port) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=peers, ports=tcp_ports(port))


class ServingNetworkPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingNetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:network:ServingNetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"llm-d.ai/model": args.model}
        ext_proc, metrics = args.epp_ports
        scrapers = [prometheus(args.prometheus_namespace)] if args.prometheus_namespace else []
        model_rules = [ingress_from([pods(args.gateway_pod_labels), pods(args.epp_pod_labels)], args.model_port)]
        epp_rules = [ingress_from([pods(args.gateway_pod_labels)], ext_proc)]
        if scrapers:
            model_rules.append(ingress_from(scrapers, args.model_port))
            epp_rules.append(ingress_from(scrapers, metrics))

        def meta(suffix: str) -> k8s.meta.v1.ObjectMetaArgs:
            return object_meta(f"{args.model}-{suffix}", args.namespace, "network-policy", **labels)

        # Model pods: the model is on their volume, so they need nothing outside the cluster but DNS.
        policy(f"{name}-model-pods", meta("model-pods"), args.model_pod_labels, ingress=model_rules,
               egress=[dns_egress()], opts=child)
        # The EPP watches pods and pools through the API and scrapes its model pods' metrics; nothing else.
        epp_egress = [dns_egress(), args.network.api_egress(), egress_to([pods(args.model_pod_labels)], args.model_port)]
        policy(f"{name}-epp", meta("epp"), args.epp_pod_labels, ingress=epp_rules, egress=epp_egress, opts=child)
        if args.loader_pod_labels is not None:
            pull = egress_to(addresses(args.registry_cidrs) or None, *args.registry_ports)
            # The loader takes no connections and talks only to DNS and the registry.
            policy(f"{name}-loader", meta("loader"), args.loader_pod_labels, ingress=[], egress=[dns_egress(), pull],
                   opts=child)
        self.register_outputs({})


@dataclass(frozen=True)
class NamespaceIsolationArgs:
    namespace: pulumi.Input[str]
    gateway_pod_labels: dict[str, str]  # the gateway's proxy pods, which take client traffic
    gateway_ports: tuple[int, ...]  # the Gateway's listener ports (the proxy listens on them)
    control_plane: tuple[str, dict[str, str], int]  # (namespace, pod labels, xDS port) the proxy is configured from
    backends: tuple[tuple[pulumi.Input[dict[str, str]], pulumi.Input[int]], ...]  # (pod labels, port): EPPs, models
    # False when a route matches the model header without the program's body router: the user's ext-proc is
    # one the proxy must reach, at an address this program does not know.
    limit_proxy_egress: bool = True
    processors: tuple[tuple[dict[str, str], int], ...] = ()  # (pod labels, port) of ext-procs the public proxy calls
    # With body-based routing: (pod labels, port) of the internal Gateway's proxy, which alone reaches `backends`.
    model_gateway: tuple[dict[str, str], int] | None = None


class NamespaceIsolation(pulumi.ComponentResource):
    """Ingress denied to every pod of the serving namespace unless a policy admits it; the gateway's proxy takes
    client traffic on its listener ports from anywhere (the LAN, through the load balancer)."""

    def __init__(self, name: str, args: NamespaceIsolationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:network:NamespaceIsolation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        fence_namespace(name, args.namespace, [], "serving", child)
        clients = k8s.networking.v1.NetworkPolicyIngressRuleArgs(ports=tcp_ports(*args.gateway_ports))
        # A proxy reaches its control plane (xDS), the EPPs (ext-proc) and the model pods they pick, and DNS.
        cp_namespace, cp_labels, xds_port = args.control_plane
        xds = egress_to([pods_in(cp_namespace, cp_labels)], xds_port)
        backends = [egress_to([pods(labels)], port) for labels, port in args.backends]
        processors = [egress_to([pods(labels)], port) for labels, port in args.processors]
        if args.model_gateway is None:
            egress = [dns_egress(), xds, *processors, *backends] if args.limit_proxy_egress else [egress_anywhere()]
        else:
            # Body-based routing: the public proxy calls the router and forwards to the internal proxy, which alone
            # reaches the EPPs and model pods, and takes requests from the public proxy only.
            internal_labels, internal_port = args.model_gateway
            egress = [dns_egress(), xds, *processors, egress_to([pods(internal_labels)], internal_port)]
            policy(f"{name}-model-gateway", object_meta("model-gateway", args.namespace, "network-policy"),
                   internal_labels, ingress=[ingress_from([pods(args.gateway_pod_labels)], internal_port)],
                   egress=[dns_egress(), xds, *backends], opts=child)
        policy(f"{name}-gateway", object_meta("gateway-clients", args.namespace, "network-policy"),
               args.gateway_pod_labels, ingress=[clients], egress=egress, opts=child)
        self.register_outputs({})
