"""Run the policy pack's very rule functions over an offline render, plus the config checks, and print the verdicts.

The rules see what CrossGuard sees in a real preview: each Kubernetes object with its full body, and a Chart or
ConfigFile with no inputs. What only the program's config can answer runs as a config check, named as such.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any, Mapping

from .charts import RELEASE_TYPE
from .config_checks import CONFIG_CHECKS, config_violations
from .engine import RenderResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from policies.rules import ALL_RULES, Res, evaluate, rule_config  # noqa: E402


def resources_of(result: RenderResult) -> list[Res]:
    """The resources as CrossGuard's per-resource and stack checks receive them (engine inputs, not the program's)."""
    return [Res(r.type, r.inputs, r.urn, r.name, r.protect) for r in result.resources]


def violations(result: RenderResult, overrides: Mapping[str, Any] | None = None):
    return evaluate(resources_of(result), overrides)


LEVELS = ("advisory", "mandatory", "disabled")


class PolicyConfigError(ValueError):
    """A policy config that names a rule, setting or level the pack does not have."""


def load_policy_config(path: Path | None) -> dict[str, Any]:
    """Policy config in `pulumi preview --policy-pack-config` form; every rule, setting and level checked, since a
    typo would otherwise leave a rule at its default without a word."""
    if path is None:
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PolicyConfigError(f"{path}: {exc}") from None
    if not isinstance(config, dict):
        raise PolicyConfigError(f"{path}: must be a JSON object of rule ids")
    rules = {rule.id: rule for rule in ALL_RULES}
    problems = []
    for rule_id, value in config.items():
        rule = rules.get(rule_id)
        if rule is None:
            close = difflib.get_close_matches(rule_id, rules, n=1)
            problems.append(f"unknown policy {rule_id!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            continue
        settings = value if isinstance(value, dict) else {"enforcementLevel": value}
        for key, setting in settings.items():
            if key == "enforcementLevel":
                if setting not in LEVELS:
                    problems.append(f"{rule_id}.enforcementLevel: {setting!r} is not one of {', '.join(LEVELS)}")
            elif key not in rule.config:
                known = ", ".join(sorted(rule.config)) or "none"
                problems.append(f"{rule_id}: unknown setting {key!r} (settings: {known})")
    if problems:
        raise PolicyConfigError("; ".join(f"{path}: {p}" for p in problems))
    return config


def _columns(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        " | ".join([*(row[i].ljust(widths[i]) for i in range(len(widths))), row[-1]]).rstrip() for row in rows
    )


def _unrendered(result: RenderResult | None) -> dict[str, str]:
    """Chart or file name -> its label, for what no rule sees the objects of: charts not in the chart cache, and
    every helm.v3.Release (one opaque resource in a real preview too)."""
    if result is None:
        return {}
    missing = {c.source: f"{c.kind} {c.label}" for c in result.unrendered}
    for r in result.resources:
        if r.type == RELEASE_TYPE:
            missing[str(r.inputs.get("chart"))] = f"release {r.inputs.get('chart')} {r.inputs.get('version')}"
    return missing


def unverified_because(rule, result: RenderResult | None) -> list[str]:
    """The unrendered charts that leave a rule unverified: all of them for a rule that judges every object, else
    those whose objects it needs."""
    missing = _unrendered(result)
    if rule.any_object:
        return sorted(missing.values())
    return sorted(label for source, label in missing.items() if source in rule.charts)


def judged(found, result: RenderResult | None):
    """Violations that stand: a rule that needs an unrendered chart's objects has no verdict (it could not see
    them), a rule that judges every object keeps what it found on the objects it saw."""
    return [(rule, level, v) for rule, level, v in found if rule.any_object or not unverified_because(rule, result)]


def table(found, overrides: Mapping[str, Any] | None = None, result: RenderResult | None = None, config_found=()) -> str:
    """Every rule and config check with its level and result, then one row per violation."""
    counts: dict[str, int] = {}
    for rule, _, _ in found:
        counts[rule.id] = counts.get(rule.id, 0) + 1
    summary = [("rule", "level", "result")]
    for rule in ALL_RULES:
        level = rule_config(rule, overrides)[0]
        because = unverified_because(rule, result)
        missing = ", ".join(because) if len(because) <= 2 else f"{len(because)} charts and files listed below"
        if level == "disabled":
            verdict = "skipped"
        elif missing and not rule.any_object:
            verdict = f"not verified: needs {missing} (not rendered)"
        else:
            verdict = f"{counts[rule.id]} violation(s)" if rule.id in counts else "ok"
            if missing:
                verdict += f"; not verified for {missing} (not rendered)"
        summary.append((rule.id, level, verdict))
    config_counts: dict[str, int] = {}
    for check, _, _ in config_found:
        config_counts[check.id] = config_counts.get(check.id, 0) + 1
    for check in CONFIG_CHECKS:
        verdict = f"{config_counts[check.id]} violation(s)" if check.id in config_counts else "ok"
        summary.append((f"config:{check.id}", "mandatory", verdict))
    text = _columns(summary)
    rows = [("rule", "level", "resource", "message")]
    rows += [(rule.id, level, (v.urn or "(stack)").split("::")[-1], f"{v.message}. Fix: {rule.fix}") for rule, level, v in found]
    rows += [(f"config:{c.id}", "mandatory", r.name, f"{message}. Fix: {c.fix}") for c, r, message in config_found]
    if len(rows) > 1:
        text += "\n\n" + _columns(rows)
    return text


def run_checks(result: RenderResult, overrides: Mapping[str, Any] | None = None) -> int:
    """Print the table; 1 when a mandatory rule or a config check is violated."""
    found = judged(violations(result, overrides), result)
    config_found = config_violations(result)
    print(table(found, overrides, result, config_found))
    mandatory = [f for f in found if f[1] == "mandatory"]
    print(
        f"policy checks: {len(ALL_RULES)} rules and {len(CONFIG_CHECKS)} config checks, "
        f"{len(mandatory) + len(config_found)} mandatory and {len(found) - len(mandatory)} advisory violation(s)"
    )
    if result.unrendered:
        labels = ", ".join(sorted(_unrendered(result).values()))
        print(f"not judged by the rules that need their objects: {labels} (a missing chart: run `charts pull`; a "
              "helm.v3.Release is one opaque resource, in a real preview too)")
    return 1 if mandatory or config_found else 0
