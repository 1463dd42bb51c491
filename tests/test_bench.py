"""The benchmark's own logic (no timings): critical-path waves, the linear fit, the PNG writer."""

from __future__ import annotations

import sys

import pytest

from bench.__main__ import linear_fit
from bench.critical_path import longest_chain, steps


def test_model_download_starts_in_the_first_wave(homelab_render):
    by_name = {s.name: s for s in steps(homelab_render)}
    assert by_name["ds-r1-llama-8b-cache-loader"].wave == 1
    assert by_name["gpu-driver"].wave == 1
    # The model pods wait for the download and the driver, and nothing slower.
    release = by_name["ds-r1-llama-8b-release"]
    assert release.wave == 2 and release.after in ("ds-r1-llama-8b-cache-loader", "gpu-driver")


def test_waves_follow_crds_controllers_then_custom_resources(homelab_render):
    by_name = {s.name: s for s in steps(homelab_render)}
    assert by_name["gateway-kgateway-crds"].wave > by_name["gateway-gateway-api-crds"].wave
    assert by_name["gateway-kgateway-controller"].wave > by_name["gateway-kgateway-crds"].wave
    assert by_name["gateway-gateway"].wave > by_name["gateway-kgateway-controller"].wave
    route = by_name["gateway-route-ds-r1-llama-8b"]
    assert route.wave > by_name["gateway-gateway"].wave and route.wave > by_name["ds-r1-llama-8b-pool-release"].wave
    chain = [s.name for s in longest_chain(steps(homelab_render))]
    assert chain[-1] == "gateway-route-ds-r1-llama-8b" and "crds" in chain[0]


def test_linear_fit():
    a, b, r2 = linear_fit([(1, 3.0), (2, 5.0), (4, 9.0)])
    assert (round(a, 6), round(b, 6), round(r2, 6)) == (1.0, 2.0, 1.0)


# requirements-bench.txt installs matplotlib on Python >= 3.11 only (CI runs 3.11); on 3.10 these say why they skip.
needs_matplotlib = pytest.mark.skipif(sys.version_info < (3, 11), reason="matplotlib 3.11 (bench only) needs Python >= 3.11")


@needs_matplotlib
def test_the_plot_has_a_title_labelled_axes_round_ticks_and_a_legend(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    from bench.plot import render_time_plot

    seen = {}
    monkeypatch.setattr(Figure, "savefig", lambda self, path, **kw: seen.update(figure=self, path=path))
    series = {"stack": [(1, 0.61), (4, 0.93), (16, 2.2), (64, 7.34)], "floor": [(1, 0.3), (4, 0.45), (16, 1.1), (64, 3.9)]}
    render_time_plot(series, tmp_path / "p.png", "Offline render time")
    axes = seen["figure"].axes[0]
    assert axes.get_title() == "Offline render time"
    assert axes.get_xlabel() == "models in the stack" and axes.get_ylabel() == "render time (s)"
    low, high = axes.get_xlim()
    assert [t for t in axes.get_xticks() if low <= t <= high] == [0, 20, 40, 60]  # linear, from 0, round
    y_ticks = axes.get_yticks()
    assert y_ticks[0] == 0 and all(float(t * 2).is_integer() for t in y_ticks), y_ticks  # round: 0, 1, 2 or 0, 2.5, 5
    assert [t.get_text() for t in axes.get_legend().get_texts()] == ["stack", "floor"]


@needs_matplotlib
def test_the_plot_is_written_as_a_png(tmp_path):
    from bench.plot import render_time_plot

    render_time_plot({"stack": [(1, 0.5), (64, 4.0)]}, tmp_path / "p.png", "t")
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("count", [1, 4, 64])
def test_the_generated_stacks_pass_the_config_checks(count):
    """The bench renders stacks of N models: each must be a valid stack (it once failed the capacity check)."""
    from bench.stacks import SECRETS, with_models
    from llmd_stack.config import parse_config

    cfg = parse_config({**with_models(count), **SECRETS}, set(SECRETS))
    assert len(cfg.models) == count
