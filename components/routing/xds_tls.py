"""TLS for kgateway's xDS server, from cert-manager: a CA of its own in the controller's namespace signs the
`kgateway-xds-cert` Secret the chart mounts when `controller.xds.tls.enabled` (kgateway v2.1.2 chart: the Secret must
be `kubernetes.io/tls` with `tls.crt`, `tls.key` and `ca.crt`; the controller hands the CA bundle to its proxies, per
kgateway's docs, install/tls.md). Its own CA, not the homelab CA: the proxies trust it for xDS only, and a Gateway
certificate from an issuer the user names (ACME) could not sign a cluster-internal name.
"""

from __future__ import annotations

import pulumi

from ..certificates import Issuer, cert_manager_object, self_signed_ca, server_certificate_spec
from ..meta import WAIT_FOR_READY

XDS_SECRET = "kgateway-xds-cert"  # the name the chart mounts
CA_SECRET = "kgateway-xds-ca"


def service_dns_names(service: str, namespace: str) -> list[str]:
    """The names a proxy may dial the xDS Service by."""
    return [service, f"{service}.{namespace}", f"{service}.{namespace}.svc", f"{service}.{namespace}.svc.cluster.local"]


def xds_certificate(name: str, namespace: pulumi.Input[str], namespace_name: str, service: str,
                    parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> pulumi.Resource:
    """The self-signed issuer, the CA, its issuer and the server certificate; returns the certificate, which the
    controller mounts: Pulumi waits until it is issued."""
    names = {"self_signed": "kgateway-xds-selfsigned", "secret": CA_SECRET, "issuer": CA_SECRET}
    ca_issuer = self_signed_ca(name, "Issuer", namespace, namespace, names, "kgateway-xds-ca", "87600h",
                               "gateway-xds-tls", parent, depends_on, ca_annotations=WAIT_FOR_READY)
    spec = server_certificate_spec(XDS_SECRET, "2160h", Issuer("Issuer", CA_SECRET),
                                   service_dns_names(service, namespace_name))
    return cert_manager_object(f"{name}-certificate", "Certificate", XDS_SECRET, namespace, spec, "gateway-xds-tls",
                               parent, [*depends_on, ca_issuer], WAIT_FOR_READY)
