"""The README's configuration reference is generated from the config model and must stay current."""

from __future__ import annotations

from conftest import ROOT

from llmd_stack.config import StackConfig
from llmd_stack.docs import guards_table, reference, rows, rules_table


def test_readme_embeds_the_current_config_reference_and_guard_table():
    readme = (ROOT / "README.md").read_text()
    assert reference() in readme, "run: python -m llmd_stack.docs --write README.md"
    assert guards_table() in readme, "run: python -m llmd_stack.docs --write README.md"
    assert rules_table() in readme, "run: python -m llmd_stack.docs --write README.md"


def test_every_config_key_is_documented():
    undocumented = [key for key, _, _, meaning in rows(StackConfig) if not meaning]
    assert undocumented == []


def test_readme_has_exactly_the_two_quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split()[0:2] for line in quick_start.splitlines() if line.startswith("make ")]
    assert commands == [["make", "render"], ["make", "test"]]
