"""Run the policy pack's very rule functions over an offline render, plus the config checks, and print the verdicts.

The rules see what CrossGuard sees in a real preview: each Kubernetes object with its full body, and a Chart or
ConfigFile with no inputs. What only the program's config can answer runs as a config check, named as such.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .capacity import not_checked
from .charts import RELEASE_TYPE
from .config_checks import CONFIG_CHECKS, config_violations
from .engine import RenderResult

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from policies.rules import ALL_RULES, Res, evaluate, rule_config  # noqa: E402


def resources_of(result: RenderResult) -> list[Res]:
    """The resources as CrossGuard's per-resource and stack checks receive them (engine inputs, not the program's)."""
    return [Res(r.type, r.inputs, r.urn, r.name, r.protect, r.parent or "") for r in result.resources]


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


@dataclass(frozen=True)
class Verdict:
    id: str  # rule id, or `config:<id>`
    level: str
    status: str  # ok | violated | n/a | not verified | skipped
    detail: str  # the table's result column


def verdicts(found, overrides: Mapping[str, Any] | None = None, result: RenderResult | None = None,
             config_found=()) -> list[Verdict]:
    """One verdict per rule and config check. "n/a": the stack holds nothing the rule judges; "not verified": what
    it judges may sit in a chart that was not rendered (a rule that judges every object and found nothing on what was
    rendered is not verified either: it never saw the rest)."""
    counts = Counter(rule.id for rule, _, _ in found)
    resources = resources_of(result) if result is not None else []
    out = []
    for rule in ALL_RULES:
        level = rule_config(rule, overrides)[0]
        because = unverified_because(rule, result)
        missing = ", ".join(because) if len(because) <= 2 else f"{len(because)} charts and files listed below"
        if level == "disabled":
            status, detail = "skipped", "skipped"
        elif rule.id in counts:
            status, detail = "violated", f"{counts[rule.id]} violation(s)"
            if missing:
                detail += f"; not verified for {missing} (not rendered)"
        elif missing and rule.any_object and rule.applicable(resources):
            status, detail = "not verified", f"ok on what was rendered; not verified for {missing} (not rendered)"
        elif missing:
            status, detail = "not verified", f"not verified: needs {missing} (not rendered)"
        elif result is not None and not rule.applicable(resources):
            status, detail = "n/a", "n/a: nothing in the stack it judges"
        else:
            status, detail = "ok", "ok"
        out.append(Verdict(rule.id, level, status, detail))
    config_counts = Counter(check.id for check, _, _ in config_found)
    for check in CONFIG_CHECKS:
        count = config_counts.get(check.id, 0)
        out.append(Verdict(f"config:{check.id}", "mandatory", "violated" if count else "ok",
                           f"{count} violation(s)" if count else "ok"))
    return out


def incomplete(verdict_list: list[Verdict], result: RenderResult) -> bool:
    """Whether the check could not check everything: a chart not rendered, or a mandatory rule not verified."""
    return bool(result.unrendered) or any(v.status == "not verified" and v.level == "mandatory" for v in verdict_list)


def _violation_rows(found, config_found) -> list[tuple[str, str, str, str, str]]:
    """(rule, level, resource, message, fix) of every violation, mandatory first."""
    rows = [(rule.id, level, (v.urn or "(stack)").split("::")[-1], v.message, rule.fix) for rule, level, v in found]
    rows += [(f"config:{c.id}", "mandatory", r.name, message, c.fix) for c, r, message in config_found]
    return sorted(rows, key=lambda row: row[1] != "mandatory")


def table(found, verdict_list: list[Verdict], config_found=()) -> str:
    """`--verbose`: every rule and config check with its level and result, then one row per violation."""
    text = _columns([("rule", "level", "result"), *((v.id, v.level, v.detail) for v in verdict_list)])
    rows = [("rule", "level", "resource", "message")]
    rows += [(rule, level, resource, f"{message}. Fix: {fix}")
             for rule, level, resource, message, fix in _violation_rows(found, config_found)]
    if len(rows) > 1:
        text += "\n\n" + _columns(rows)
    return text


def brief(found, verdict_list: list[Verdict], config_found=()) -> str:
    """The default: each violation with its fix, then what was not applicable or not verified, by name."""
    lines = []
    for rule, level, resource, message, fix in _violation_rows(found, config_found):
        lines += [f"{level:9s}  {rule}: {message}", f"{'':9s}  at {resource}", f"{'':9s}  fix: {fix}"]
    by_status: dict[str, list[str]] = {}
    for verdict in verdict_list:
        by_status.setdefault(verdict.status, []).append(verdict.id)
    for status, label in (("n/a", "not applicable (nothing to judge)"), ("not verified", "not verified (chart not rendered)"),
                          ("skipped", "disabled by policy config")):
        if by_status.get(status):
            lines.append(f"{label}: {', '.join(by_status[status])}")
    return "\n".join(lines)


EXIT_VIOLATED = 1
EXIT_INCOMPLETE = 3


def run_checks(result: RenderResult, overrides: Mapping[str, Any] | None = None, verbose: bool = False) -> int:
    """Print the verdicts (`verbose`: the full table). 1 when a mandatory rule or a config check is violated, else 3
    when something could not be checked (a chart not rendered, GPU capacity without gpu.nodes: a green check means
    everything was checked), else 0."""
    found = judged(violations(result, overrides), result)
    config_found = config_violations(result)
    verdict_list = verdicts(found, overrides, result, config_found)
    text = (table if verbose else brief)(found, verdict_list, config_found)
    if text:
        print(text)
    mandatory = [f for f in found if f[1] == "mandatory"]
    counts = Counter(v.status for v in verdict_list)
    print(
        f"policy checks: {len(ALL_RULES)} rules and {len(CONFIG_CHECKS)} config checks: {counts['ok']} ok, "
        f"{counts['violated']} violated, {counts['n/a']} not applicable, {counts['not verified']} not verified"
        + (f", {counts['skipped']} disabled" if counts["skipped"] else "")
        + f"; {len(mandatory) + len(config_found)} mandatory and {len(found) - len(mandatory)} advisory violation(s)"
    )
    if not verbose:
        print("every rule and its result: check --verbose")
    releases = sorted(label for label in _unrendered(result).values() if label.startswith("release "))
    if releases:
        print(f"error: not checked: {', '.join(releases)} (a helm.v3.Release is one opaque resource, in a real preview "
              "too)", file=sys.stderr)
    capacity_unchecked = not_checked(result.warnings)
    if capacity_unchecked:
        # The config check a stack without an inventory cannot have: not verified, so never a green check.
        print("not verified: GPU capacity (gpu.nodes not set: the warning above says what the models need)")
    if mandatory or config_found:
        return EXIT_VIOLATED
    return EXIT_INCOMPLETE if incomplete(verdict_list, result) or capacity_unchecked else 0
