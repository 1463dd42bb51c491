"""One measurement in a fresh interpreter: `python -m bench.measure stack|floor N` prints a JSON line.

Fresh processes keep runs independent (Pulumi's runtime holds global state) and give a true peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def render_stack(models: int) -> int:
    from llmd_stack.offline import render_config

    from .stacks import SECRETS, homelab, with_models

    config = homelab() if models == 0 else with_models(models)
    return len(render_config(config, dict(SECRETS), stack="bench").resources)


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
    kind, size = sys.argv[1], int(sys.argv[2])
    started = time.perf_counter()
    count = render_stack(size) if kind == "stack" else render_floor(size)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"kind": kind, "size": size, "resources": count, "seconds": seconds, "peak_mib": peak_kib / 1024}))
    sys.stdout.flush()
    # Pulumi's runtime leaves per-thread event loops whose teardown at exit prints spurious errors.
    os._exit(0)


if __name__ == "__main__":
    main()
