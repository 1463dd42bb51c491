"""Shared fixtures: every test renders the real program through the offline engine."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from llmd_stack.charts import ChartCache
from llmd_stack.engine import RenderResult
from llmd_stack.offline import render_config
from llmd_stack.stackfile import plain_config

ROOT = Path(__file__).resolve().parent.parent
SHARED_CHARTS = ROOT.parent / "shared" / "charts"


def _test_chart_cache() -> str:
    """The chart cache tests render from: the configured one (LLMD_CHART_CACHE), else the shared mirror beside the
    project, else the user cache `make test` fills. Every chart the stacks deploy renders from it."""
    from llmd_stack.charts import DEFAULT_CACHE

    return os.environ.get("LLMD_CHART_CACHE") or str(SHARED_CHARTS if SHARED_CHARTS.is_dir() else DEFAULT_CACHE)


os.environ["LLMD_CHART_CACHE"] = _test_chart_cache()
TEST_CACHE = ChartCache.from_env()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Without every chart the tests render, the suite stops here with one message (not 96 failures)."""
    from llmd_stack.chart_pull import catalogue
    from llmd_stack.charts import missing_message

    missing = [w.short_label for w in catalogue() if TEST_CACHE.find(w.cache_path) is None]
    if missing:
        pytest.exit(f"error: {missing_message(missing, TEST_CACHE, 'the tests render these charts and files')}",
                    returncode=3)
TOKEN = "s3cr3t-robot-token-value"
PASSWORD = "gr4fana-admin-password"
API_KEY = "sk-homelab-api-key-0123456789abcdef"


def homelab_project(folder: Path, stack: str, config: dict[str, Any]) -> tuple[Path, str]:
    """A project folder holding the homelab stack file as stack `stack`, its project keys replaced by `config`
    (unqualified): (the folder, the stack file's text)."""
    import shutil

    import yaml

    prefix = "llmd-homelab:"
    doc = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())
    doc["config"] = {**{k: v for k, v in doc["config"].items() if not k.startswith(prefix)},
                     **{prefix + k: v for k, v in config.items()}}
    project = folder / "project"
    project.mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", project / "Pulumi.yaml")
    text = yaml.safe_dump(doc, sort_keys=False)
    (project / f"Pulumi.{stack}.yaml").write_text(text)
    return project, text


def stack_config(stack: str = "homelab") -> dict[str, Any]:
    """The `llmd-homelab:*` keys of a stack file, unqualified, without the secure values."""
    return plain_config(ROOT, stack)


def with_gpu_room(config: dict[str, Any], cards: int = 16) -> dict[str, Any]:
    """`config` with a GPU inventory roomy enough for what tests add (models, replicas, GPUs per replica): they test
    something else than capacity, which would refuse more than the homelab's two A770s (tests/test_capacity.py)."""
    model = config.get("gpu", {}).get("selection", {}).get("model", "A770")
    config.setdefault("gpu", {})["nodes"] = [{"name": "homelab-gpu", "cards": cards, "model": model}]
    return config


@pytest.fixture
def homelab() -> dict[str, Any]:
    """A fresh, mutable copy of the homelab stack config, with room for more GPUs than its two (with_gpu_room)."""
    return with_gpu_room(copy.deepcopy(stack_config("homelab")))


@pytest.fixture
def render() -> Callable[..., RenderResult]:
    """Render a config dict (unqualified keys) with known plaintext secrets."""

    def _render(config: dict[str, Any], secrets: dict[str, str] | None = None, allow_unrendered: bool = False) -> RenderResult:
        result = render_config(
            config, secrets if secrets is not None else {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD,
                                                         "apiKey": API_KEY}
        )
        # A chart missing from the cache renders no objects: a test looking for one would fail far from the cause
        # (a StopIteration once, when a pull had failed and the suite ran on). Say what is missing instead.
        if result.unrendered and not allow_unrendered:
            pytest.fail(f"not rendered: {', '.join(c.label for c in result.unrendered)} (not in the chart cache)")
        return result

    return _render


@pytest.fixture
def homelab_render(render, homelab) -> RenderResult:
    return render(homelab)


def chart_values(result: RenderResult, name: str) -> dict[str, Any]:
    """The values a Helm chart resource was given (what the offline render and CrossGuard see)."""
    return result.one("kubernetes:helm.sh/v4:Chart", name).declared["values"]


def objects(result: RenderResult, kind: str) -> list[dict[str, Any]]:
    """Every Kubernetes object of a kind the stack deploys: declared directly or rendered by a chart."""
    return [r.inputs for r in result.resources if r.is_kubernetes_object and r.inputs.get("kind") == kind]


def declared_objects(result: RenderResult, kind: str) -> list[dict[str, Any]]:
    """Objects of a kind the program declares itself (not chart-rendered)."""
    return [r.inputs for r in result.resources if r.is_kubernetes_object and not r.rendered_by and r.inputs.get("kind") == kind]


def second_model(config: dict[str, Any], name: str = "qwen-7b", served: str = "qwen2.5-7b") -> dict[str, Any]:
    """A second model with its own ModelKit and its own route prefix."""
    model = copy.deepcopy(config["models"][0])
    model.update(name=name, servedName=served, modelKit={"repository": name, "tag": "2.0.0"})
    model["route"] = {**model.get("route", {}), "pathPrefix": f"/{name}"}
    return model


def model_pvcs(result: RenderResult) -> list:
    """The model-cache PVC registrations (Prometheus has a PVC of its own)."""
    return [
        r for r in result.of_type("kubernetes:core/v1:PersistentVolumeClaim")
        if r.inputs["metadata"]["labels"].get("app.kubernetes.io/component") == "model-cache"
    ]
