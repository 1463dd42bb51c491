"""HTTPS on every stack a LAN can reach: the Gateway's certificate from cert-manager (a homelab CA or a named
issuer) or from a Secret the user names; plain HTTP only when acknowledged."""

from __future__ import annotations

import copy

import pytest
from conftest import objects
from test_config import problems

from components.certificates import certificate_secret


def named(result, kind: str, name: str) -> dict:
    [found] = [o for o in objects(result, kind) if o["metadata"]["name"] == name]
    return found


def test_the_homelab_serves_https_with_a_certificate_from_its_own_ca(homelab_render, homelab):
    [gateway] = objects(homelab_render, "Gateway")
    [listener] = gateway["spec"]["listeners"]
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)  # no plain HTTP listener beside it
    [ref] = listener["tls"]["certificateRefs"]
    certificate = named(homelab_render, "Certificate", gateway["metadata"]["name"])
    # cert-manager writes the Secret the listener names, in the Gateway's namespace, for the names clients use.
    assert ref == {"kind": "Secret", "name": certificate["spec"]["secretName"]} == {"kind": "Secret", "name": certificate_secret("llm-d-gateway")}
    assert certificate["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert certificate["spec"]["dnsNames"] == homelab["certificates"]["dnsNames"]
    # The chain: a self-signed issuer signs the CA certificate, whose Secret backs the issuer of the Gateway's.
    issuer = named(homelab_render, "ClusterIssuer", certificate["spec"]["issuerRef"]["name"])
    ca = [c for c in objects(homelab_render, "Certificate") if c["spec"]["secretName"] == issuer["spec"]["ca"]["secretName"]]
    assert len(ca) == 1 and ca[0]["spec"]["isCA"] is True
    root = named(homelab_render, "ClusterIssuer", ca[0]["spec"]["issuerRef"]["name"])
    assert root["spec"] == {"selfSigned": {}}
    outputs = homelab_render.outputs
    assert outputs["models"]["ds-r1-llama-8b"]["baseUrl"] == "https://llm.homelab.lan/v1"
    assert outputs["certificateAuthority"]["secret"] == f"{ca[0]['metadata']['namespace']}/{ca[0]['spec']['secretName']}"


def test_the_gateway_waits_for_its_certificate(homelab_render):
    gateway = next(r for r in homelab_render.resources if r.is_kubernetes_object and r.inputs.get("kind") == "Gateway")
    [certificate] = [r for r in homelab_render.resources if r.is_kubernetes_object and not r.rendered_by
                     and r.inputs.get("kind") == "Certificate" and r.inputs["metadata"]["name"] == "llm-d-gateway"]
    assert certificate.urn in gateway.depends_on


def test_cert_manager_is_installed_without_hooks_and_keeps_its_crds(homelab_render):
    chart = homelab_render.one("kubernetes:helm.sh/v4:Chart", "certificate-cert-manager")
    assert chart.declared["values"]["startupapicheck"] == {"enabled": False}  # a Helm hook Job: never run by the Chart
    crds = [r for r in homelab_render.resources if r.rendered_by == chart.urn
            and r.inputs.get("kind") == "CustomResourceDefinition"]
    assert {c.inputs["metadata"]["name"] for c in crds} >= {"certificates.cert-manager.io", "clusterissuers.cert-manager.io"}
    assert all(c.retain_on_delete for c in crds)
    [namespace] = [n for n in objects(homelab_render, "Namespace") if n["metadata"]["name"] == "cert-manager"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def gateway_certificates(result) -> list[dict]:
    """The homelab CA's and the Gateway's (kgateway's xDS has a CA of its own: tests/test_network_fences.py)."""
    return [c for c in objects(result, "Certificate") if c["metadata"]["namespace"] != "kgateway-system"]


def test_a_named_issuer_replaces_the_homelab_ca(render, homelab):
    homelab["certificates"]["issuer"] = {"kind": "ClusterIssuer", "name": "letsencrypt"}
    result = render(homelab)
    [certificate] = gateway_certificates(result)
    assert certificate["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"}
    # The Gateway is created once the certificate is issued, not merely requested.
    assert certificate["metadata"]["annotations"] == {"pulumi.com/waitFor": "condition=Ready"}
    assert objects(result, "ClusterIssuer") == []
    assert result.outputs["certificateAuthority"] is None


def test_a_cluster_that_runs_cert_manager_gets_only_the_certificates(render, homelab):
    homelab["certificates"]["install"] = False
    result = render(homelab)
    assert not [r for r in result.resources if r.name == "certificate-cert-manager"]
    assert len(gateway_certificates(result)) == 2  # the homelab CA and the Gateway's


def test_a_secret_the_user_names_serves_https_without_cert_manager(render, homelab):
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {"tls": {"secretName": "my-cert"}}
    result = render(homelab)
    [gateway] = objects(result, "Gateway")
    assert gateway["spec"]["listeners"][0]["tls"]["certificateRefs"] == [{"kind": "Secret", "name": "my-cert"}]
    assert objects(result, "Certificate") == []


@pytest.mark.parametrize("mutate, key, fragment", [
    (lambda c: c.update(certificates={"enabled": False}), "gateway.tls", "gateway.plainHttp: true"),
    (lambda c: c.update(gateway={"tls": {"secretName": "my-cert"}}), "gateway.tls.secretName", "contradicts"),
    (lambda c: c.update(certificates={"enabled": True}), "certificates.dnsNames", "required"),
    (lambda c: c.update(gateway={"plainHttp": True}), "gateway.plainHttp", "contradicts"),
])
def test_tls_mistakes_are_config_errors_naming_the_key(homelab, mutate, key, fragment):
    mutate(homelab)
    found = problems(homelab)
    assert key in found and fragment in found[key], found


def test_plain_http_is_served_only_when_acknowledged(render, homelab):
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {"plainHttp": True}
    [gateway] = objects(render(homelab), "Gateway")
    assert [(lst["protocol"], lst["port"]) for lst in gateway["spec"]["listeners"]] == [("HTTP", 80)]


def test_the_simulator_needs_no_https(render):
    from conftest import stack_config

    sim = copy.deepcopy(stack_config("sim"))
    assert "certificates" not in sim and not sim["gateway"].get("plainHttp")
    render(sim, secrets={})
