"""Composition-level invariants of every render: one explicit provider, components wired under the stack."""

from __future__ import annotations


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
