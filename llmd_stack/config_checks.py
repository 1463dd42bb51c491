"""Checks only the program's own inputs can answer: CrossGuard never sees a Chart's version or values (a Chart is
registered with no inputs), so these run in `check` over what the program hands to each Chart and ConfigFile."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

from policies.rules.versions import release

from components.chart_files import staged_relative

from .charts import CHART_TYPE, CONFIG_FILE_TYPE, RELEASE_TYPE, source_name
from .engine import SECRET, Registration, RenderResult

_EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
_RELEASE_URL = re.compile(r"/(releases/download|raw)/v?[0-9]+\.[0-9]+\.[0-9]+[^/]*/")


@dataclass(frozen=True)
class ConfigCheck:
    id: str
    description: str
    fix: str
    check: Callable[[list[Registration]], list[tuple[Registration, str]]]


def _charts(registrations: list[Registration]) -> list[Registration]:
    return [r for r in registrations if r.type == CHART_TYPE]


def _minor(value: str) -> tuple[int, int] | None:
    found = release(value)
    return found[:2] if found else None


def _pinned(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    found = []
    for r in registrations:
        given = r.program_inputs or {}
        if r.type == RELEASE_TYPE:
            given = r.declared  # a helm.v3.Release keeps its inputs (one opaque resource)
        if r.type in (CHART_TYPE, RELEASE_TYPE) and not _EXACT_VERSION.match(str(given.get("version") or "")):
            found.append((r, f"chart {given.get('chart')!r} version {given.get('version', '')!r} is not an exact version"))
        file = str(given.get("file"))
        remote = "://" in file or staged_relative(file) is not None  # a URL, or one staged from the cache
        if r.type == CONFIG_FILE_TYPE and remote and not _RELEASE_URL.search(file):
            found.append((r, f"file {given.get('file')!r} is not a versioned release URL"))
    return found


def _kgateway_with_pools(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    charts = _charts(registrations)
    pools = [c for c in charts if source_name(CHART_TYPE, c.declared) == "inferencepool"]
    return [
        (c, f"kgateway {c.declared.get('version')}: Envoy InferencePool routing needs 2.1.x")
        for c in charts
        if pools and source_name(CHART_TYPE, c.declared) == "kgateway" and _minor(str(c.declared.get("version"))) != (2, 1)
    ]


def _epp_matches_pool_chart(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    found = []
    for c in _charts(registrations):
        if source_name(CHART_TYPE, c.declared) != "inferencepool":
            continue
        tag = str(((c.declared.get("values") or {}).get("inferenceExtension") or {}).get("image", {}).get("tag") or "")
        if tag and _minor(tag) != _minor(str(c.declared.get("version"))):
            found.append((c, f"EPP {tag} with inferencepool chart {c.declared.get('version')}"))
    return found


def _secret_values(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    """The provider renders a helm.v4.Chart into plain objects: a secret in its values can reach them, transformed
    past any masking (b64enc, toJson), and CrossGuard sees them. Secrets go in a Secret the chart references."""
    return [
        (r, "chart values carry a secret; reference a Secret the program creates instead")
        for r in registrations
        if r.type == CHART_TYPE and SECRET in json.dumps((r.program_inputs or {}).get("values"))
    ]


def _retained(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    """retainOnDelete is a resource option CrossGuard is not shown: what outlives a destroy is checked here. A PVC, a
    namespace holding one, and a CRD (deleting it deletes every object of its kind, the stack's or not)."""
    def kind(r: Registration) -> str:
        return str(r.inputs.get("kind", "")) if r.is_kubernetes_object else ""

    data_namespaces = {str((r.inputs.get("metadata") or {}).get("namespace")) for r in registrations
                       if kind(r) == "PersistentVolumeClaim"}
    found = []
    for r in registrations:
        name = str((r.inputs.get("metadata") or {}).get("name"))
        what = {"PersistentVolumeClaim": "PVC", "CustomResourceDefinition": "CRD"}.get(kind(r))
        if kind(r) == "Namespace" and name in data_namespaces:
            what = "namespace holding a PVC"
        if what and not r.retain_on_delete:
            found.append((r, f"{what} {name!r} is not retained on delete: a destroy or a URN change deletes it"))
    return found


CONFIG_CHECKS = [
    ConfigCheck("charts-pinned", "Every Helm chart and remote YAML file is pinned to an exact release.",
                "Set the chart version to an exact release; use a release download URL.", _pinned),
    ConfigCheck("no-secrets-in-chart-values", "No Pulumi secret is handed to a helm.v4.Chart's values.",
                "Put the secret in a Secret and pass the chart its name.", _secret_values),
    ConfigCheck("kgateway-2.1-with-pools", "kgateway is 2.1.x when InferencePools are routed (Envoy routing).",
                "Pin gateway.kgatewayVersion to v2.1.x.", _kgateway_with_pools),
    ConfigCheck("retained-on-delete", "PVCs, the namespaces that hold them and CRDs outlive a destroy (retainOnDelete).",
                "Keep the program's retain_on_delete (the CRD transform of components/helm.py for chart-rendered CRDs).",
                _retained),
    ConfigCheck("epp-matches-pool-chart", "The EPP image and the inferencepool chart are the same GAIE release.",
                "Set scheduling.eppImage to the tag of scheduling.chartVersion.", _epp_matches_pool_chart),
]


def config_violations(result: RenderResult) -> list[tuple[ConfigCheck, Registration, str]]:
    return [(check, r, message) for check in CONFIG_CHECKS for r, message in check.check(result.resources)]
