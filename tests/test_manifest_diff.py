"""`diff BASE HEAD`: the pull-request comment's content, from two real renders."""

from __future__ import annotations

import copy

from conftest import ROOT
from test_cli import run_cli

from llmd_stack import render as render_out
from llmd_stack.manifest_diff import MARKER, MAX_CHARS, markdown
from llmd_stack.offline import render_config


def write(result, folder):
    render_out.write(result, folder)
    return folder


def test_a_replica_change_shows_the_rendered_deployment_and_nothing_else(tmp_path, homelab, render):
    base = write(render(homelab), tmp_path / "base" / "homelab")
    changed = copy.deepcopy(homelab)
    changed["models"][0]["replicas"] = 3
    head = write(render(changed), tmp_path / "head" / "homelab")
    text = markdown(tmp_path / "base", tmp_path / "head")
    assert text.startswith(MARKER)
    assert "**homelab**: 0 added, 0 removed, 1 changed" in text
    assert "`Deployment.apps llm-d/ds-r1-llama-8b-decode`" in text
    assert "-  replicas: 2\n+  replicas: 3\n" in text
    assert head.is_dir() and base.is_dir()


def test_a_new_model_adds_its_chart_objects(tmp_path, homelab, render):
    from conftest import second_model

    write(render(homelab), tmp_path / "base" / "homelab")
    more = copy.deepcopy(homelab)
    more["models"].append(second_model(more))
    write(render(more), tmp_path / "head" / "homelab")
    text = markdown(tmp_path / "base", tmp_path / "head")
    assert "`Deployment.apps llm-d/qwen-7b-decode`" in text and "`InferencePool.inference.networking.k8s.io llm-d/qwen-7b-pool`" in text
    assert "0 removed" in text


def test_no_change_and_new_stacks_are_said(tmp_path, homelab, render):
    write(render(homelab), tmp_path / "base" / "homelab")
    write(render(homelab), tmp_path / "head" / "homelab")
    write(render(homelab), tmp_path / "head" / "lab2")
    text = markdown(tmp_path / "base", tmp_path / "head")
    assert "**homelab**: no change" in text and "**lab2** (new stack)" in text


def test_a_diff_too_long_for_a_comment_is_cut_with_a_note(tmp_path, homelab, render):
    (tmp_path / "base" / "homelab" / "manifests").mkdir(parents=True)
    write(render(homelab), tmp_path / "head" / "homelab")  # everything added: the CRDs alone are ~750 kB
    text = markdown(tmp_path / "base", tmp_path / "head")
    assert len(text) <= MAX_CHARS and "does not fit in a comment" in text


def test_the_cli_prints_the_diff(tmp_path, homelab, render):
    write(render(homelab), tmp_path / "base")
    write(render(homelab), tmp_path / "head")
    proc = run_cli("diff", str(tmp_path / "base"), str(tmp_path / "head"), cwd=ROOT)
    assert proc.returncode == 0 and "no change" in proc.stdout
    assert run_cli("diff", str(tmp_path / "base"), str(tmp_path / "nowhere"), cwd=ROOT).returncode == 2
