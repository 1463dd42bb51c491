"""Config mistakes caught where they are made (issue 23, items 3 and 4): GPU model strings the DRA driver publishes,
a ModelKit repository holding the registry host, an engine image of another kind, YAML indentation, a mistyped
project prefix, and the Makefile's fetch warning. Each error names its key (and its line, where the file has one)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, stack_config

from components.gpu_models import KNOWN_MODELS, MODEL_NAMES, RESOURCE_SLICE_COMMAND, model_warning
from llmd_stack.chart_pull import run as charts_pull
from llmd_stack.charts import ChartCache
from llmd_stack.config import ConfigError, parse_config
from llmd_stack.stackfile import read_stack_file

SECRETS = {"registryToken", "grafanaAdminPassword", "apiKey"}


def problems(raw) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse_config({**{k: "x" for k in SECRETS}, **raw}, SECRETS)
    return {p.path: p.message for p in info.value.problems}


def parses(raw) -> None:
    parse_config({**{k: "x" for k in SECRETS}, **raw}, SECRETS)


# --- item 3: GPU model strings -------------------------------------------------------------------------------------


def test_the_model_table_holds_the_driver_strings_for_known_pci_ids():
    by_id = {pci: m.model for m in KNOWN_MODELS for pci in m.pci_ids}
    # gpu-v0.11.0 pkg/gpu/device/models.go: a few entries, spelled exactly as the driver publishes them.
    assert (by_id["0x56a0"], by_id["0xe20b"], by_id["0xe211"], by_id["0x0bd5"], by_id["0x56c0"]) == (
        "A770", "B580", "B60", "Max 1550", "Flex 170")
    assert len(by_id) == 35 and len(MODEL_NAMES) == len(set(MODEL_NAMES))


@pytest.mark.parametrize("stack", ["homelab", "b60"])
def test_the_shipped_stacks_select_a_model_the_driver_publishes(stack):
    assert stack_config(stack)["gpu"].get("selection", {}).get("model", "A770") in MODEL_NAMES


def test_a_known_model_gets_no_warning_and_an_unknown_one_names_the_known_and_the_command():
    assert model_warning("B60") is None and model_warning("A40/A50") is None
    message = model_warning("a770")
    assert "did you mean 'A770'?" in message and "B580" in message and RESOURCE_SLICE_COMMAND in message
    assert "did you mean" not in model_warning("Arc Pro B60 24GB")
    assert "for a card its table lacks" in model_warning("Unknown")


def _with_model(config: dict, model: str) -> dict:
    config["gpu"]["selection"] = {"model": model}
    for node in config["gpu"].get("nodes") or []:  # the inventory (if any) holds the same cards
        node["model"] = model
    return config


def test_an_unknown_model_is_a_warning_of_the_render_not_an_error(render, homelab):
    warnings = [w for w in render(_with_model(homelab, "B600")).warnings if w.startswith("gpu.selection.model: ")]
    assert len(warnings) == 1, warnings
    assert "'B600' is not a model string" in warnings[0] and "A770, " in warnings[0]
    assert "kubectl get resourceslices" in warnings[0] and "[gpu-model-known]" in warnings[0]
    assert not [w for w in render(stack_config("homelab")).warnings if w.startswith("gpu.selection.model")]


def test_a_model_with_a_slash_as_the_driver_publishes_it_is_accepted(homelab):
    _with_model(homelab, "A40/A50")
    cfg = parse_config({**homelab, **{k: "x" for k in SECRETS}}, SECRETS)
    assert cfg.gpu.selection.model == cfg.gpu.nodes[0].model == "A40/A50"


def test_an_inventory_card_model_the_driver_does_not_publish_is_warned_about(render, homelab):
    homelab["gpu"]["nodes"].append({"name": "spare", "cards": 1, "model": "B5800"})
    warnings = [w for w in render(homelab).warnings if w.startswith("gpu.nodes[")]
    assert len(warnings) == 1 and warnings[0].startswith("gpu.nodes[1].model: 'B5800' is not a model string"), warnings
    assert "did you mean 'B580'?" in warnings[0]


# --- item 4a: a repository holding the registry host --------------------------------------------------------------


@pytest.mark.parametrize("repository, shown", [
    ("harbor.lab.example.net/llm/qwen2.5-7b-instruct", "starts with a registry host (harbor.lab.example.net)"),
    ("harbor.homelab.lan/ds-r1-llama-8b", "starts with a registry host (harbor.homelab.lan)"),
    ("localhost:5000/llm/ds-r1", "starts with a registry host (localhost:5000)"),
    ("localhost/ds-r1", "starts with a registry host (localhost)"),
    ("llm/ds-r1-llama-8b", "starts with the Harbor project (llm)"),
])
def test_a_repository_with_what_the_program_prefixes_names_the_key(homelab, repository, shown):
    homelab["models"][0]["modelKit"]["repository"] = repository
    message = problems(homelab)["models[0].modelKit.repository"]
    assert shown in message and "give only the repository path" in message


def test_a_dotless_registry_host_at_the_front_is_caught_too(homelab):
    homelab["registry"]["host"] = "harbor"
    homelab["models"][0]["modelKit"]["repository"] = "harbor/llm/ds-r1"
    assert "starts with registry.host (harbor)" in problems(homelab)["models[0].modelKit.repository"]
    assert "('ds-r1')" in problems(homelab)["models[0].modelKit.repository"]


@pytest.mark.parametrize("repository", ["ds-r1-llama-8b", "team/ds-r1", "qwen2.5-7b-instruct"])
def test_a_plain_repository_path_is_fine(homelab, repository):
    homelab["models"][0]["modelKit"]["repository"] = repository
    parses(homelab)


# --- item 4b: an engine image of another kind -------------------------------------------------------------------


@pytest.mark.parametrize("engine, fragments", [
    ({"kind": "ipex-llm", "image": "vllm/vllm-openai:v0.10.1"},
     ["is a CUDA (NVIDIA) build", "engine.image: intelanalytics/ipex-llm-serving-xpu:0.8.3-b19",
      "engine.kind: vllm with an XPU build"]),
    ({"kind": "ipex-llm", "image": "rocm/vllm:rocm6.3.1_vllm_0.8.5"}, ["is a ROCm (AMD) build"]),
    ({"kind": "vllm", "image": "rocm/vllm:v0.10.1"}, ["is a ROCm (AMD) build", "engine.image to an XPU build of vLLM"]),
    ({"kind": "vllm", "image": "vllm/vllm-openai:v0.12.0"}, ["is a CUDA (NVIDIA) build", "vllm/vllm-openai-xpu:"]),
    ({"kind": "vllm", "image": "ghcr.io/llm-d/llm-d-cuda:v0.9.0"}, ["is a CUDA (NVIDIA) build"]),
    ({"kind": "vllm", "image": "intelanalytics/ipex-llm-serving-xpu:0.8.3-b19"}, ["set engine.kind: ipex-llm"]),
    ({"kind": "ipex-llm", "image": "intel/vllm:0.11.0-xpu"}, ["set engine.kind: vllm (this image's kind)"]),
    ({"kind": "sim", "image": "vllm/vllm-openai:v0.10.1"}, ["engine.image: ghcr.io/llm-d/llm-d-inference-sim:"]),
])
def test_an_engine_image_that_contradicts_its_kind_is_an_error_at_the_image(homelab, engine, fragments):
    homelab["models"][0]["engine"] = engine
    message = problems(homelab)["models[0].engine.image"]
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize("engine", [
    {"kind": "ipex-llm", "image": "intelanalytics/ipex-llm-serving-xpu:0.8.3-b19"},
    {"kind": "vllm", "image": "vllm/vllm-openai-xpu:v0.27.1"},
    {"kind": "vllm", "image": "intel/vllm:0.11.0-xpu"},
    {"kind": "vllm", "image": "ghcr.io/llm-d/llm-d-xpu:v0.9.0"},
])
def test_xpu_images_of_their_own_kind_are_accepted(homelab, engine):
    homelab["models"][0]["engine"] = engine
    found = {} if engine["kind"] != "vllm" else None
    try:
        parses(homelab)
    except ConfigError as exc:
        found = {p.path: p.message for p in exc.problems}
    assert not [p for p in (found or {}) if p.startswith("models[0].engine.image")], found


# --- item 4c and 4d: the stack file -------------------------------------------------------------------------------

HOMELAB_TEXT = (ROOT / "Pulumi.homelab.yaml").read_text()


def _stack_file(tmp_path: Path, text: str):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "Pulumi.x.yaml").write_text(text)
    return read_stack_file(tmp_path, "x")


def _line(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("old, new, bad, words", [
    # a key indented less than its siblings
    ("        storageClass: local-path\n", "       storageClass: local-path\n", "       storageClass",
     "indented differently from the keys above it"),
    # a key indented deeper than the one above, which has a value
    ("        storageClass: local-path\n", "          storageClass: local-path\n", "          storageClass",
     "indented deeper than the key above it"),
    # a key lined up with the list's `- ` but not an item
    ("      servedName: deepseek-r1-distill-llama-8b\n", "    servedName: deepseek-r1-distill-llama-8b\n",
     "    servedName", "lined up with the list items (`- `)"),
    # a line without its colon
    ("        storageClass: local-path\n", "        storageClass local-path\n", "storageClass local-path",
     "is not `key: value` (it has no `:`)"),
    # a value holding `: `
    ("        storageClass: local-path\n", "        storageClass: local: path\n", "local: path",
     "a value that holds `: ` must be quoted"),
])
def test_yaml_indentation_errors_are_explained_at_their_line(tmp_path, old, new, bad, words):
    assert old in HOMELAB_TEXT
    text = HOMELAB_TEXT.replace(old, new, 1)
    (problem,) = _stack_file(tmp_path, text).problems
    assert problem.message.startswith("not valid YAML: ") and words in problem.message, problem.message
    assert "(PyYAML: " in problem.message  # PyYAML's own words stay, to search for
    assert problem.mark is not None and problem.mark.line == _line(text, bad)


def test_a_mistyped_project_prefix_is_named_at_its_line_with_the_right_key(tmp_path):
    text = HOMELAB_TEXT.replace("  llmd-homelab:models:\n", "  llmd:models:\n")
    stack = _stack_file(tmp_path, text)
    assert [(p.path, p.message) for p in stack.problems] == [(
        "llmd:models",
        "`llmd:models` is not a key of this project (`llmd-homelab` in Pulumi.yaml); did you mean `llmd-homelab:models`?")]
    from llmd_stack.__main__ import _config_problems

    shown = _config_problems(tmp_path, "Pulumi.x.yaml", stack.problems)
    assert shown.startswith(f"Pulumi.x.yaml:{_line(text, 'llmd:models:')}:3: llmd:models: ")
    assert "required key is missing" not in shown


def test_an_unknown_namespace_is_reported_and_pulumi_and_kubernetes_ones_are_not(tmp_path):
    text = HOMELAB_TEXT.replace("config:\n", "config:\n  monitoring:grafana: false\n  kubernetes:context: default\n", 1)
    (problem,) = _stack_file(tmp_path, text).problems
    assert problem.path == "monitoring:grafana"
    assert problem.message.startswith("unknown config namespace 'monitoring': nothing reads it; this project's keys "
                                      "are `llmd-homelab:<key>`")


# --- item 4e: `charts pull` and the Makefile ------------------------------------------------------------------------


def test_charts_pull_exits_2_for_an_invalid_stack_file(tmp_path, capsys):
    text = HOMELAB_TEXT.replace("      replicas: 2\n", "      replicas: 0\n")
    _stack_file(tmp_path, text)
    cache = tmp_path / "cache"
    cache.mkdir()
    assert charts_pull(tmp_path, None, ChartCache((cache,))) == 2
    out = capsys.readouterr()
    assert "skipped Pulumi.x.yaml: models[0].replicas: must be >= 1, got 0" in out.out
    assert "stack file(s) invalid" in out.err


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("code, make_code, warned", [(0, 0, False), (1, 0, True), (2, 2, False), (3, 3, False)])
def test_the_makefile_warns_only_when_a_fetch_failed(tmp_path, code, make_code, warned):
    """`make charts` with a stand-in for the CLI that exits `code`: 1 (a fetch failed) is a warning and make goes on;
    2 (an invalid stack file) and anything else stop make with that code."""
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!/bin/sh\necho \"$@\"\nexit {code}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    proc = subprocess.run(["make", "-s", "-f", str(ROOT / "Makefile"), "-o", ".venv/.render-installed", "charts",
                           f"PY={fake}"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert "-m llmd_stack charts pull" in proc.stdout
    assert proc.returncode == (0 if make_code == 0 else 2), proc.stderr  # make exits 2 whenever a recipe fails
    assert ("warning: some charts could not be fetched" in proc.stdout) == warned
    if make_code:
        assert f"Error {make_code}" in proc.stderr
