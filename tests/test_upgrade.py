"""The upgrade from the seed's path to today's (docs/upgrade.md), step by step on the homelab: what each step's render
changes, that nothing holding data is touched, and what the stack's last update makes impossible (one-way steps)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from conftest import stack_config

from llmd_stack import render as render_out
from llmd_stack.config import ConfigError
from llmd_stack.manifest_diff import attention, load_objects, markdown
from llmd_stack.offline import render_config

SECRETS = {"registryToken": "t0ken-aaaa", "grafanaAdminPassword": "pw-aaaaaa", "apiKey": "sk-aaaaaaaaaaaaaaaaaaaaaaaa"}


def upgrade_steps() -> dict[str, dict]:
    """The homelab at each step of docs/upgrade.md (the stack file's keys after the step)."""
    seed = stack_config("homelab")
    router = copy.deepcopy(seed)
    router["scheduling"] = {"chart": "llm-d-router"}
    gateway = copy.deepcopy(router)
    gateway["gateway"] = {"provider": "agentgateway", "name": "llm-d-gateway-agw"}
    return {"0-seed": seed, "1-router": router, "2-agentgateway": gateway}


@pytest.fixture(scope="module")
def steps(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """Each step rendered into a folder as `render --out` writes it, with the outputs the deploy would leave."""
    root = tmp_path_factory.mktemp("upgrade")
    found = {}
    for name, config in upgrade_steps().items():
        result = render_config(config, dict(SECRETS), stack="homelab")
        assert not result.unrendered, [c.label for c in result.unrendered]
        render_out.write(result, root / name)
        found[name] = (root / name, result.outputs)
    return found


def _data_objects(folder: Path) -> dict[str, str]:
    """PVCs and the namespaces holding them, as rendered."""
    objects = load_objects(folder)
    claims = {k.split(" ", 1)[1].split("/", 1)[0] for k in objects if k.startswith("PersistentVolumeClaim ")}
    return {k: v for k, v in objects.items()
            if k.startswith("PersistentVolumeClaim ") or (k.startswith("Namespace ") and k.split(" ", 1)[1] in claims)}


@pytest.mark.parametrize("before, after", [("0-seed", "1-router"), ("1-router", "2-agentgateway")])
def test_no_step_touches_what_holds_data(steps, before, after):
    base, head = _data_objects(steps[before][0]), _data_objects(steps[after][0])
    assert base and base == head
    assert not [n for n in attention(load_objects(steps[before][0]), load_objects(steps[after][0])) if "holds data" in n]


def test_the_pool_step_replaces_only_the_endpoint_picker(steps):
    notes = attention(load_objects(steps["0-seed"][0]), load_objects(steps["1-router"][0]))
    assert notes == ["replaced: `Deployment.apps llm-d/ds-r1-llama-8b-pool-epp` (spec.selector cannot change in place)"]


def test_the_gateway_step_is_reported_one_way(steps):
    report = markdown(steps["1-router"][0], steps["2-agentgateway"][0])
    assert "one-way: Gateway API v1.4.0 -> v1.6.1" in report
    base, head = load_objects(steps["1-router"][0]), load_objects(steps["2-agentgateway"][0])
    assert "Gateway.gateway.networking.k8s.io llm-d/llm-d-gateway" in base.keys() - head.keys()
    assert "Gateway.gateway.networking.k8s.io llm-d/llm-d-gateway-agw" in head.keys() - base.keys()
    assert not [k for k in head if "kgateway" in k]


def test_each_step_deploys_over_the_one_before(steps):
    """The step's render under the outputs the previous step's deploy left: nothing it did is in the way."""
    configs = upgrade_steps()
    for before, after in (("0-seed", "1-router"), ("1-router", "2-agentgateway")):
        render_config(configs[after], dict(SECRETS), stack="homelab", deployed_outputs=steps[before][1])


def test_going_back_past_gateway_api_1_5_is_refused_naming_the_key(steps):
    with pytest.raises(ConfigError) as info:
        render_config(upgrade_steps()["1-router"], dict(SECRETS), stack="homelab",
                      deployed_outputs=steps["2-agentgateway"][1])
    [problem] = info.value.problems
    assert problem.path == "gateway.gatewayApiVersion" and "[gateway-api-one-way]" in problem.message
    assert "v1.6.1" in problem.message


def test_moving_the_gateway_to_another_controller_under_its_old_name_is_refused(steps):
    config = copy.deepcopy(upgrade_steps()["2-agentgateway"])
    del config["gateway"]["name"]
    with pytest.raises(ConfigError) as info:
        render_config(config, dict(SECRETS), stack="homelab", deployed_outputs=steps["1-router"][1])
    [problem] = info.value.problems
    assert problem.path == "gateway.name" and "[gateway-provider-move]" in problem.message


def test_the_outputs_a_deploy_leaves_name_what_the_next_one_checks(steps):
    outputs = steps["2-agentgateway"][1]
    assert (outputs["gatewayApiVersion"], outputs["gatewayClass"], outputs["gateway"]) == (
        "v1.6.1", "agentgateway", "llm-d-gateway-agw")
    assert steps["0-seed"][1]["gatewayApiVersion"] == "v1.4.0"


def test_a_stack_never_deployed_or_deployed_before_these_outputs_renders(render, homelab):
    render_config(homelab, dict(SECRETS), stack="homelab", deployed_outputs={})
    render_config(homelab, dict(SECRETS), stack="homelab", deployed_outputs={"gateway": "llm-d-gateway"})


def test_the_program_reads_its_own_stack_outputs_as_the_engine_serves_them(monkeypatch, homelab):
    """The real engine answers `pulumi:pulumi:readStackOutputs` for `<org>/<project>/<stack>` (a DIY backend's org is
    `organization`); the check runs before the first resource is registered."""
    from llmd_stack import engine

    asked = []
    original = engine._Mocks.call

    def call(self, args):
        asked.append((args.token, dict(args.args)))
        return original(self, args)

    monkeypatch.setattr(engine._Mocks, "call", call)
    registered = []
    register = engine._RecordingMonitor.RegisterResource

    def record(self, request):
        registered.append(request.type)
        return register(self, request)

    monkeypatch.setattr(engine._RecordingMonitor, "RegisterResource", record)
    with pytest.raises(ConfigError):
        render_config(homelab, dict(SECRETS), stack="homelab", deployed_outputs={"gatewayApiVersion": "v1.6.1"})
    assert asked == [("pulumi:pulumi:readStackOutputs", {"name": "organization/llmd-homelab/homelab"})]
    assert registered == ["pulumi:pulumi:Stack"]  # the root stack only: nothing of the program's
