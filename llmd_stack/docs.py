"""The reference pages under docs/, generated from the code (config model, guard table, rules); a test keeps them
current: `python -m llmd_stack.docs --write` regenerates them."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .config import SECRETS, StackConfig, model_class, variants



def _type_name(annotation: Any, metadata: list[Any] | None = None) -> str:
    """`quantity`, `int`, `list of hostname`, `"a" | "b"`, with `| null` for optional keys."""
    from .types import TypeName

    named = [m for m in (metadata or []) if isinstance(m, TypeName)]
    if named:
        return str(named[0])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0], list(args[1:]))
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        return " \\| ".join(parts) + (" \\| null" if type(None) in args else "")
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return "mapping"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return "**required**"
    if isinstance(value, BaseModel):
        return "(section)"
    if isinstance(value, list) and value and isinstance(value[0], BaseModel):
        return "(see below)"
    return f"`{json.dumps(value)}`"


def rows(model: type[BaseModel], prefix: str = "") -> list[tuple[str, str, str, str]]:
    out = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        sections = variants(field.annotation)
        if sections:
            out.extend(_variant_rows(key, field, sections))
            continue
        nested = model_class(field.annotation)
        is_list = typing.get_origin(field.annotation) is list or "list[" in repr(field.annotation)
        type_ = f"list of {nested.__name__}" if nested and is_list else (nested.__name__ if nested else _type_name(field.annotation, field.metadata))
        meaning = field.description or (nested.__doc__ or "" if nested else "")
        out.append((key, type_, _default(field), " ".join(meaning.split()).replace("|", "\\|")))
        if nested:
            out.extend(rows(nested, key + ("[].") if is_list else key + "."))
    return out


def _variant_rows(key: str, field: Any, sections: dict[str, type[BaseModel]]) -> list[tuple[str, str, str, str]]:
    """A union of sections (`gateway` by `provider`): a key every section has the same way is one row; a key that
    differs is a row per section, saying which."""
    per_section = {tag: rows(model, key + ".") for tag, model in sections.items()}
    out = [(key, " \\| ".join(model.__name__ for model in sections.values()), "(section)",
            " ".join((field.description or "").split()) or f"One of: {', '.join(sections)}.")]
    seen: set[tuple] = set()
    for tag, section_rows in per_section.items():
        for row in section_rows:
            everywhere = all(row in other for other in per_section.values())
            if everywhere and row in seen:
                continue
            seen.add(row)
            out.append(row if everywhere else (row[0], row[1], row[2], f"[{tag}] {row[3]}"))
    return out


def _table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])


def reference() -> str:
    body = [(f"`{k}`", t, d, m) for k, t, d, m in rows(StackConfig)]
    body += [(f"`{k}`", "secret string", f"**required** when {when}", f"Set with `pulumi config set --secret {k} {value}`")
             for k, (when, value) in SECRETS.items()]
    return _table(("key", "type", "default", "meaning"), body)


def guards_table() -> str:
    from .compat import GUARDS

    return _table(("guard", "level", "upstream fact"), [(f"`{g.id}`", g.level, g.fact) for g in GUARDS])


def rules_table() -> str:
    from .check import ALL_RULES
    from .config_checks import CONFIG_CHECKS

    rows = [(f"`{r.id}`", r.level, r.description, r.fix) for r in ALL_RULES]
    rows += [(f"`config:{c.id}`", "mandatory (check only)", c.description, c.fix) for c in CONFIG_CHECKS]
    return _table(("rule", "level", "checks", "fix"), rows)


def exceptions_table() -> str:
    """Every named exception a rule allows by default, with its reason."""
    from .check import ALL_RULES

    rows = [(f"`{rule.id}`", f"`{pattern}`", reason)
            for rule in ALL_RULES for pattern, reason in (rule.config.get("allowed") or {}).items()]
    return _table(("rule", "allowed (`<Chart resource>/<object>`)", "why"), rows)


GENERATED = "<!-- generated by `python -m llmd_stack.docs --write`; edit the code, not this file -->"


def pages() -> dict[str, str]:
    """docs/<file> -> its text."""
    return {
        "config-reference.md": "\n\n".join([
            "# Configuration reference", GENERATED,
            "Keys live under the project namespace in `Pulumi.<stack>.yaml` (`llmd-homelab:models`, ...), in camelCase. "
            "Unknown keys are errors (a typo is reported with the closest known key); numbers are accepted where "
            "Kubernetes takes a quantity. Defaults are the reference homelab.",
            reference()]) + "\n",
        "version-guards.md": "\n\n".join([
            "# Version guards", GENERATED,
            "`llmd_stack/compat.py` holds one table of known-bad upstream combinations. Errors stop `render`, `check`, "
            "`pulumi preview` and `pulumi up` with the key to change; warnings are printed "
            "(`warning: Pulumi.<stack>.yaml: ...`) and logged by Pulumi. Each routing variant's guards live in its own "
            "module (`components/routing/*.py`) and check only a stack that uses it.",
            guards_table(),
            "## Against the stack's last update",
            "Two checks need what the stack deployed last, read from its own outputs before any resource is registered "
            "(`render`/`check` take them with `--deployed-outputs`; docs/upgrade.md): `gateway-api-one-way` (a Gateway "
            "API release older than the deployed one from v1.5 on: its safe-upgrades admission policy refuses older "
            "CRDs) and `gateway-provider-move` (a Gateway moving to another controller under its deployed name)."]) + "\n",
        "policy-rules.md": "\n\n".join([
            "# Policy rules", GENERATED,
            "The CrossGuard pack in `policies/` (`pulumi preview --policy-pack policies`) and `python -m llmd_stack check` "
            "run these rules over the rendered objects; `config:` checks need the program's config and run in `check` "
            "only. See [policies.md](policies.md) for how they run and how to configure them.",
            rules_table(),
            "## Named exceptions",
            "What a rule allows by default, and why. `<Chart resource>` is the Pulumi resource name of the Chart that "
            "rendered the object (its parent: the only origin a real preview tells); policy config adds to these "
            "(`{\"roles-least-privilege\": {\"allowed\": {\"<Chart resource>/<role>\": \"<reason>\"}}}`).",
            exceptions_table()]) + "\n",
    }


def write(folder: str = "docs") -> None:
    from pathlib import Path

    for name, text in pages().items():
        (Path(folder) / name).write_text(text)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--write"]:
        write()
    else:
        print(reference())
