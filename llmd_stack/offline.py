"""Render a stack offline: the stack file's config, the real program, the mock engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .charts import ChartCache
from .config import PROJECT, SECRET_KEYS, ConfigError, LoadedStack, StackConfig, config_value, load_config, needed_secrets
from .engine import RenderResult, run_program
from .program import build
from .stackfile import StackFile, _as_cli_string, read_stack_file

# What a secret the stack file does not set holds offline. It only ever appears masked ("[secret]") in a render;
# `pulumi up` never sees it: there the missing secret is a config error naming the command that sets it.
STAND_IN = "offline-stand-in-for-{key}"


def secrets_needed(stack_file: StackFile) -> list[str]:
    """The secrets a deploy of this stack file needs ([] when its config is invalid: the render reports that)."""
    prefix = f"{stack_file.project}:"
    plain = {key[len(prefix):]: config_value(key[len(prefix):], value) for key, value in stack_file.config.items()
             if key.startswith(prefix) and key[len(prefix):] not in SECRET_KEYS}
    try:
        return needed_secrets(StackConfig.model_validate(plain))
    except ValidationError:
        return []


def render_stack(project_dir: Path, stack: str, cache: ChartCache | None = None,
                 deployed_outputs: dict[str, Any] | None = None) -> RenderResult:
    """Render `Pulumi.<stack>.yaml` of the project in `project_dir`; ConfigError on bad config.
    Charts come from `cache` (default: LLMD_CHART_CACHE). A secret the stack needs and its file does not set (it is
    set with `pulumi config set --secret` before a deploy) is rendered with a stand-in, listed in the result.
    `deployed_outputs`: the stack's outputs from its last update, as `pulumi stack output --json` prints them (the
    one-way Gateway API check reads them); None renders it as never deployed."""
    stack_file = read_stack_file(project_dir, stack)
    if stack_file.problems:
        raise ConfigError(stack_file.problems)
    needed = secrets_needed(stack_file)
    stand_ins = [key for key in needed if f"{stack_file.project}:{key}" not in stack_file.config]
    config = {**stack_file.config, **{f"{stack_file.project}:{key}": STAND_IN.format(key=key) for key in stand_ins}}
    secret_keys = sorted({*stack_file.secret_keys, *(f"{stack_file.project}:{key}" for key in stand_ins)})
    result = run_program(
        build,
        project=stack_file.project,
        stack=stack,
        config=config,
        secret_keys=secret_keys,
        before_resources=load_config,
        cache=cache,
        deployed_outputs=deployed_outputs,
    )
    result.secrets_needed, result.stand_ins = needed, stand_ins
    return result


def render_config(config: dict[str, Any], secrets: dict[str, str] | None = None, stack: str = "test",
                  deployed_outputs: dict[str, Any] | None = None) -> RenderResult:
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
        deployed_outputs=deployed_outputs,
    )


__all__ = ["render_stack", "render_config", "LoadedStack", "ConfigError"]
