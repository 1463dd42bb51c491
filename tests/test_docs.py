"""The README is short and points at docs/; the generated reference pages under docs/ are current; no dead link."""

from __future__ import annotations

import re

from conftest import ROOT

from llmd_stack.config import StackConfig
from llmd_stack.docs import pages, rows

README = ROOT / "README.md"
DOCS = ROOT / "docs"


def test_the_generated_reference_pages_are_current():
    for name, text in pages().items():
        assert (DOCS / name).is_file() and (DOCS / name).read_text() == text, f"run: python -m llmd_stack.docs --write ({name})"


def test_every_config_key_is_documented():
    undocumented = [key for key, _, _, meaning in rows(StackConfig) if not meaning]
    assert undocumented == []


def test_readme_has_exactly_the_two_quick_start_commands():
    readme = README.read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split()[0:2] for line in quick_start.splitlines() if line.startswith("make ")]
    assert commands == [["make", "render"], ["make", "test"]]


def test_readme_fits_250_lines_and_its_first_screen_says_what_to_do():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    first_screen = "\n".join(lines[:40])
    assert "make render" in first_screen and "make test" in first_screen
    assert "docs/deploy.md" in first_screen, "the first screen says where the deploy guide is"


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_and_anchor_resolves():
    link = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)")
    for page in [README, *DOCS.glob("*.md")]:
        for target, anchor in link.findall(page.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            path = (page.parent / target).resolve() if target else page
            assert path.exists(), f"{page.name}: dead link {target}"
            if anchor and path.suffix == ".md":
                headings = [_anchor(h) for h in re.findall(r"^#+ (.+)$", path.read_text(), re.M)]
                assert anchor in headings, f"{page.name}: no heading #{anchor} in {path.name}"


def test_there_is_one_deploy_walkthrough():
    """`pulumi up` is shown as a step in docs/deploy.md only: two walkthroughs drift apart."""
    shown = {page.name for page in [README, *DOCS.glob("*.md")]
             if re.search(r"^pulumi (stack init|login) ", page.read_text(), re.M)}
    assert shown == {"deploy.md"}, shown


def test_error_examples_in_the_docs_point_at_the_stack_files_real_lines():
    """`Pulumi.homelab.yaml:61:7: models[0].replicas: ...` in a page: line 61 of the stack file holds that key (an
    edit of the stack file moves lines; the examples must move with them)."""
    found = 0
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for stack, line, column, key in re.findall(r"Pulumi\.(\w+)\.yaml:(\d+):(\d+): ([\w\[\].]+):", page.read_text()):
            text = (ROOT / f"Pulumi.{stack}.yaml").read_text().splitlines()[int(line) - 1]
            last = re.sub(r"\[\d+\]", "", key.rsplit(".", 1)[-1])
            at = text[int(column) - 1:]
            assert at.startswith((f"{last}:", f"llmd-homelab:{last}:")), f"{page.name}: {stack}:{line}:{column} {key} -> {text!r}"
            found += 1
    assert found >= 3
