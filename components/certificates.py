"""GatewayCertificate: the Gateway's HTTPS certificate, issued by cert-manager (installed here when asked for), from
an issuer the user names or from a self-signed homelab CA the component sets up.

The CA chain for a homelab: a self-signed ClusterIssuer signs one CA Certificate (its key stays in a Secret in
cert-manager's namespace, written by cert-manager, never in Pulumi's state); a CA ClusterIssuer built on it signs
the Gateway's certificate, whose Secret the Gateway's HTTPS listener names. Clients trust the CA's `ca.crt`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from . import helm
from .chart_sources import CERT_MANAGER
from .meta import namespace as meta_namespace
from .meta import WAIT_FOR_READY, object_meta
from .network import ClusterNetwork, PodFlows, egress_to, fence_namespace

API = "cert-manager.io/v1"


def certificate_secret(gateway_name: str) -> str:
    """The Secret cert-manager writes the Gateway's certificate into (in the Gateway's namespace)."""
    return f"{gateway_name}-tls"


def ca_names(namespace: str) -> dict[str, str]:
    """The homelab CA's objects: its Secret (in cert-manager's namespace) and the issuers around it."""
    return {"secret": "llmd-homelab-ca", "self_signed": "llmd-homelab-selfsigned", "issuer": "llmd-homelab-ca",
            "namespace": namespace}


@dataclass(frozen=True)
class Issuer:
    kind: str  # ClusterIssuer | Issuer (an Issuer in the Gateway's namespace)
    name: str


@dataclass(frozen=True)
class GatewayCertificateArgs:
    gateway_name: str
    namespace: pulumi.Input[str]  # the Gateway's
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...] = ()
    issuer: Issuer | None = None  # None: the self-signed homelab CA
    install: bool = True  # install cert-manager itself
    chart_version: str = CERT_MANAGER.version
    cert_manager_namespace: str = "cert-manager"
    ca_common_name: str = "llmd-homelab CA"
    duration: str = "2160h"  # 90 days; cert-manager renews a third before the end
    ca_duration: str = "87600h"  # 10 years: clients install it once
    waits_for: tuple[pulumi.Resource, ...] = field(default_factory=tuple)
    network: ClusterNetwork | None = None  # None: no NetworkPolicies in cert-manager's namespace


# cert-manager's pods as its chart labels them, and the webhook's listening port (`webhook.securePort`).
CERT_MANAGER_PODS = {
    "controller": {"app.kubernetes.io/name": "cert-manager", "app.kubernetes.io/component": "controller"},
    "cainjector": {"app.kubernetes.io/name": "cainjector", "app.kubernetes.io/component": "cainjector"},
    "webhook": {"app.kubernetes.io/name": "webhook", "app.kubernetes.io/component": "webhook"},
}
WEBHOOK_PORT = 10250


def cert_manager_flows(network: ClusterNetwork, external_issuer: bool) -> list[PodFlows]:
    """All three talk to the API server; the API server calls the webhook; only an issuer this program does not set
    up (ACME, Vault, ...) needs the controller to reach outside the cluster, at addresses this program cannot know:
    HTTPS (and HTTP for ACME's self check), and DNS on 53 (a DNS-01 propagation check asks the zone's authoritative
    nameservers directly, not the cluster DNS)."""
    issuer_egress = (egress_to(None, 443, 80), k8s.networking.v1.NetworkPolicyEgressRuleArgs(ports=[
        k8s.networking.v1.NetworkPolicyPortArgs(port=53, protocol=p) for p in ("UDP", "TCP")])) if external_issuer else ()
    return [
        PodFlows("controller", CERT_MANAGER_PODS["controller"], egress=(network.api_egress(), *issuer_egress)),
        PodFlows("cainjector", CERT_MANAGER_PODS["cainjector"], egress=(network.api_egress(),)),
        PodFlows("webhook", CERT_MANAGER_PODS["webhook"], ingress=(network.from_api_server(WEBHOOK_PORT),),
                 egress=(network.api_egress(),)),
    ]


def chart_values() -> dict:
    """cert-manager's chart as installed here: its CRDs rendered with it (kept on delete), no hook Job (helm.v4.Chart
    runs no hooks; the startup check is one), the controller's Prometheus endpoint off (nothing scrapes it)."""
    return {"crds": {"enabled": True, "keep": True}, "startupapicheck": {"enabled": False},
            "prometheus": {"enabled": False}}


def cert_manager_object(resource_name: str, kind: str, name: str, namespace: pulumi.Input[str] | None, spec: dict,
                        component: str, parent: pulumi.Resource, depends_on: list[pulumi.Resource],
                        annotations: dict[str, str] | None = None) -> k8s.apiextensions.CustomResource:
    metadata = object_meta(name, namespace, component)
    metadata.annotations = annotations
    return k8s.apiextensions.CustomResource(resource_name, api_version=API, kind=kind, metadata=metadata, spec=spec,
                                            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on))


def self_signed_ca(name: str, issuer_kind: str, issuer_namespace: pulumi.Input[str] | None, ca_namespace: pulumi.Input[str],
                   names: dict[str, str], common_name: str, duration: str, component: str, parent: pulumi.Resource,
                   depends_on: list[pulumi.Resource], ca_annotations: dict[str, str] | None = None) -> pulumi.Resource:
    """A self-signed issuer signs one CA Certificate (its key stays in a Secret cert-manager writes, never in
    Pulumi's state); returns the CA issuer built on it. `issuer_kind`: ClusterIssuer, or Issuer in
    `issuer_namespace`. `names`: the `self_signed` issuer, the CA `secret`, the CA `issuer`."""
    def make(suffix: str, kind: str, object_name: str, namespace, spec: dict, after: list[pulumi.Resource],
             annotations: dict[str, str] | None = None) -> pulumi.Resource:
        return cert_manager_object(f"{name}-{suffix}", kind, object_name, namespace, spec, component, parent, after,
                                   annotations)

    self_signed = make("selfsigned", issuer_kind, names["self_signed"], issuer_namespace, {"selfSigned": {}}, depends_on)
    ca = make("ca", "Certificate", names["secret"], ca_namespace, {
        "isCA": True, "commonName": common_name, "secretName": names["secret"], "duration": duration,
        "privateKey": {"algorithm": "ECDSA", "size": 256},
        "issuerRef": {"group": "cert-manager.io", "kind": issuer_kind, "name": names["self_signed"]},
    }, [*depends_on, self_signed], ca_annotations)
    return make("ca-issuer", issuer_kind, names["issuer"], issuer_namespace, {"ca": {"secretName": names["secret"]}},
                [*depends_on, ca])


def server_certificate_spec(secret: str, duration: str, issuer: "Issuer", dns_names: list[str],
                            ip_addresses: list[str] | None = None) -> dict:
    """A server certificate's spec: a fresh ECDSA key at each renewal, issued into `secret`."""
    spec: dict = {
        "secretName": secret,
        "duration": duration,
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["server auth", "digital signature", "key encipherment"],
        "issuerRef": {"group": "cert-manager.io", "kind": issuer.kind, "name": issuer.name},
    }
    if dns_names:
        spec["dnsNames"] = list(dns_names)
    if ip_addresses:
        spec["ipAddresses"] = list(ip_addresses)
    return spec


class GatewayCertificate(pulumi.ComponentResource):
    secret_name: str
    cert_manager_ready: list[pulumi.Resource]
    ca_secret: tuple[str, str] | None  # (namespace, Secret) holding `ca.crt`, for clients; None with a named issuer

    def __init__(self, name: str, args: GatewayCertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:certificates:GatewayCertificate", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        ready: list[pulumi.Resource] = list(args.waits_for)
        if args.install:
            namespace = meta_namespace(f"{name}-cert-manager-namespace", args.cert_manager_namespace,
                                       "cert-manager", "restricted", child)
            if args.network is not None:
                fence_namespace(f"{name}-cert-manager-network", namespace.metadata.name,
                                cert_manager_flows(args.network, args.issuer is not None), "cert-manager",
                                pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
            ready.append(helm.chart(f"{name}-cert-manager", CERT_MANAGER, args.chart_version, release="cert-manager",
                                    namespace=namespace.metadata.name, values=chart_values(),
                                    opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace])))
        # What other issuers in the cluster wait for (kgateway's xDS certificate).
        self.cert_manager_ready = list(ready)
        issuer = args.issuer
        self.ca_secret = None
        if issuer is None:
            names = ca_names(args.cert_manager_namespace)
            ready.append(self_signed_ca(name, "ClusterIssuer", None, args.cert_manager_namespace, names,
                                        args.ca_common_name, args.ca_duration, "certificates", self, ready))
            issuer = Issuer("ClusterIssuer", names["issuer"])
            self.ca_secret = (args.cert_manager_namespace, names["secret"])
        self.secret_name = certificate_secret(args.gateway_name)
        spec = server_certificate_spec(self.secret_name, args.duration, issuer, list(args.dns_names),
                                       list(args.ip_addresses))
        # The Gateway's HTTPS listener needs the Secret: Pulumi waits until cert-manager has issued it.
        self.certificate = cert_manager_object(f"{name}-certificate", "Certificate", args.gateway_name, args.namespace,
                                               spec, "certificates", self, ready, WAIT_FOR_READY)
        self.register_outputs({"secret_name": self.secret_name})
