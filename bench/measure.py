"""One measurement in a fresh interpreter: `python -m bench.measure stack|floor N` prints a JSON line.

Fresh processes keep runs independent (Pulumi's runtime holds global state) and give a true peak RSS.
"""

from __future__ import annotations

import gc

gc.disable()  # as the CLI does (llmd_stack/__main__.py): a render is measured the way a user runs it

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402


CHART_SECONDS: list[float] = []  # wall time of rendering Charts and YAML files (Helm, YAML parsing)
RENDERED: dict[str, int] = {}  # charts and files rendered, not rendered, objects they produced


def _time_chart_rendering() -> None:
    """Wrap the engine's chart rendering step in this bench process only, to report its wall time."""
    from llmd_stack import engine

    render = engine._RecordingMonitor.render_charts

    def timed(self):
        started = time.perf_counter()
        try:
            return render(self)
        finally:
            CHART_SECONDS.append(time.perf_counter() - started)

    engine._RecordingMonitor.render_charts = timed


def render_stack(models: int) -> int:
    from llmd_stack.offline import render_config

    from .stacks import SECRETS, homelab, with_models

    _time_chart_rendering()
    config = homelab() if models == 0 else with_models(models)
    result = render_config(config, dict(SECRETS), stack="bench")
    RENDERED.update(rendered=sum(c.rendered for c in result.charts), unrendered=len(result.unrendered),
                    objects=sum(c.objects for c in result.charts))
    return len(result.resources)


def render_stack_file(stack: str) -> int:
    """`Pulumi.<stack>.yaml` as `python -m llmd_stack render --stack <stack>` renders it."""
    from llmd_stack.offline import render_stack as render_file

    from .stacks import ROOT

    _time_chart_rendering()
    result = render_file(ROOT, stack)
    RENDERED.update(rendered=sum(c.rendered for c in result.charts), unrendered=len(result.unrendered),
                    objects=sum(c.objects for c in result.charts))
    return len(result.resources)


def render_floor(resources: int) -> int:
    """A bare program registering `resources` plain ConfigMaps under the same engine: the cost floor."""
    import pulumi
    import pulumi_kubernetes as k8s

    from llmd_stack.engine import run_program

    def program() -> None:
        provider = k8s.Provider("k8s")
        for i in range(resources - 1):
            k8s.core.v1.ConfigMap(
                f"plain-{i}",
                metadata=k8s.meta.v1.ObjectMetaArgs(name=f"plain-{i}", namespace="bench"),
                data={"key": "value"},
                opts=pulumi.ResourceOptions(provider=provider),
            )

    return len(run_program(program, project="bench", stack="floor", config={}, secret_keys=[]).resources)


def main() -> None:
    kind, size = sys.argv[1], sys.argv[2]
    started = time.perf_counter()
    if kind == "file":
        count = render_stack_file(size)
    else:
        size = int(size)
        count = render_stack(size) if kind == "stack" else render_floor(size)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"kind": kind, "size": size, "resources": count, "seconds": seconds, "peak_mib": peak_kib / 1024,
                      "chart_seconds": sum(CHART_SECONDS), **RENDERED}))
    sys.stdout.flush()
    # Pulumi's runtime leaves per-thread event loops whose teardown at exit prints spurious errors.
    os._exit(0)


if __name__ == "__main__":
    main()
