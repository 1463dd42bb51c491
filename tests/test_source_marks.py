"""Errors point at the line to edit: `Pulumi.x.yaml:LINE:COL: problem`, the line, a caret; never a literal `\\n`."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT
from test_cli import run_cli

from llmd_stack.__main__ import _config_problems
from llmd_stack.topology import Problem

PROVIDERS = "  pulumi:disable-default-providers:\n    - kubernetes\n"
# The homelab stack file as its deployer has it: the secrets set (ciphertext), right after the providers.
HOMELAB = (ROOT / "Pulumi.homelab.yaml").read_text().replace(PROVIDERS, PROVIDERS + "".join(
    f"  llmd-homelab:{key}:\n    secure: v1:c2FsdA==:Y2lwaGVydGV4dA==\n" for key in ("registryToken", "grafanaAdminPassword",
                                                                                 "apiKey")))
API_KEY_LINES = "  llmd-homelab:apiKey:\n    secure: v1:c2FsdA==:Y2lwaGVydGV4dA==\n"


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def stack(tmp_path, text: str, name: str = "x"):
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / f"Pulumi.{name}.yaml").write_text(text)
    return tmp_path


def test_a_misindented_key_is_shown_at_its_line_with_a_caret(tmp_path):
    text = HOMELAB.replace("        size: 100Gi\n", "        size: 100Gi\n       storageClass: x\n", 1)
    project = stack(tmp_path, text)
    proc = run_cli("render", "--stack", "x", "--project-dir", str(project), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2
    bad_line = line_of(text, "       storageClass: x")
    lines = proc.stderr.splitlines()
    assert lines[0].startswith(f"Pulumi.x.yaml:{bad_line}:8: not valid YAML: this line is indented differently from "
                               "the keys above it"), proc.stderr
    assert lines[0].endswith("(PyYAML: expected <block end>, but found '<block mapping start>')"), proc.stderr
    assert lines[1] == f"{bad_line:5d} |        storageClass: x"
    assert lines[2] == "      |        ^"
    assert "\\n" not in proc.stderr and "Traceback" not in proc.stderr


def test_a_tab_is_named_as_such(tmp_path):
    text = HOMELAB.replace("    host: harbor.homelab.lan", "\thost: harbor.homelab.lan")
    message = _config_problems(stack(tmp_path, text), "Pulumi.x.yaml", [_problems_of(tmp_path)[0]])
    assert message.splitlines()[0] == (
        f"Pulumi.x.yaml:{line_of(text, 'host: harbor')}:1: not valid YAML: a tab character: YAML indents with spaces only"
    )


def _problems_of(project):
    from llmd_stack.stackfile import read_stack_file

    return read_stack_file(project, "x").problems


def test_a_config_problem_points_at_its_key(tmp_path):
    text = HOMELAB.replace("      replicas: 2", "      replicas: 0")
    project = stack(tmp_path, text)
    message = _config_problems(project, "Pulumi.x.yaml", [Problem("models[0].replicas", "must be >= 1, got 0")])
    row = line_of(text, "replicas: 0")
    assert message.splitlines() == [
        f"Pulumi.x.yaml:{row}:7: models[0].replicas: must be >= 1, got 0",
        f"{row:5d} |       replicas: 0",
        "      |       ^",
    ]


def test_a_missing_key_points_at_its_parent_and_an_unknown_one_at_itself(tmp_path):
    text = HOMELAB.replace("        repository: ds-r1-llama-8b\n", "")
    project = stack(tmp_path, text)
    message = _config_problems(project, "Pulumi.x.yaml", [Problem("models[0].modelKit.repository", "required key is missing")])
    assert message.startswith(f"Pulumi.x.yaml:{line_of(text, 'modelKit:')}:7: ")
    text = HOMELAB.replace("llmd-homelab:registry:", "llmd-homelb:registry:")
    project = stack(tmp_path, text)
    message = _config_problems(project, "Pulumi.x.yaml", [Problem("llmd-homelb:registry", "unknown config namespace")])
    assert message.startswith(f"Pulumi.x.yaml:{line_of(text, 'llmd-homelb:registry')}:3: ")


def test_a_problem_the_file_does_not_hold_has_no_line(tmp_path):
    project = stack(tmp_path, HOMELAB)
    message = _config_problems(project, "Pulumi.x.yaml", [Problem("scheduling.eppResources", "needs a port")])
    assert message == "Pulumi.x.yaml: scheduling.eppResources: needs a port"


def test_the_excerpt_never_echoes_a_secret_value(tmp_path):
    text = HOMELAB.replace("    host: harbor.homelab.lan", "    host: {secure: v1:Q2lwaGVydGV4dA==}")
    project = stack(tmp_path, text)
    message = _config_problems(project, "Pulumi.x.yaml", [Problem("registry.host", "bad"),
                                                           Problem("registryToken", "must be a secret")])
    assert "Q2lwaGVydGV4dA" not in message and message.count("<redacted>") == 2, message


SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize("edit", [
    # a quoted key
    lambda t: t.replace(API_KEY_LINES, f'  "llmd-homelab:apiKey": {SECRET}\n'),
    # flow style, on the config line
    lambda t: t.replace("config:\n", f"config: {{llmd-homelab:apiKey: {SECRET}}}\nother:\n"),
    # a syntax error on the second line of a multi-line secret
    lambda t: t.replace(API_KEY_LINES, f'  llmd-homelab:apiKey: "sk-\n    {SECRET}" x\n'),
])
def test_no_secret_reaches_stderr_however_it_is_written(tmp_path, edit):
    text = edit(HOMELAB)
    assert text != HOMELAB
    project = stack(tmp_path, text)
    proc = run_cli("render", "--stack", "x", "--project-dir", str(project), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 2
    assert SECRET not in proc.stderr and "0123456789abcdef" not in proc.stderr, proc.stderr
