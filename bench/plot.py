"""The render-time plot: a chart a person would show (title, labelled axes, round ticks, a legend)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on CI or over SSH

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def render_time_plot(series: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    """Seconds against model count, one line per series, written as a PNG at `path`."""
    figure, axes = plt.subplots(figsize=(7, 4.2), dpi=120)
    for label, points in series.items():
        xs, ys = zip(*sorted(points))
        axes.plot(xs, ys, marker="o", label=label)
    # Linear axes: the render is linear in models, and a log axis would bend that line.
    axes.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True, steps=[1, 2, 4, 8, 10]))
    axes.set_xlim(left=0)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    axes.set_ylim(bottom=0)
    axes.set_xlabel("models in the stack")
    axes.set_ylabel("render time (s)")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
