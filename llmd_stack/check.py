"""Run the policy pack's very rule functions over an offline render and print the verdicts as a table."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping

from .engine import RenderResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from policies.rules import ALL_RULES, Res, evaluate  # noqa: E402


def resources_of(result: RenderResult) -> list[Res]:
    return [Res(r.type, r.inputs, r.urn, r.name, r.protect) for r in result.resources]


def violations(result: RenderResult, overrides: Mapping[str, Any] | None = None):
    return evaluate(resources_of(result), overrides)


def load_policy_config(path: Path | None) -> dict[str, Any]:
    return json.loads(path.read_text()) if path else {}


def _columns(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        " | ".join([*(row[i].ljust(widths[i]) for i in range(len(widths))), row[-1]]).rstrip() for row in rows
    )


def table(found, overrides: Mapping[str, Any] | None = None) -> str:
    """Every rule with its level and result, then one row per violation: rule | level | resource | message."""
    from policies.rules import rule_config

    counts: dict[str, int] = {}
    for rule, _, _ in found:
        counts[rule.id] = counts.get(rule.id, 0) + 1
    summary = [("rule", "level", "result")]
    for rule in ALL_RULES:
        level = rule_config(rule, overrides)[0]
        result = "skipped" if level == "disabled" else (f"{counts[rule.id]} violation(s)" if rule.id in counts else "ok")
        summary.append((rule.id, level, result))
    text = _columns(summary)
    if found:
        rows = [("rule", "level", "resource", "message")]
        rows += [(rule.id, level, (v.urn or "(stack)").split("::")[-1], f"{v.message}. Fix: {rule.fix}") for rule, level, v in found]
        text += "\n\n" + _columns(rows)
    return text


def run_checks(result: RenderResult, overrides: Mapping[str, Any] | None = None) -> int:
    """Print the table; 1 when a mandatory rule is violated."""
    found = violations(result, overrides)
    print(table(found, overrides))
    mandatory = [f for f in found if f[1] == "mandatory"]
    print(f"policy checks: {len(ALL_RULES)} rules, {len(mandatory)} mandatory and {len(found) - len(mandatory)} advisory violation(s)")
    return 1 if mandatory else 0
