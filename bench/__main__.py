"""`make bench`: render cost (every stack file; homelab with 1/4/16/64 models) against a floor, and the deployment
critical path.

Writes build/bench/report.md and build/bench/render-time.png. Not part of `make test`: numbers, not assertions.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .critical_path import GUIDE_ORDER, longest_chain, steps
from .stacks import ROOT, SECRETS, homelab

MODEL_COUNTS = (1, 4, 16, 64)
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
OUT = ROOT / "build" / "bench"


def measure(kind: str, size: int | str) -> dict:
    """Median of RUNS fresh-process runs (seconds and peak memory of the render itself)."""
    runs = []
    for _ in range(RUNS):
        proc = subprocess.run([sys.executable, "-m", "bench.measure", kind, str(size)], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return {
        **runs[0],
        "seconds": statistics.median(r["seconds"] for r in runs),
        "peak_mib": statistics.median(r["peak_mib"] for r in runs),
        "chart_seconds": statistics.median(r.get("chart_seconds", 0.0) for r in runs),
    }


def linear_fit(points: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Least squares y = a + b x; returns (a, b, r squared)."""
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    a = my - b * mx
    ss_res = sum((y - a - b * x) ** 2 for x, y in points)
    ss_tot = sum((y - my) ** 2 for _, y in points)
    return a, b, 1 - ss_res / ss_tot if ss_tot else 1.0


def critical_path_section() -> list[str]:
    from llmd_stack.offline import render_config

    result = render_config(homelab(), dict(SECRETS), stack="bench")
    all_steps = steps(result)
    waves: dict[int, list[str]] = {}
    for s in all_steps:
        if s.waiting:
            waves.setdefault(s.wave, []).append(f"{s.name} ({s.type.split(':')[-1]})")
    download = next(s for s in all_steps if s.type == "kubernetes:batch/v1:Job")
    chain = longest_chain(all_steps)
    lines = ["## Deployment critical path (homelab)", "",
             f"`pulumi up` waits through **{max(waves)} sequential waves**; resources that wait (charts, CRD bundles, Jobs,",
             "custom resources, workloads) per wave:", "", "| wave | resources |", "|---|---|"]
    lines += [f"| {w} | {', '.join(sorted(names))} |" for w, names in sorted(waves.items())]
    lines += ["", f"Longest chain ({len(chain)} waiting steps): " + " -> ".join(s.name for s in chain) + ".", "",
              f"The model download (`{download.name}`) starts in **wave {download.wave}**, in parallel with the GPU driver, "
              "the CRDs, the gateway and monitoring; the model pods wait only for it and the GPU driver.", "",
              f"The llm-d guides' helmfile installs one release after another ({len(GUIDE_ORDER)} sequential steps), "
              "and the model only starts downloading in the last one:", ""]
    lines += [f"{i}. {step}" for i, step in enumerate(GUIDE_ORDER, 1)]
    return lines


def main() -> int:
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    # Bytecode for the project's modules, as a user's first run writes it: every measured process then starts as a
    # user's second and later runs do (with PYTHONDONTWRITEBYTECODE set, each would otherwise compile them anew).
    subprocess.run([sys.executable, "-m", "compileall", "-q", "llmd_stack", "components", "policies", "bench"],
                   cwd=ROOT, check=True, capture_output=True)
    home = measure("stack", 0)
    stack_files = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in ROOT.glob("Pulumi.*.yaml"))
    files = {name: measure("file", name) for name in stack_files}
    for name, found in files.items():
        print(f"Pulumi.{name}.yaml: {found['resources']} resources, {found['seconds']:.2f} s, "
              f"peak {found['peak_mib']:.0f} MiB", flush=True)
    rows = []
    for count in MODEL_COUNTS:
        stack = measure("stack", count)
        floor = measure("floor", stack["resources"])
        rows.append((count, stack, floor))
        print(f"{count:3d} models: {stack['resources']:5d} resources, {stack['seconds']:.2f} s "
              f"(floor {floor['seconds']:.2f} s), peak {stack['peak_mib']:.0f} MiB", flush=True)
    home_floor = measure("floor", home["resources"])
    a, b, r2 = linear_fit([(c, s["seconds"]) for c, s, _ in rows])
    big = rows[-1]
    per_resource = big[1]["seconds"] / big[1]["resources"] * 1000
    floor_per_resource = big[2]["seconds"] / big[2]["resources"] * 1000
    marginal = (rows[-1][1]["seconds"] - rows[-2][1]["seconds"]) / (rows[-1][1]["resources"] - rows[-2][1]["resources"]) * 1000
    floor_marginal = (rows[-1][2]["seconds"] - rows[-2][2]["seconds"]) / (rows[-1][2]["resources"] - rows[-2][2]["resources"]) * 1000
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"
    lines = [
        "# Benchmarks", "", f"Measured on {machine}; median of {RUNS} runs per point, each in a fresh process;",
        "time and peak RSS of the render itself (config, program, engine), interpreter start excluded.", "",
        "## Render cost", "",
        "The project's modules are byte-compiled first (a user's first run writes that bytecode; later runs read it).", "",
        "| stack | resources | render s | peak MiB | ms / resource | floor ms / resource | ratio |", "|---|---|---|---|---|---|---|",
        f"| homelab | {home['resources']} | {home['seconds']:.2f} | {home['peak_mib']:.0f} | "
        f"{home['seconds'] / home['resources'] * 1000:.2f} | {home_floor['seconds'] / home_floor['resources'] * 1000:.2f} | "
        f"{home['seconds'] / home_floor['seconds']:.2f} |",
    ]
    for count, stack, floor in rows:
        lines.append(f"| {count} models | {stack['resources']} | {stack['seconds']:.2f} | {stack['peak_mib']:.0f} | "
                     f"{stack['seconds'] / stack['resources'] * 1000:.2f} | {floor['seconds'] / floor['resources'] * 1000:.2f} | "
                     f"{stack['seconds'] / floor['seconds']:.2f} |")
    lines += [
        "", "The floor is a bare Pulumi program registering the same number of plain ConfigMaps under the same engine.", "",
        "Every stack file, rendered as `python -m llmd_stack render --stack <stack>` renders it:", "",
        "| stack file | resources | charts and files rendered | render s | peak MiB | under 1.5 s |", "|---|---|---|---|---|---|",
        *[f"| Pulumi.{name}.yaml | {f['resources']} | {f.get('rendered', 0)} | {f['seconds']:.2f} | {f['peak_mib']:.0f} | "
          f"{verdict(f['seconds'] < 1.5)} |" for name, f in files.items()],
        "",
        f"Chart rendering (homelab): {home.get('rendered', 0)} charts and YAML files rendered into {home.get('objects', 0)} "
        f"objects in {home['chart_seconds']:.2f} s of the render's wall time (Helm in-process, one render at a time, "
        f"overlapped with YAML parsing); {home.get('unrendered', 0)} not in the chart cache.", "",
        "| target | measured | verdict |", "|---|---|---|",
        f"| homelab render, charts rendered by Helm included, under 1.5 s | {home['seconds']:.2f} s | "
        f"{verdict(home['seconds'] < 1.5)} |",
        f"| per-resource cost within 1.5x the floor (64 models) | {per_resource:.2f} vs {floor_per_resource:.2f} ms "
        f"= {per_resource / floor_per_resource:.2f}x (marginal 16->64: {marginal / floor_marginal:.2f}x) | "
        f"{verdict(per_resource / floor_per_resource <= 1.5)} |",
        f"| linear in models | {b * 1000:.0f} ms per model + {a:.2f} s, R^2 = {r2:.4f} | {verdict(r2 >= 0.99)} |",
        "", "![render time against models](render-time.png)", "",
    ]
    lines += critical_path_section()
    lines += ["", f"Benchmark wall time: {time.perf_counter() - started:.0f} s."]
    (OUT / "report.md").write_text("\n".join(lines) + "\n")
    from .plot import render_time_plot  # matplotlib: bench only (Python >= 3.11); the tests import this module too

    render_time_plot({"this program (offline render)": [(c, s["seconds"]) for c, s, _ in rows],
                      "floor: bare Pulumi program, same resource count": [(c, f["seconds"]) for c, _, f in rows]},
                     OUT / "render-time.png", f"Offline render time by model count (median of {RUNS} run{'s' if RUNS > 1 else ''})")
    print("stack files: " + ", ".join(f"{name} {f['seconds']:.2f} s" for name, f in files.items()) + " (budget 1.5 s each: "
          + verdict(all(f["seconds"] < 1.5 for f in files.values())) + ")")
    print(f"homelab render: {home['seconds']:.2f} s ({verdict(home['seconds'] < 1.5)}: under 1.5 s); "
          f"{b * 1000:.0f} ms per model, R^2 {r2:.3f}; per resource {per_resource / floor_per_resource:.2f}x the floor")
    print(f"report: {OUT / 'report.md'}  plot: {OUT / 'render-time.png'}")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # Pulumi's runtime leaves per-thread event loops whose teardown at exit prints spurious errors
