"""Composition-level invariants of every render: one explicit provider, components wired under the stack."""

from __future__ import annotations

import pytest


def test_one_explicit_kubernetes_provider_is_used_by_every_kubernetes_resource(homelab_render):
    providers = homelab_render.of_type("pulumi:providers:kubernetes")
    assert len(providers) == 1
    provider_ref = f"{providers[0].urn}::{providers[0].name}-id"
    custom = [r for r in homelab_render.resources if r.custom and r.type.startswith("kubernetes:")]
    assert custom
    for resource in custom:
        assert resource.provider == provider_ref, resource.urn


def test_provider_takes_kubeconfig_and_context_from_config(render, homelab):
    homelab["cluster"].update(kubeconfig="/etc/rancher/k3s/k3s.yaml", context="homelab")
    provider = render(homelab).one("pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "/etc/rancher/k3s/k3s.yaml"
    assert provider.inputs["context"] == "homelab"


def test_homelab_pins_its_context(homelab_render):
    assert homelab_render.one("pulumi:providers:kubernetes").inputs["context"] == "default"


def test_provider_without_kubeconfig_uses_the_default_lookup(render, homelab):
    homelab["cluster"].pop("context")
    provider = render(homelab).one("pulumi:providers:kubernetes")
    assert "kubeconfig" not in provider.inputs and "context" not in provider.inputs


# --- stack outputs a user reaches for ---------------------------------------------------------------------------------


@pytest.fixture
def gateway_reports(monkeypatch):
    """The engine returns what the provider read back after applying the Gateway: here, the address kgateway put in
    its status. (The offline engine's own mocks echo the inputs: no status, no address.)"""
    from llmd_stack import engine

    echo = engine._Mocks.new_resource

    def new_resource(self, args):
        resource_id, outputs = echo(self, args)
        if args.typ == "kubernetes:gateway.networking.k8s.io/v1:Gateway":
            outputs = {**outputs, "status": {"addresses": [{"type": "IPAddress", "value": "192.168.1.50"}]}}
        return resource_id, outputs

    monkeypatch.setattr(engine._Mocks, "new_resource", new_resource)


def test_outputs_give_the_gateway_address_and_each_models_base_url(render, homelab, gateway_reports):
    result = render(homelab)
    assert result.outputs["gatewayAddress"] == "192.168.1.50"
    # HTTPS: the name the certificate covers (TLS verifies it), not the address.
    assert result.outputs["models"]["ds-r1-llama-8b"]["baseUrl"] == "https://llm.homelab.lan/v1"
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {"plainHttp": True}
    assert render(homelab).outputs["models"]["ds-r1-llama-8b"]["baseUrl"] == "http://192.168.1.50/v1"
    # A route with a hostname is reached by that name; an HTTPS listener on another port shows in the URL.
    homelab["models"][0]["route"] = {"hostnames": ["llm.homelab.lan"], "pathPrefix": "/ds"}
    homelab["gateway"] = {"tls": {"secretName": "llm-tls", "port": 8443}}
    assert render(homelab).outputs["models"]["ds-r1-llama-8b"]["baseUrl"] == "https://llm.homelab.lan:8443/ds/v1"


def test_without_a_reported_address_the_outputs_say_so_rather_than_guess(render, homelab):
    homelab["certificates"] = {"enabled": False}
    homelab["gateway"] = {"plainHttp": True}
    result = render(homelab)
    assert result.outputs["gatewayAddress"] is None
    assert result.outputs["models"]["ds-r1-llama-8b"]["baseUrl"] is None


def test_the_grafana_output_names_the_service_the_chart_renders(homelab_render, render, homelab):
    grafana = homelab_render.outputs["grafana"]
    (service,) = [r.inputs for r in homelab_render.resources if r.inputs.get("kind") == "Service"
                  and r.inputs["metadata"]["name"] == "kube-prometheus-stack-grafana"]
    assert grafana["service"] == f"http://{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert [p["port"] for p in service["spec"]["ports"]] == [80]
    assert grafana["portForward"] == "kubectl -n monitoring port-forward service/kube-prometheus-stack-grafana 3000:80"
    homelab["monitoring"] = {"grafana": False}
    assert render(homelab).outputs["grafana"] is None
