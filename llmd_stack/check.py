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


def table(found) -> str:
    if not found:
        return f"policy checks: {len(ALL_RULES)} rules, no violations"
    rows = [("rule", "level", "resource", "message")]
    rows += [(rule.id, level, (v.urn or "(stack)").split("::")[-1], f"{v.message}. Fix: {rule.fix}") for rule, level, v in found]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(" | ".join([*(row[i].ljust(widths[i]) for i in range(3)), row[3]]) for row in rows)


def run_checks(result: RenderResult, overrides: Mapping[str, Any] | None = None) -> int:
    """Print the table; 1 when a mandatory rule is violated."""
    found = violations(result, overrides)
    print(table(found))
    mandatory = [f for f in found if f[1] == "mandatory"]
    if found:
        print(f"{len(mandatory)} mandatory, {len(found) - len(mandatory)} advisory violation(s) of {len(ALL_RULES)} rules")
    return 1 if mandatory else 0
