"""The policy rules, importable without starting anything (building a PolicyPack starts a gRPC server)."""

from __future__ import annotations

from typing import Any, Mapping

from .base import Res, Rule, Violation
from .flows import RULES as FLOW_RULES
from .security import RULES as SECURITY_RULES
from .serving import RULES as SERVING_RULES

ALL_RULES: list[Rule] = [*SECURITY_RULES, *FLOW_RULES, *SERVING_RULES]


def settings(rule: Rule, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The rule's settings with the given ones over them; a mapping (named exceptions) is added to, not replaced."""
    config = dict(rule.config)
    for key, value in (given or {}).items():
        if key not in rule.config:
            continue
        default = rule.config[key]
        config[key] = {**default, **value} if isinstance(default, Mapping) and isinstance(value, Mapping) else value
    return config


def rule_config(rule: Rule, overrides: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
    """(enforcement level, config) of a rule after policy config, in `pulumi preview --policy-pack-config` form:
    `{"<rule id>": "advisory"}` or `{"<rule id>": {"enforcementLevel": "disabled", "<key>": <value>}}`."""
    level, config = rule.level, dict(rule.config)
    override = (overrides or {}).get(rule.id)
    if isinstance(override, str):
        level = override
    elif isinstance(override, Mapping):
        level = override.get("enforcementLevel", level)
        config = settings(rule, override)
    return level, config


def evaluate(resources: list[Res], overrides: Mapping[str, Any] | None = None) -> list[tuple[Rule, str, Violation]]:
    """Run every rule over a stack: resource rules per resource, stack rules over the whole set."""
    results = []
    for rule in ALL_RULES:
        level, config = rule_config(rule, overrides)
        if level == "disabled":
            continue
        if rule.resource_check:
            for res in resources:
                results += [(rule, level, Violation(res.urn, m)) for m in rule.resource_check(res, config)]
        if rule.stack_check:
            results += [(rule, level, v) for v in rule.stack_check(resources, config)]
    return results


def pulumi_policies() -> list:
    """The rules as CrossGuard policies (imported lazily: only the pack's entry point needs pulumi_policy)."""
    from pulumi_policy import EnforcementLevel, PolicyConfigSchema, ResourceValidationPolicy, StackValidationPolicy

    def schema(rule: Rule):
        if not rule.config:
            return None
        kinds = {str: "string", int: "integer", list: "array", bool: "boolean", dict: "object"}
        return PolicyConfigSchema(
            properties={k: {"type": kinds[type(v)], "default": v} for k, v in rule.config.items()}
        )

    def options(config: Mapping[str, Any], rule: Rule) -> dict[str, Any]:
        return settings(rule, config)

    policies = []
    for rule in ALL_RULES:
        description = f"{rule.description} Fix: {rule.fix}"
        level = EnforcementLevel(rule.level)
        if rule.resource_check:
            def validate(args, report, rule=rule):
                res = Res(args.resource_type, args.props, args.urn, args.name, bool(args.opts.protect),
                          args.opts.parent or "")
                for message in rule.resource_check(res, options(args.get_config(), rule)):
                    report(f"{message}. Fix: {rule.fix}")

            policies.append(ResourceValidationPolicy(
                name=rule.id, description=description, enforcement_level=level, validate=validate, config_schema=schema(rule)))
        if rule.stack_check:
            def validate_stack(args, report, rule=rule):
                resources = [Res(r.resource_type, r.props, r.urn, r.name, bool(r.opts.protect),
                                 r.parent.urn if r.parent is not None else "") for r in args.resources]
                config = args.get_config() if hasattr(args, "get_config") else {}
                for violation in rule.stack_check(resources, options(config, rule)):
                    report(f"{violation.message}. Fix: {rule.fix}", violation.urn)

            policies.append(StackValidationPolicy(
                name=rule.id, description=description, enforcement_level=level, validate=validate_stack,
                config_schema=schema(rule)))
    return policies
