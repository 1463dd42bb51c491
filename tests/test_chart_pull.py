"""`charts pull`: what the stacks need, fetched into the cache's first folder, never twice; failures reported.

The fetchers are injected: tests run without network, and the real ones (Helm pull, HTTPS) are what users run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import ROOT, TEST_CACHE

from llmd_stack.chart_pull import Wanted, pull, wanted_by
from llmd_stack.charts import ChartCache


def test_every_chart_and_file_the_stacks_render_is_wanted():
    wanted, skipped = wanted_by(ROOT, ["homelab", "sim"])
    assert skipped == []
    labels = {w.label for w in wanted}
    assert {
        # sim: today's path (agentgateway, llm-d-router, body-based routing from GAIE's last chart, Gateway API v1.6.1)
        "oci://cr.agentgateway.dev/charts/agentgateway v1.4.1",
        "oci://cr.agentgateway.dev/charts/agentgateway-crds v1.4.1",
        "oci://ghcr.io/llm-d/charts/llm-d-router-gateway v0.10.0",
        "oci://registry.k8s.io/gateway-api-inference-extension/charts/body-based-routing v1.5.0",
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml",
        "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/v1.6.0/manifests.yaml",
        "https://github.com/llm-d/llm-d-router/releases/download/v0.10.0/manifests.yaml",
        "cert-manager v1.21.1",  # homelab: HTTPS from its own CA
        # homelab: the seed's path
        "oci://ghcr.io/intel/intel-resource-drivers-for-kubernetes/intel-gpu-resource-driver-chart 0.11.0",
        "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool v1.2.1",
        "llm-d-modelservice v0.4.12",
        "kube-prometheus-stack 88.5.3",
        "oci://cr.kgateway.dev/kgateway-dev/charts/kgateway v2.1.2",
        "oci://cr.kgateway.dev/kgateway-dev/charts/kgateway-crds v2.1.2",
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.0/standard-install.yaml",
        "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/v1.2.1/manifests.yaml",
    } == labels
    modelservice = next(w for w in wanted if w.chart == "llm-d-modelservice")
    assert modelservice.repo == "https://llm-d-incubation.github.io/llm-d-modelservice/"
    assert modelservice.cache_path == "llm-d-modelservice-v0.4.12.tgz"


def _fake_helm(wanted: Wanted, scratch: Path) -> Path:
    """Stands in for the registry: serves the archive from the shared mirror, as `helm pull` would write it."""
    source = TEST_CACHE.find(wanted.cache_path)
    if source is None or "kgateway" in wanted.chart:  # a registry that cannot be reached
        raise RuntimeError(f"{wanted.chart}: not found")
    return Path(shutil.copy(source, scratch / source.name))


def _fake_https(url: str, scratch: Path) -> Path:
    target = scratch / "file"
    shutil.copy(TEST_CACHE.find(Wanted(url).cache_path), target)
    return target


def test_pull_fills_the_first_folder_skips_what_is_cached_and_reports_failures(tmp_path):
    wanted, _ = wanted_by(ROOT, ["homelab"])
    cache = ChartCache((tmp_path / "cache", *TEST_CACHE.folders))
    outcome = dict((w.label, status) for w, status in pull(wanted, ChartCache((tmp_path / "cache",)),
                                                             fetch_chart=_fake_helm, fetch_file=_fake_https))
    assert outcome["llm-d-modelservice v0.4.12"] == "pulled"
    assert outcome["oci://cr.kgateway.dev/kgateway-dev/charts/kgateway v2.1.2"].startswith("failed: ")
    assert (tmp_path / "cache" / "llm-d-modelservice-v0.4.12.tgz").read_bytes() == (
        TEST_CACHE.find("llm-d-modelservice-v0.4.12.tgz")).read_bytes()
    assert (tmp_path / "cache" / "urls/github.com/kubernetes-sigs/gateway-api/releases/download/v1.4.0/standard-install.yaml").is_file()
    again = dict((w.label, s) for w, s in pull(wanted, cache, fetch_chart=_fake_helm, fetch_file=_fake_https))
    assert again["llm-d-modelservice v0.4.12"] == "cached"
    assert not list((tmp_path / "cache").glob("kgateway*"))


def test_the_catalogue_holds_every_chart_the_tests_render_and_the_test_cache_has_them_all():
    from llmd_stack.chart_pull import catalogue

    wanted = catalogue()
    labels = {w.label for w in wanted}
    assert "oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool v1.1.0" in labels
    assert "oci://ghcr.io/intel/xpumanager/charts/xpumd 2.0.0" in labels
    assert "kube-prometheus-stack 88.5.3" in labels
    # `make test` pulls the catalogue; CI uses the shared mirror
    assert sorted(w.label for w in wanted if not TEST_CACHE.find(w.cache_path)) == []
