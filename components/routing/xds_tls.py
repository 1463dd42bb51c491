"""TLS for kgateway's xDS server, from cert-manager: a CA of its own in the controller's namespace signs the
`kgateway-xds-cert` Secret the chart mounts when `controller.xds.tls.enabled` (kgateway v2.1.2 chart: the Secret must
be `kubernetes.io/tls` with `tls.crt`, `tls.key` and `ca.crt`; the controller hands the CA bundle to its proxies, per
kgateway's docs, install/tls.md). Its own CA, not the homelab CA: the proxies trust it for xDS only, and a Gateway
certificate from an issuer the user names (ACME) could not sign a cluster-internal name.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ..meta import WAIT_FOR_READY, object_meta

API = "cert-manager.io/v1"
XDS_SECRET = "kgateway-xds-cert"  # the name the chart mounts
CA_SECRET = "kgateway-xds-ca"


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names a proxy may dial the xDS Service by."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def xds_certificate(name: str, namespace: pulumi.Input[str], namespace_name: str, service: str,
                    parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> pulumi.Resource:
    """The self-signed issuer, the CA, its issuer and the server certificate; returns the certificate."""

    def issue(suffix: str, kind: str, object_name: str, spec: dict, after: list[pulumi.Resource]):
        metadata = object_meta(object_name, namespace, "gateway-xds-tls")
        if kind == "Certificate":  # the controller mounts its Secret: wait until it is issued
            metadata.annotations = WAIT_FOR_READY
        return k8s.apiextensions.CustomResource(
            f"{name}-{suffix}", api_version=API, kind=kind, metadata=metadata, spec=spec,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=after))

    self_signed = issue("selfsigned", "Issuer", "kgateway-xds-selfsigned", {"selfSigned": {}}, depends_on)
    ca = issue("ca", "Certificate", CA_SECRET, {
        "isCA": True, "commonName": "kgateway-xds-ca", "secretName": CA_SECRET, "duration": "87600h",
        "privateKey": {"algorithm": "ECDSA", "size": 256},
        "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": "kgateway-xds-selfsigned"},
    }, [*depends_on, self_signed])
    ca_issuer = issue("ca-issuer", "Issuer", CA_SECRET, {"ca": {"secretName": CA_SECRET}}, [*depends_on, ca])
    return issue("certificate", "Certificate", XDS_SECRET, {
        "secretName": XDS_SECRET, "duration": "2160h",
        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
        "usages": ["server auth", "digital signature", "key encipherment"],
        "dnsNames": service_dns_names(service, namespace_name),
        "issuerRef": {"group": "cert-manager.io", "kind": "Issuer", "name": CA_SECRET},
    }, [*depends_on, ca_issuer])
