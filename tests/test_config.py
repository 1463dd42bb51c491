"""Typed stack configuration: defaults, every problem at once, key paths in messages."""

from __future__ import annotations

import pytest

from llmd_stack.config import ConfigError, StackConfig, parse_config

SECRETS = {"registryToken", "grafanaAdminPassword", "apiKey"}


def problems(raw, secret_keys=frozenset(SECRETS)) -> dict[str, str]:
    raw = {**{k: "x" for k in secret_keys}, **raw}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, set(secret_keys))
    return {p.path: p.message for p in info.value.problems}


def test_homelab_parses_to_the_reference_values(homelab):
    cfg = parse_config({**homelab, "registryToken": "t", "grafanaAdminPassword": "p", "apiKey": "k"}, SECRETS)
    model = cfg.models[0]
    assert (model.replicas, model.gpus_per_replica, model.engine.kind) == (2, 1, "ipex-llm")
    assert model.engine.resolved_image == "intelanalytics/ipex-llm-serving-xpu:0.8.3-b19"
    assert model.route.timeouts.request == model.route.timeouts.backend_request == "3600s"
    assert cfg.gpu.selection.model == "A770"
    assert cfg.cluster.namespace == "llm-d"


def test_typo_wrong_type_and_out_of_range_are_reported_together(homelab):
    homelab["models"][0]["replicas"] = 0
    homelab["models"][0]["gpusPerReplica"] = "two"
    homelab["cluster"]["namepsace"] = "x"
    found = problems(homelab)
    assert found["models[0].replicas"] == "must be >= 1, got 0"
    assert found["models[0].gpusPerReplica"].startswith("must be a whole number")
    assert found["cluster.namepsace"] == "unknown key (did you mean 'namespace'?)"


def test_unknown_top_level_key_is_an_error(homelab):
    homelab["modles"] = []
    assert problems(homelab)["modles"] == "unknown key (did you mean 'models'?)"


def test_snake_case_keys_are_not_accepted(homelab):
    homelab["models"][0]["gpus_per_replica"] = 1
    assert "unknown key" in problems(homelab)["models[0].gpus_per_replica"]


def test_models_are_required_and_not_empty():
    assert problems({})["models"] == "required key is missing"
    assert problems({"models": []})["models"] == "must have at least 1 item(s)"


@pytest.mark.parametrize(
    "model_kit, message",
    [
        ({"repository": "m"}, "set exactly one of tag or digest"),
        ({"repository": "m", "tag": "1", "digest": "sha256:" + "a" * 64}, "set exactly one of tag or digest"),
        ({"repository": "m", "tag": "latest"}, "tag 'latest' is not reproducible"),
    ],
)
def test_modelkit_reference_needs_exactly_one_pinned_version(homelab, model_kit, message):
    homelab["models"][0]["modelKit"] = model_kit
    assert message in problems(homelab)["models[0].modelKit"]


def test_malformed_modelkit_digest_names_the_key(homelab):
    homelab["models"][0]["modelKit"] = {"repository": "m", "digest": "sha256:xyz"}
    assert "digest 'sha256:<64 hex digits>'" in problems(homelab)["models[0].modelKit.digest"]


@pytest.mark.parametrize(
    "image, message",
    [
        ("intelanalytics/ipex-llm-serving-xpu", "must pin a tag or digest"),
        ("intelanalytics/ipex-llm-serving-xpu:latest", "':latest' is not reproducible"),
        ("Not An Image", "must be an image reference"),
    ],
)
def test_engine_image_must_be_pinned(homelab, image, message):
    homelab["models"][0]["engine"]["image"] = image
    assert message in problems(homelab)["models[0].engine.image"]


def test_unknown_engine_lists_the_choices(homelab):
    homelab["models"][0]["engine"]["kind"] = "tgi"
    assert problems(homelab)["models[0].engine.kind"] == "must be one of 'ipex-llm', 'vllm' or 'sim', got 'tgi'"


def test_cross_field_problems_are_reported_together(homelab):
    second = {**homelab["models"][0]}
    homelab["models"].append(second)
    homelab["models"][0]["route"] = {"timeouts": {"request": "10s", "backendRequest": "20s"}}
    found = problems(homelab)
    assert "duplicate model name 'ds-r1-llama-8b'" in found["models[1].name"]
    assert "duplicate served name" in found["models[1].servedName"]
    assert "backendRequest <= request" in found["models[0].route.timeouts.backendRequest"]


def test_colliding_routes_are_an_error_with_body_based_routing_off(homelab):
    other = {**homelab["models"][0], "name": "other", "servedName": "other-model"}
    homelab["models"].append(other)
    homelab["gateway"] = {**homelab.get("gateway", {}), "bodyBasedRouting": False}
    assert "matches exactly what models[0].route matches" in problems(homelab)["models[1].route"]


def test_routes_with_their_own_hostname_do_not_collide(homelab):
    other = {**homelab["models"][0], "name": "other", "servedName": "other-model",
             "route": {"hostnames": ["other.homelab.lan"]}}
    homelab["models"].append(other)
    cfg = parse_config({**homelab, "registryToken": "t", "grafanaAdminPassword": "p", "apiKey": "k"}, SECRETS)
    assert len(cfg.models) == 2


@pytest.mark.parametrize("duration", ["1d", "100000s", "1h1m1s1ms1h", "", "10"])
def test_invalid_durations_name_the_key(homelab, duration):
    homelab["models"][0]["route"]["timeouts"]["request"] = duration
    assert "Gateway API duration" in problems(homelab)["models[0].route.timeouts.request"]


def test_zero_request_timeout_allows_any_backend_timeout(homelab):
    homelab["models"][0]["route"]["timeouts"] = {"request": "0s", "backendRequest": "2h"}
    parse_config({**homelab, "registryToken": "t", "grafanaAdminPassword": "p", "apiKey": "k"}, SECRETS)


def test_secrets_must_be_secret_and_present(homelab):
    with pytest.raises(ConfigError) as info:
        parse_config({**homelab, "registryToken": "plain"}, set())
    found = {p.path: p.message for p in info.value.problems}
    assert found["registryToken"].startswith("must be a secret: pulumi config set --secret registryToken")
    assert found["grafanaAdminPassword"].startswith("required secret is missing")


def test_grafana_password_not_needed_with_an_existing_prometheus(homelab):
    homelab["monitoring"] = {"prometheus": {"mode": "existing"}}
    parse_config({**homelab, "registryToken": "t", "apiKey": "k"}, {"registryToken", "apiKey"})


def test_a_gpu_stack_needs_an_api_key_unless_open_access_is_acknowledged(homelab):
    with pytest.raises(ConfigError) as info:
        parse_config({**homelab, "registryToken": "t", "grafanaAdminPassword": "p"}, SECRETS)
    (problem,) = info.value.problems
    assert problem.path == "apiKey" and "gateway.openAccess" in problem.message
    assert 'pulumi config set --secret apiKey "$(openssl rand -hex 32)"' in problem.message
    homelab["gateway"] = {"openAccess": True}
    parse_config({**homelab, "registryToken": "t", "grafanaAdminPassword": "p"}, SECRETS)
    found = problems({**homelab, "apiKey": "k"})
    assert found == {"gateway.openAccess": "contradicts the secret apiKey, which the model servers would still require: "
                                           "drop one of them"}


def test_the_simulator_needs_no_secret(render):
    from conftest import stack_config

    from llmd_stack.config import needed_secrets

    assert needed_secrets(parse_config(stack_config("sim"))) == []


def test_gpu_engines_need_the_gpu_driver(homelab):
    homelab["gpu"] = {"enabled": False}
    assert "needs GPUs" in problems(homelab)["models[0].engine.kind"]


def test_profiles_reference_defined_plugins(homelab):
    homelab["scheduling"] = {"profiles": [{"name": "default", "plugins": [{"pluginRef": "nope"}]}]}
    assert "no plugin 'nope'" in problems(homelab)["scheduling.profiles[0].plugins[0].pluginRef"]


def test_defaults_are_the_reference_homelab():
    cfg = StackConfig.model_validate({"models": [{"name": "m", "servedName": "m", "modelKit": {"repository": "m", "tag": "1"}}]})
    assert cfg.gpu.driver.chart_version == "0.11.0"
    assert cfg.scheduling.epp_image.endswith(":v1.2.1") and cfg.scheduling.chart_version == "v1.2.1"
    assert cfg.gateway.kgateway_version.startswith("v2.1.")
    assert cfg.gateway.gateway_api_version == "v1.4.0"


def test_registry_token_is_only_needed_when_a_model_downloads(homelab):
    homelab["gpu"] = {"enabled": False}
    homelab["models"][0]["engine"] = {"kind": "sim"}
    del homelab["models"][0]["modelKit"]
    parse_config({**homelab, "grafanaAdminPassword": "p"}, {"grafanaAdminPassword"})


# --- values people write (issue 13) -----------------------------------------------------------------------------------


def test_numbers_are_quantities_as_kubernetes_takes_them(homelab, render):
    homelab["models"][0]["resources"] = {"requests": {"cpu": 4, "memory": "24Gi"}, "limits": {"cpu": 8.5, "memory": "32Gi"}}
    from conftest import objects

    (decode,) = [d for d in objects(render(homelab), "Deployment") if d["metadata"]["name"].endswith("-decode")]
    resources = decode["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["requests"]["cpu"] == "4" and resources["limits"]["cpu"] == "8.5"


def test_a_number_where_a_tag_or_version_belongs_says_quote_it(homelab):
    homelab["models"][0]["modelKit"]["tag"] = 1.0
    homelab["gpu"] = {"driver": {"chartVersion": 0.11}}
    found = problems(homelab)
    assert found["models[0].modelKit.tag"] == 'YAML reads 1.0 as a number: quote the tag (e.g. "1.0")'
    assert "quote the version" in found["gpu.driver.chartVersion"]


def test_a_path_prefix_without_a_slash_says_so(homelab):
    homelab["models"][0]["route"]["pathPrefix"] = "qwen"
    assert problems(homelab)["models[0].route.pathPrefix"] == "must start with / (e.g. '/qwen'), got 'qwen'"


def test_a_known_key_at_the_wrong_depth_names_where_it_belongs(homelab):
    homelab["models"][0]["timeouts"] = {"request": "60s"}
    assert problems(homelab)["models[0].timeouts"] == "unknown key here: it belongs under models[].route"


def test_a_vllm_image_that_is_not_an_xpu_build_is_refused(homelab):
    homelab["models"][0]["engine"] = {"kind": "vllm", "image": "vllm/vllm-openai:v0.12.0"}
    assert "is a CUDA (NVIDIA) build, but kind 'vllm' runs an XPU build of vLLM" in problems(homelab)["models[0].engine.image"]
