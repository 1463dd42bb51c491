"""Stack configs for the benchmarks: the homelab, and generated stacks with N models."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from llmd_stack.stackfile import plain_config

ROOT = Path(__file__).resolve().parent.parent
SECRETS = {"registryToken": "bench-token", "grafanaAdminPassword": "bench-password", "apiKey": "bench-api-key"}


def homelab() -> dict[str, Any]:
    return plain_config(ROOT, "homelab")


def with_models(count: int) -> dict[str, Any]:
    """The homelab with `count` models, each with its own ModelKit, cache, service, pool, EPP and route."""
    config = homelab()
    template = config["models"][0]
    models = []
    for i in range(count):
        model = copy.deepcopy(template)
        model.update(name=f"model-{i:03d}", servedName=f"model-{i:03d}", modelKit={"repository": f"model-{i:03d}", "tag": "1.0.0"})
        model["route"] = {**model.get("route", {}), "pathPrefix": f"/model-{i:03d}"}
        models.append(model)
    config["models"] = models
    # Enough GPU nodes of eight cards for every model (the capacity check refuses a stack that does not fit its
    # inventory; a model's replicas share a ReadWriteOnce cache, so each model fits on one node).
    per_node = 8
    models_per_node = per_node // (template.get("replicas", 1) * template.get("gpusPerReplica", 1))
    card = config["gpu"].get("selection", {}).get("model", "A770")
    config["gpu"]["nodes"] = [{"name": f"bench-gpu-{n:02d}", "cards": per_node, "model": card}
                              for n in range(-(-count // models_per_node))]
    return config
