"""The policy pack: every rule passes on the homelab and catches a mutated stack, alone among mandatory rules.

Rules judge what CrossGuard sees in a real preview: rendered objects (charts included), and Charts with no inputs.
Failing cases render a real mutated stack config. Where the typed config cannot express the violation at all
(it refuses it before rendering), the rendered objects themselves are mutated after rendering: those cases are
marked `after render` below, and the rule still runs on real registrations.
"""

from __future__ import annotations

import copy
import json
import dataclasses
import re
from typing import Any, Callable

import pytest
import yaml
from conftest import chart_values, stack_config

from llmd_stack.check import judged, resources_of, run_checks, verdicts, violations
from llmd_stack.config_checks import CONFIG_CHECKS, config_violations
from policies.rules import ALL_RULES, Res, evaluate

MODEL = "ds-r1-llama-8b-release"


def fired(result, overrides=None) -> dict[str, str]:
    return {rule.id: level for rule, level, _ in violations(result, overrides)}


def decode_container_without(result, key: str) -> dict[str, Any]:
    container = copy.deepcopy(chart_values(result, MODEL)["decode"]["containers"][0])
    container.pop(key, None)
    return container


def pod(kind: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "extra", "image": "busybox:1.37.0", "securityContext": {"allowPrivilegeEscalation": False},
                 "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "10m", "memory": "16Mi"}}}
    container.update(spec)
    pod_spec = {"containers": [container], "securityContext": {"runAsNonRoot": True}}
    body = {"spec": pod_spec} if kind == "Pod" else {"spec": {"selector": {"matchLabels": {"a": "b"}},
                                                            "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod_spec}}}
    return {"apiVersion": "v1" if kind == "Pod" else "apps/v1", "kind": kind, "metadata": {"name": "extra"}, **body}


def extra_objects(*objects: dict) -> Callable[[dict], None]:
    return lambda c: c["models"][0].update(extraValues={"extraObjects": list(objects)})


def model_extra(values: dict) -> Callable[[dict], None]:
    return lambda c: c["models"][0].update(extraValues=values)


def scheduling_extra(values: dict) -> Callable[[dict], None]:
    return lambda c: c.update(scheduling={"extraValues": values})


def after_render(type_: str, change: Callable[[Any], None], name: str | None = None) -> Callable:
    """Mutate the first registration of `type_` (named `name`) in a real homelab render."""
    def mutate(result):
        target = next(r for r in result.resources if r.type == type_ and name in (None, r.name))
        change(target)
        return result
    return mutate


def _drop_psa(r):
    del r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]


def _loader_flags(r):
    env = r.inputs["spec"]["template"]["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "EXTRA_FLAGS")["value"] = "--verbose"


def _loader_no_limits(r):
    r.inputs["spec"]["template"]["spec"]["containers"][0]["resources"].pop("limits")


def _route_elsewhere(r):
    r.inputs["spec"]["rules"][0]["backendRefs"][0]["name"] = "somebody-elses-pool"


POOL_RELEASE = "ds-r1-llama-8b-pool-release"
EPP = "kubernetes:apps/v1:Deployment"
EPP_NAME = f"{POOL_RELEASE}:llm-d/ds-r1-llama-8b-pool-epp"


def _v1_kv_metric(r):
    # The config refuses this (guard epp-metric-names); the rule is the second line of defence.
    args = r.inputs["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--kv-cache-usage-percentage-metric") + 1] = "vllm:kv_cache_usage_perc"


def _gateway_api_1_5(r):
    r.inputs["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] = "v1.5.1"


def _unlabel_monitor(r):
    del r.inputs["metadata"]["labels"]["release"]


def _unprotect(r):
    r.protect = False


# rule id -> (config mutation, or None when mutated after render; render mutation; related rules that may also fire)
CASES: dict[str, tuple] = {
    "no-privileged-containers": (lambda c: c["gpu"].update(driver={"namespace": "gpu-system"}), None,
                                 {"namespaces-pod-security", "no-host-paths"}),  # the driver mounts host paths
    "no-host-paths": (model_extra({"decode": {"volumes": [{"name": "host", "hostPath": {"path": "/var/lib"}}]}}), None, set()),
    "images-pinned": (extra_objects(pod("Pod", image="busybox")), None, set()),
    "model-server-resources": (lambda c: None, "model-server-resources", set()),  # built below from the render
    "loader-resources": (None, after_render("kubernetes:batch/v1:Job", _loader_no_limits), set()),
    "run-as-non-root": (extra_objects({**pod("Deployment"), "spec": {**pod("Deployment")["spec"], "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {"containers": pod("Pod")["spec"]["containers"]}}}}), None, set()),
    "no-secret-env-values": (lambda c: None, "no-secret-env-values", set()),  # built below from the render
    "no-secrets-in-configmaps": (extra_objects({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                                "data": {"api-token": "abc"}}), None, set()),
    "only-gateway-exposed": (extra_objects({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                                            "spec": {"type": "LoadBalancer", "ports": [{"port": 8000}]}}), None, set()),
    "namespaces-pod-security": (None, after_render("kubernetes:core/v1:Namespace", _drop_psa), set()),
    "network-isolation": (lambda c: c["cluster"].update(networkPolicies=False), None, {"namespaces-default-deny"}),
    # The operator's own policy gone (as when its selector misses a renamed chart's pods): default-deny keeps it from
    # the API server, and Prometheus from scraping it.
    "fences-admit-stack-flows": (None, lambda result: setattr(result, "resources", [
        r for r in result.resources if not (r.inputs.get("kind") == "NetworkPolicy"
                                            and r.inputs["metadata"]["name"] == "monitoring-operator")]) or result,
                                 set()),
    "namespaces-default-deny": (None, lambda result: setattr(result, "resources", [
        r for r in result.resources if not (r.inputs.get("kind") == "NetworkPolicy"
                                            and r.inputs["metadata"]["name"] == "default-deny"
                                            and r.inputs["metadata"]["namespace"] == "monitoring")]) or result, set()),
    "no-host-namespaces": (extra_objects({**pod("Deployment"), "spec": {**pod("Deployment")["spec"], "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {**pod("Pod")["spec"], "hostNetwork": True}}}}),
                           None, {"no-privilege-escalation"}),
    "capabilities-allow-listed": (extra_objects(pod("Pod", securityContext={"capabilities": {"add": ["NET_ADMIN"]}})),
                                  None, set()),
    "no-privilege-escalation": (extra_objects(pod("Pod", securityContext={"allowPrivilegeEscalation": True})),
                                None, set()),
    # The issue's own example: a key in engine.extraArgs passed all 27 rules and landed in plain text.
    "no-secrets-in-args": (lambda c: c["models"][0]["engine"].update(extraArgs=["--api-key", "sk-0123456789abcdefghij"]),
                           None, set()),
    "roles-least-privilege": (extra_objects({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                                             "metadata": {"name": "reader"},
                                             "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}),
                              None, set()),
    "pool-selects-model-service": (scheduling_extra({"inferencePool": {"modelServers": {"matchLabels": {"app": "nope"}}}}),
                                   None, set()),
    "pool-targets-vllm-port": (scheduling_extra({"inferencePool": {"targetPorts": [{"number": 9000}]}}), None, set()),
    "prefix-scorer-needs-prefix-caching": (lambda c: c["models"][0]["engine"].update(prefixCaching=False), None, set()),
    "dra-claim-count": (model_extra({"decode": {"parallelism": {"tensor": 2}}}), None, set()),
    "route-timeouts": (lambda c: c["models"][0]["route"].update(timeouts={"request": "30s", "backendRequest": "30s"}),
                       None, set()),
    "data-pvc-protected": (None, after_render("kubernetes:core/v1:PersistentVolumeClaim", _unprotect), set()),
    # Envoy's 5-minute default back: the policy gone, a 3600s request would be cut at 300s.
    "stream-idle-covers-requests": (None, lambda result: setattr(result, "resources", [
        r for r in result.resources if r.inputs.get("kind") != "HTTPListenerPolicy"]) or result, set()),
    "rwo-same-node": (model_extra({"decode": {"extraConfig": {"affinity": None}}}), None, set()),
    "epp-metric-names": (None, after_render(EPP, _v1_kv_metric, EPP_NAME), set()),
    # A real config: inferencepool chart v1.1.0 renders its own `--tracing false` as two args (REFERENCE section 2).
    "epp-flags-render-safely": (lambda c: c.update(scheduling={
        "chartVersion": "v1.1.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.1.0"}), None, set()),
    "versions-in-guard-table": (None, after_render("kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
                                                   _gateway_api_1_5, "gateway-gateway-api-crds:httproutes.gateway.networking.k8s.io"),
                                set()),
    "model-server-shm": (model_extra({"decode": {"volumes": []}}), None, set()),
    "startup-probe-budget": (lambda c: c["models"][0].update(startupTimeoutSeconds=120), None, set()),
    "loader-ignore-existing": (None, after_render("kubernetes:batch/v1:Job", _loader_flags), set()),
    "monitors-selected": (None, after_render("kubernetes:monitoring.coreos.com/v1:PodMonitor", _unlabel_monitor), set()),
    "routes-target-pools": (None, after_render("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", _route_elsewhere), set()),
}


def failing_render(rule_id, render, homelab, homelab_render):
    mutate_config, mutate_render, _ = CASES[rule_id]
    if mutate_config is None:
        return mutate_render(copy.deepcopy(homelab_render))
    if mutate_render == "model-server-resources":
        homelab["models"][0]["extraValues"] = {"decode": {"containers": [decode_container_without(homelab_render, "resources")]}}
    elif mutate_render == "no-secret-env-values":
        container = decode_container_without(homelab_render, "env")
        container["env"] = [{"name": "HF_TOKEN", "value": "hf_plaintext"}]
        homelab["models"][0]["extraValues"] = {"decode": {"containers": [container]}}
    else:
        mutate_config(homelab)
    return render(homelab)


def test_there_are_at_least_20_rules_each_with_a_case():
    ids = [rule.id for rule in ALL_RULES]
    assert len(ids) >= 20 and len(set(ids)) == len(ids)
    assert set(ids) == set(CASES)
    for rule in ALL_RULES:
        assert rule.description and rule.fix and rule.level in ("mandatory", "advisory")
        assert (rule.resource_check is None) != (rule.stack_check is None)


# Advisory findings on the homelab that are real: the program does not set a security context yet (kgateway's
# controller), or the image needs root (IPEX-LLM's). The EPP's comes from the post-renderer (no pool chart has one).
HOMELAB_ADVISORIES = {
    ("run-as-non-root", "ds-r1-llama-8b-release:llm-d/ds-r1-llama-8b-decode"),
    ("run-as-non-root", "gateway-kgateway-controller:kgateway-system/gateway-kgateway-controller"),
    ("no-privilege-escalation", "gateway-kgateway-controller:kgateway-system/gateway-kgateway-controller"),
}


def test_homelab_passes_every_mandatory_rule_and_the_table_lists_each(homelab_render, capsys):
    found = {(rule.id, v.urn.split("::")[-1]) for rule, level, v in violations(homelab_render)}
    assert found == HOMELAB_ADVISORIES
    assert fired(homelab_render) == {"run-as-non-root": "advisory", "no-privilege-escalation": "advisory"}
    assert run_checks(homelab_render, verbose=True) == 0
    lines = capsys.readouterr().out.splitlines()
    for rule in ALL_RULES:
        expected = {"run-as-non-root": "2 violation(s)", "no-privilege-escalation": "1 violation(s)"}.get(rule.id, "ok")
        row = [line for line in lines if line.split(" | ")[0].strip() == rule.id]
        assert row and row[0].split(" | ")[2].startswith(expected), (rule.id, row)
    for check in CONFIG_CHECKS:
        assert any(line.startswith(f"config:{check.id} ") and line.endswith("| ok") for line in lines), check.id


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_catches_its_violation_and_no_unrelated_mandatory_rule_fires(rule_id, render, homelab, homelab_render):
    result = failing_render(rule_id, render, homelab, homelab_render)
    found = fired(result)
    assert rule_id in found, found
    related = CASES[rule_id][2]
    unrelated = {r for r, level in found.items() if level == "mandatory" and r != rule_id and r not in related}
    assert unrelated == set()


def test_rules_never_read_chart_inputs(homelab_render):
    """A Chart has no inputs in a real preview: blanking what the program passed to each Chart changes nothing."""
    blanked = copy.deepcopy(homelab_render)
    for r in blanked.resources:
        if r.program_inputs is not None:
            assert r.inputs == {}
            r.program_inputs = {"chart": "x", "version": "", "values": {}}
    assert [(a.id, v) for a, _, v in violations(blanked)] == [(a.id, v) for a, _, v in violations(homelab_render)]


def _unpin(r):
    r.program_inputs["version"] = ">=0.11.0"


@pytest.mark.parametrize("check_id, mutate", [
    ("charts-pinned", lambda res: _unpin(next(r for r in res if r.name == "gpu-driver"))),
    ("charts-pinned", lambda res: next(r for r in res if r.name == "gateway-gateway-api-crds").program_inputs.update(
        file="https://github.com/kubernetes-sigs/gateway-api/releases/latest/download/standard-install.yaml")),
    ("charts-pinned", lambda res: next(r for r in res if r.name == "monitoring-kube-prometheus-stack").program_inputs.update(
        version="88.x")),
    ("kgateway-2.1-with-pools", lambda res: next(r for r in res if r.name == "gateway-kgateway-controller")
     .program_inputs.update(version="v2.2.0")),
    ("epp-matches-pool-chart", lambda res: next(r for r in res if r.name == POOL_RELEASE)
     .program_inputs["values"]["inferenceExtension"]["image"].update(tag="v1.1.0")),
])
def test_config_checks_catch_what_only_the_program_knows(homelab_render, check_id, mutate, capsys):
    assert config_violations(homelab_render) == []
    result = copy.deepcopy(homelab_render)
    mutate(result.resources)
    assert {c.id for c, _, _ in config_violations(result)} == {check_id}
    assert run_checks(result) == 1
    assert f"config:{check_id}" in capsys.readouterr().out


def test_check_exits_1_on_a_mandatory_violation_and_0_when_overridden(render, homelab, capsys):
    homelab["cluster"]["networkPolicies"] = False
    result = render(homelab)
    assert run_checks(result, verbose=True) == 1
    out = capsys.readouterr().out
    assert "network-isolation" in out and "mandatory" in out and "Fix: " in out
    assert run_checks(result, {"network-isolation": "advisory", "namespaces-default-deny": "advisory"}) == 0
    assert run_checks(result, {"network-isolation": {"enforcementLevel": "disabled"},
                               "namespaces-default-deny": {"enforcementLevel": "disabled"}}) == 0


def test_rule_config_is_overridable(render, homelab):
    homelab["models"][0]["route"]["timeouts"] = {"request": "120s", "backendRequest": "120s"}
    result = render(homelab)
    assert "route-timeouts" not in fired(result)
    assert "route-timeouts" in fired(result, {"route-timeouts": {"minimum": "10m"}})


def crossguard_verdicts(result) -> dict[str, list[tuple[str, str]]]:
    """Run the CrossGuard policies as `pulumi preview --policy-pack policies` would, with the engine's shapes:
    per-resource checks get each resource's inputs (a Chart or ConfigFile: `{}`, each rendered child: its object);
    stack checks get outputs (a Chart's only output is `resources`, the URNs of its children)."""
    from pulumi_policy import (PolicyResource, PolicyResourceOptions, ResourceValidationArgs,
                               ResourceValidationPolicy, StackValidationArgs)
    from pulumi_policy.policy import PolicyCustomTimeouts

    from llmd_stack.charts import RENDERED_TYPES
    from policies.rules import pulumi_policies

    def opts(r):
        # The engine names each resource's parent in its options (a chart-rendered object's is its Chart).
        return PolicyResourceOptions(r.protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.parent)

    children: dict[str, list[str]] = {}
    for r in result.resources:
        if r.rendered_by:
            children.setdefault(r.rendered_by, []).append(r.urn)
    inputs = {r.urn: ({} if r.type in RENDERED_TYPES else r.inputs) for r in result.resources}
    outputs = {r.urn: ({"resources": children.get(r.urn, [])} if r.type in RENDERED_TYPES else r.inputs)
               for r in result.resources}
    reported: dict[str, list[tuple[str, str]]] = {}
    for policy in pulumi_policies():
        def report(message, urn=None, name=policy.name, subject=None):
            reported.setdefault(name, []).append((urn or subject or "(stack)", message))

        if isinstance(policy, ResourceValidationPolicy):
            for r in result.resources:
                args = ResourceValidationArgs(r.type, inputs[r.urn], r.urn, r.name, opts(r), None, {})
                policy.validate(args, lambda message, urn=None, subject=r.urn, name=policy.name:
                                reported.setdefault(name, []).append((subject, message)))
        else:
            stack = [PolicyResource(r.type, outputs[r.urn], r.urn, r.name, opts(r), None, None, [], {})
                     for r in result.resources]
            by_urn = {res.urn: res for res in stack}
            for res in stack:
                res.parent = by_urn.get(res.opts.parent)
            policy.validate(StackValidationArgs(stack, {}), report)
    return reported


def offline_verdicts(result) -> dict[str, list[tuple[str, str]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for rule, _, violation in evaluate(resources_of(result)):
        found.setdefault(rule.id, []).append((violation.urn or "(stack)", f"{violation.message}. Fix: {rule.fix}"))
    return found


def test_crossguard_sees_charts_without_inputs_and_their_rendered_children(homelab_render):
    charts = [r for r in homelab_render.resources if r.program_inputs is not None]
    assert charts and all(r.inputs == {} for r in charts)
    rendered = [r for r in homelab_render.resources if r.rendered_by]
    assert {r.inputs["kind"] for r in rendered} >= {"Deployment", "InferencePool", "DaemonSet", "DeviceClass",
                                                     "ResourceClaimTemplate", "CustomResourceDefinition"}


@pytest.mark.parametrize("case", ["homelab", "sim", "b60", "violations"])
def test_crossguard_policies_reach_the_offline_verdicts(case, render, homelab):
    """Under the real engine's shapes the CrossGuard adapters report exactly what `check` reports."""
    from test_stacks import rendered

    if case == "violations":
        homelab["cluster"]["networkPolicies"] = False
        homelab["models"][0]["route"]["timeouts"] = {"request": "30s", "backendRequest": "30s"}
        result = render(homelab)
    else:
        result = rendered(case)
    reported = crossguard_verdicts(result)
    assert reported == offline_verdicts(result)
    mandatory = {rule.id for rule in ALL_RULES if rule.level == "mandatory"}
    if case == "violations":
        assert set(reported) & mandatory == {"network-isolation", "namespaces-default-deny", "route-timeouts"}
    else:
        assert set(reported) & mandatory == set(), reported


def test_rules_run_on_plain_data():
    res = Res("kubernetes:core/v1:PersistentVolumeClaim", {"kind": "PersistentVolumeClaim", "metadata": {"name": "x"}},
              "urn:x", "x", False)
    assert [rule.id for rule, _, _ in evaluate([res])] == ["data-pvc-protected"]


def test_a_malformed_route_timeout_minimum_is_reported_not_raised(homelab_render):
    found = [v.message for rule, _, v in violations(homelab_render, {"route-timeouts": {"minimum": "ten minutes"}})
             if rule.id == "route-timeouts"]
    assert found == ["policy config minimum 'ten minutes' is not a Gateway API duration"]


def test_without_a_chart_the_rules_that_need_its_objects_are_not_verified_and_raise_nothing(tmp_path, capsys):
    """An empty chart cache: nothing chart-rendered exists, so rules that need those objects give no verdict
    (no false `routes-target-pools` violation), and those that judge every object say what they did not see."""
    import os

    from llmd_stack.charts import ChartCache
    from llmd_stack.offline import render_stack
    from test_stacks import ROOT

    old = os.environ["LLMD_CHART_CACHE"]
    os.environ["LLMD_CHART_CACHE"] = str(tmp_path)
    try:
        result = render_stack(ROOT, "homelab")
    finally:
        os.environ["LLMD_CHART_CACHE"] = old
    assert ChartCache.from_env().folders[0] != tmp_path
    assert "routes-target-pools" in fired(result)  # the raw rule would report the pool it cannot see
    assert run_checks(result, verbose=True) == 3  # nothing violated, but not everything checked: never green
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip(): line for line in out.splitlines() if " | " in line}
    assert "not verified: needs chart inferencepool v1.2.1 (not rendered)" in rows["routes-target-pools"]
    assert "not verified: needs chart inferencepool v1.2.1, chart llm-d-modelservice v0.4.12" in rows["network-isolation"]
    assert "ok on what was rendered; not verified for 9 charts and files listed below" in rows["images-pinned"]
    assert rows["route-timeouts"].endswith("| ok")  # judges the program's own HTTPRoute


def test_an_extra_policy_that_opens_the_pods_breaks_isolation(homelab_render):
    """NetworkPolicies add up: a chart's or extraValues' `podSelector: {}` with `ingress: [{}]` admits everyone."""
    result = copy.deepcopy(homelab_render)
    policy = next(r for r in result.resources if r.inputs.get("kind") == "NetworkPolicy"
                  and r.inputs["metadata"]["name"] == "ds-r1-llama-8b-model-pods")
    opened = copy.deepcopy(policy)
    opened.urn += "-open"
    opened.inputs["metadata"]["name"] = "allow-all"
    opened.inputs["spec"] = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{}]}
    result.resources.append(opened)
    assert "network-isolation" not in fired(homelab_render)
    assert "network-isolation" in fired(result)


def test_default_check_output_fits_a_screen_with_each_violation_and_its_fix(homelab_render, capsys):
    assert run_checks(homelab_render) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) <= 18, "\n".join(out)
    assert not any(" | " in line for line in out), "the full table is --verbose only"
    shown = {(out[i - 1].split()[1].rstrip(":"), line.split(" at ", 1)[1]) for i, line in enumerate(out)
             if line.lstrip().startswith("at ") and out[i - 1].startswith("advisory ") and out[i + 1].lstrip().startswith("fix: ")}
    assert shown == HOMELAB_ADVISORIES
    assert out[-1] == "every rule and its result: check --verbose"


def test_rules_with_nothing_to_judge_are_not_applicable_not_ok(render, capsys):
    """The sim stack has no ModelKit loader, no PVC and no monitoring: those rules say n/a, not ok."""
    result = render(stack_config("sim"))
    assert run_checks(result) == 0
    brief_out = capsys.readouterr().out
    na = next(line for line in brief_out.splitlines() if line.startswith("not applicable (nothing to judge): "))
    assert set(na.split(": ", 1)[1].split(", ")) == {"loader-resources", "loader-ignore-existing",
                                                    "data-pvc-protected", "monitors-selected"}
    assert re.search(r"\b4 not applicable\b", brief_out)
    run_checks(result, verbose=True)
    rows = {line.split(" | ")[0].strip(): line for line in capsys.readouterr().out.splitlines() if " | " in line}
    assert rows["loader-resources"].endswith("| n/a: nothing in the stack it judges")
    assert rows["model-server-resources"].endswith("| ok")


def test_a_rule_without_subjects_beside_an_unrendered_chart_is_not_verified_not_na(homelab_render):
    """With the modelservice chart unrendered there are no model servers to see: that is not 'nothing to judge'."""
    result = copy.deepcopy(homelab_render)
    chart = next(r for r in result.resources if r.name == "ds-r1-llama-8b-release")
    result.resources = [r for r in result.resources if r.parent != chart.urn]
    record = next(c for c in result.charts if c.urn == chart.urn)
    result.charts = [c if c is not record else dataclasses.replace(record, rendered=False, objects=0) for c in result.charts]
    by_id = {v.id: v for v in verdicts(judged(violations(result), result), None, result)}
    assert by_id["model-server-shm"].status == "not verified"
    # A rule that judges every object found nothing on what it saw, but did not see everything: not verified, not ok.
    assert by_id["no-privileged-containers"].status == "not verified"
    assert by_id["no-privileged-containers"].detail == (
        "ok on what was rendered; not verified for chart llm-d-modelservice v0.4.12 (not rendered)")


def test_the_pack_stands_alone_with_only_its_own_requirements(tmp_path):
    """`pulumi policy publish` uploads policies/ alone and `pulumi preview --policy-pack policies` runs it in its own
    venv (policies/requirements.txt). From a copy of the folder alone, the pack builds every policy, and every module
    it loaded is the standard library's, the copy's own, or one of a distribution its requirements install."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    requirements = (ROOT / "policies" / "requirements.txt").read_text()
    assert {"pulumi", "pulumi-policy", "PyYAML"} <= {line.split("==")[0] for line in requirements.split()}
    assert yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["version"]
    copy = tmp_path / "pack"
    shutil.copytree(ROOT / "policies", copy, ignore=shutil.ignore_patterns("venv", "__pycache__"))
    code = f"""
import importlib.metadata as md, json, os, re, sys, sysconfig
before = set(sys.modules)  # what the interpreter loaded at startup (site, .pth hooks)
project = {str(ROOT)!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('components', 'llmd_stack', 'policies'):
            raise ImportError('the pack imported the project module ' + name)
sys.meta_path.insert(0, Block())
sys.path = [p for p in sys.path if p not in ('', project)]
sys.path.insert(0, '.')
sys.argv = ['pack']
import runpy
from unittest import mock
import pulumi_policy
with mock.patch.object(pulumi_policy, 'PolicyPack') as pack:
    runpy.run_path('__main__.py', run_name='__main__')
wanted = [re.split('[=<>;]', line)[0].strip() for line in open('requirements.txt') if line.strip()]
allowed, queue = set(), list(wanted)
while queue:
    name = re.sub('[-_.]+', '-', queue.pop()).lower()
    if name in allowed:
        continue
    allowed.add(name)
    for requirement in md.requires(name) or []:
        if 'extra ==' not in requirement:
            queue.append(re.split('[ =<>;\\[(!~]', requirement)[0])
owners = md.packages_distributions()
stdlib = sysconfig.get_paths()['stdlib']
foreign = set()
for name, module in list(sys.modules.items()):
    origin = getattr(module, '__file__', None) or ''
    top = name.split('.')[0]
    if name in before or not origin or origin.startswith((stdlib, os.getcwd())) or top in sys.stdlib_module_names:
        continue
    if origin.startswith(project + os.sep) and not origin.startswith(sys.prefix + os.sep):
        foreign.add(name)
    elif not any(re.sub('[-_.]+', '-', d).lower() in allowed for d in owners.get(top, [])):
        foreign.add(name + ' (' + ','.join(owners.get(top, ['?'])) + ')')
print(json.dumps({{'policies': len(pack.call_args.kwargs['policies']), 'foreign': sorted(foreign)}}))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=copy, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.splitlines()[-1])
    assert found["foreign"] == []
    from policies.rules import pulumi_policies

    assert found["policies"] == len(pulumi_policies())


def test_make_policy_builds_the_venv_the_pack_declares():
    import subprocess

    from conftest import ROOT

    declared = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    dry = subprocess.run(["make", "-n", "-B", "policy"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"-m venv policies/{declared}" in dry
    assert f"policies/{declared}/bin/python -m pip install" in dry and "-r policies/requirements.txt" in dry
