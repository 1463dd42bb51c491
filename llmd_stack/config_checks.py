"""Checks only the program's own inputs can answer: CrossGuard never sees a Chart's version or values (a Chart is
registered with no inputs), so these run in `check` over what the program hands to each Chart and ConfigFile."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Callable

from components.versions import release

from .charts import CHART_TYPE, CONFIG_FILE_TYPE, RELEASE_TYPE, chart_name
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
        if r.type == CONFIG_FILE_TYPE and "://" in str(given.get("file")) and not _RELEASE_URL.search(str(given.get("file"))):
            found.append((r, f"file {given.get('file')!r} is not a versioned release URL"))
    return found


def _kgateway_with_pools(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    charts = _charts(registrations)
    pools = [c for c in charts if chart_name(str(c.declared.get("chart"))) == "inferencepool"]
    return [
        (c, f"kgateway {c.declared.get('version')}: Envoy InferencePool routing needs 2.1.x")
        for c in charts
        if pools and chart_name(str(c.declared.get("chart"))) == "kgateway" and _minor(str(c.declared.get("version"))) != (2, 1)
    ]


def _epp_matches_pool_chart(registrations: list[Registration]) -> list[tuple[Registration, str]]:
    found = []
    for c in _charts(registrations):
        if chart_name(str(c.declared.get("chart"))) != "inferencepool":
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


CONFIG_CHECKS = [
    ConfigCheck("charts-pinned", "Every Helm chart and remote YAML file is pinned to an exact release.",
                "Set the chart version to an exact release; use a release download URL.", _pinned),
    ConfigCheck("no-secrets-in-chart-values", "No Pulumi secret is handed to a helm.v4.Chart's values.",
                "Put the secret in a Secret and pass the chart its name.", _secret_values),
    ConfigCheck("kgateway-2.1-with-pools", "kgateway is 2.1.x when InferencePools are routed (Envoy routing).",
                "Pin gateway.kgatewayVersion to v2.1.x.", _kgateway_with_pools),
    ConfigCheck("epp-matches-pool-chart", "The EPP image and the inferencepool chart are the same GAIE release.",
                "Set scheduling.eppImage to the tag of scheduling.chartVersion.", _epp_matches_pool_chart),
]


def config_violations(result: RenderResult) -> list[tuple[ConfigCheck, Registration, str]]:
    return [(check, r, message) for check in CONFIG_CHECKS for r, message in check.check(result.resources)]
