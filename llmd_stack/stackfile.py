"""Read `Pulumi.yaml` and `Pulumi.<stack>.yaml` into config as the Pulumi CLI hands it to the program.

`secure:` values stay encrypted: offline their ciphertext stands in as an opaque secret, so no passphrase is needed.
"""

from __future__ import annotations

import difflib

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .topology import Problem
from .source_marks import yaml_error_text


@dataclass(frozen=True)
class StackFile:
    project: str
    stack: str
    path: Path
    config: dict[str, str]  # fully qualified key -> value as the CLI passes it (objects as JSON)
    secret_keys: list[str]
    problems: list[Problem]


class _StringTimestamps(yaml.SafeLoader):
    """YAML without implicit timestamps: `tag: 2025-01-15` is the tag "2025-01-15", as the user meant."""


_StringTimestamps.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"} and isinstance(value["secure"], str)


def _open_secure(value: Any) -> tuple[Any, bool]:
    """Replace every `{secure: ...}` with its ciphertext; report whether one was found."""
    if _is_secure(value):
        return value["secure"], True
    if isinstance(value, dict):
        found = False
        out = {}
        for k, v in value.items():
            out[k], f = _open_secure(v)
            found = found or f
        return out, found
    if isinstance(value, list):
        items = [_open_secure(v) for v in value]
        return [v for v, _ in items], any(f for _, f in items)
    return value, False


def _as_cli_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def plain_config(project_dir: Path, stack: str) -> dict[str, Any]:
    """The project's keys of a stack file, unqualified and without `secure:` values (for tests and benchmarks)."""
    data = yaml.load((project_dir / f"Pulumi.{stack}.yaml").read_text(), Loader=_StringTimestamps)["config"]
    prefix = f"{project_name(project_dir)}:"
    return {
        key[len(prefix):]: value
        for key, value in data.items()
        if key.startswith(prefix) and not (isinstance(value, dict) and "secure" in value)
    }


def project_name(project_dir: Path) -> str:
    data = yaml.safe_load((project_dir / "Pulumi.yaml").read_text()) or {}
    return str(data["name"])


def stack_names(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


# Namespaces a stack file may hold besides the project's: Pulumi's own and the provider the program uses.
OTHER_NAMESPACES = ("pulumi", "kubernetes")


def _unknown_namespace(namespace: str, name: str, project: str) -> str:
    from .config import SECRET_KEYS, StackConfig

    keys = [field.alias or n for n, field in StackConfig.model_fields.items()] + list(SECRET_KEYS)
    similar = difflib.SequenceMatcher(None, namespace, project).ratio() >= 0.8
    if name in keys or similar:
        return (f"`{namespace}:{name}` is not a key of this project (`{project}` in Pulumi.yaml); did you mean "
                f"`{project}:{name}`?")
    return (f"unknown config namespace {namespace!r}: nothing reads it; this project's keys are `{project}:<key>` "
            f"(Pulumi.yaml), besides {' and '.join(f'`{n}:`' for n in OTHER_NAMESPACES)}")


def read_stack_file(project_dir: Path, stack: str) -> StackFile:
    project = project_name(project_dir)
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(project_dir)) or "none"
        return StackFile(project, stack, path, {}, [], [Problem("", f"no stack file {path.name} (stacks: {known})")])
    try:
        data = yaml.load(path.read_text(), Loader=_StringTimestamps) or {}
    except yaml.YAMLError as exc:
        message, mark = yaml_error_text(exc)
        return StackFile(project, stack, path, {}, [], [Problem("", message, mark)])
    if not isinstance(data, dict):
        return StackFile(project, stack, path, {}, [], [Problem("", "must be a mapping with a `config:` key")])
    raw = data.get("config") or {}
    problems: list[Problem] = []
    if not isinstance(raw, dict):
        return StackFile(project, stack, path, {}, [], [Problem("config", "must be a mapping of keys to values")])
    bad_keys = [key for key in raw if not isinstance(key, str)]
    if bad_keys:
        return StackFile(project, stack, path, {}, [], [Problem(f"config.{k}", "config keys must be strings") for k in bad_keys])
    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, value in raw.items():
        full_key = key if ":" in key else f"{project}:{key}"
        namespace = full_key.split(":", 1)[0]
        if namespace != project and namespace not in OTHER_NAMESPACES:
            # Pulumi would pass it on unread: the program's key would silently keep its default.
            problems.append(Problem(key, _unknown_namespace(namespace, full_key.split(":", 1)[1], project)))
            continue
        opened, is_secret = _open_secure(value)
        config[full_key] = _as_cli_string(opened)
        if is_secret:
            secret_keys.append(full_key)
    disabled = raw.get("pulumi:disable-default-providers") or []
    if not isinstance(disabled, list) or ("kubernetes" not in disabled and "*" not in disabled):
        problems.append(
            Problem(
                "pulumi:disable-default-providers",
                'must include "kubernetes" so no resource silently uses the ambient kubeconfig',
            )
        )
    return StackFile(project, stack, path, config, sorted(secret_keys), problems)
