"""Render a stack offline: the stack file's config, the real program, the mock engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .charts import ChartCache
from .config import PROJECT, ConfigError, LoadedStack, load_config
from .engine import RenderResult, run_program
from .program import build
from .stackfile import _as_cli_string, read_stack_file


def render_stack(project_dir: Path, stack: str, cache: ChartCache | None = None) -> RenderResult:
    """Render `Pulumi.<stack>.yaml` of the project in `project_dir`; ConfigError on bad config.
    Charts come from `cache` (default: LLMD_CHART_CACHE)."""
    stack_file = read_stack_file(project_dir, stack)
    if stack_file.problems:
        raise ConfigError(stack_file.problems)
    return run_program(
        build,
        project=stack_file.project,
        stack=stack,
        config=stack_file.config,
        secret_keys=stack_file.secret_keys,
        before_resources=load_config,
        cache=cache,
    )


def render_config(config: dict[str, Any], secrets: dict[str, str] | None = None, stack: str = "test") -> RenderResult:
    """Render a config given as a dict of unqualified keys (as in a stack file); `secrets` are marked secret."""
    secrets = secrets if secrets is not None else {"registryToken": "test-token", "grafanaAdminPassword": "test-password"}
    flat = {f"{PROJECT}:{k}": _as_cli_string(v) for k, v in config.items()}
    flat.update({f"{PROJECT}:{k}": v for k, v in secrets.items()})
    return run_program(
        build,
        project=PROJECT,
        stack=stack,
        config=flat,
        secret_keys=[f"{PROJECT}:{k}" for k in secrets],
        before_resources=load_config,
    )


__all__ = ["render_stack", "render_config", "LoadedStack", "ConfigError"]
