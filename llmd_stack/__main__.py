"""CLI: `python -m llmd_stack render|check --stack NAME [--out DIR] [--verbose]`, `charts pull [--stack NAME]`,
`diff BASE HEAD`.

Exit codes: 0 ok, 1 a mandatory policy or config check is violated (check) or a chart could not be pulled,
2 the configuration is invalid, Helm refused a chart's values, or a chart or file is not what charts.lock.json pins,
3 a chart could not be rendered, so what it deploys was not checked (the render is still written), or (check) a GPU
stack declares no gpu.nodes, so its GPU capacity was not checked.
"""

from __future__ import annotations

import gc

# A one-shot command whose objects mostly live until it exits: the cyclic collector would only walk them (see
# engine.run_program). Off before the imports, which build most of them.
gc.disable()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from . import render as render_out  # noqa: E402
from .charts import ChartCache, ChartFileError, missing_message  # noqa: E402
from .config import ConfigError  # noqa: E402
from .engine import ChartFailed, DuplicateUrn  # noqa: E402
from .offline import render_stack  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m llmd_stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("render", "render a stack offline"), ("check", "render, then run the policy pack")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
        cmd.add_argument("--out", type=Path, help="output folder (default build/<stack>)")
        cmd.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder holding Pulumi.yaml")
        cmd.add_argument("-v", "--verbose", action="store_true",
                         help="every resource type and chart" + (", and every rule with its result" if name == "check" else ""))
        cmd.add_argument(
            "--deployed-outputs", type=Path, metavar="FILE",
            help="the stack's outputs from its last update (`pulumi stack output --json > FILE`): what the one-way "
                 "Gateway API and the deployed model cache checks compare with; without it the stack is rendered as "
                 "never deployed")
        if name == "check":
            cmd.add_argument(
                "--policy-config", type=Path, help="policy config JSON, as for `pulumi preview --policy-pack-config`"
            )
    charts = sub.add_parser("charts", help="the chart cache").add_subparsers(dest="charts_command", required=True)
    pull = charts.add_parser("pull", help="fetch every pinned chart and remote YAML file the stacks use into the cache")
    pull.add_argument("--stack", action="append", help="only this stack (repeatable; default: every Pulumi.<stack>.yaml)")
    pull.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder holding Pulumi.yaml")
    pull.add_argument("--all", action="store_true", help="also every other chart version the program supports (tests)")
    lock = charts.add_parser("lock", help="write charts.lock.json: the sha256 of every chart and file in the cache the "
                                          "program can deploy (review what changed first)")
    lock.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder holding Pulumi.yaml")
    diff = sub.add_parser("diff", help="Markdown diff of two renders' objects (a render folder or a folder of them)")
    diff.add_argument("base", type=Path)
    diff.add_argument("head", type=Path)
    return parser


EXIT_INCOMPLETE = 3


def secrets_report(result, stack: str, stack_file: str) -> str:
    """The secrets a deploy needs; for each the stack file lacks (rendered with a stand-in), the command that sets it."""
    from .config import set_secret_command

    if not result.secrets_needed:
        return "secrets a deploy needs: none"
    if not result.stand_ins:
        return f"secrets a deploy needs: {', '.join(result.secrets_needed)} (all set in {stack_file})"
    lines = [f"secrets a deploy needs: {', '.join(result.secrets_needed)}; not set in {stack_file}, so rendered with "
             f"offline stand-ins: {', '.join(result.stand_ins)}. Set them before `pulumi up`:"]
    lines += [f"  {set_secret_command(key, stack)}" for key in result.stand_ins]
    return "\n".join(lines)


def _failed(out_dir: Path) -> int:
    """Exit 2, leaving no earlier render in `out_dir` that would look like this one's result."""
    if out_dir.is_dir():
        render_out.clear(out_dir)
    return 2


def _config_problems(project_dir: Path, stack_file: str, problems) -> str:
    """Each problem as `Pulumi.x.yaml:LINE:COL: key: message` with the line and a caret, where the file holds it."""
    from .config import SECRET_KEYS
    from .source_marks import excerpt, locate
    from .stackfile import project_name

    path = project_dir / stack_file
    text = path.read_text() if path.is_file() else ""
    project = project_name(project_dir) if (project_dir / "Pulumi.yaml").is_file() else ""
    blocks = []
    for problem in problems:
        mark = problem.mark or (locate(text, problem.path, project) if text else None)
        if mark is None:
            blocks.append(f"{stack_file}: {problem}")
        else:
            blocks.append(f"{stack_file}:{mark.line}:{mark.column}: {problem}\n{excerpt(text, mark, SECRET_KEYS)}")
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "diff":
        from .manifest_diff import markdown

        if not args.head.is_dir():
            print(f"error: {args.head} is not a folder", file=sys.stderr)
            return 2
        print(markdown(args.base, args.head), end="")
        return 0
    project_dir = args.project_dir.resolve()
    if args.command == "charts":
        from .chart_pull import lock, run

        if args.charts_command == "lock":
            return lock(project_dir, ChartCache.from_env())
        return run(project_dir, args.stack, ChartCache.from_env(), everything=args.all)

    out_dir = args.out or project_dir / "build" / args.stack
    stack_file = f"Pulumi.{args.stack}.yaml"
    try:
        render_out.check_out_dir(out_dir, project_dir)
    except render_out.UnsafeOutput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    policy_config: dict = {}
    if args.command == "check":
        from .check import PolicyConfigError, load_policy_config

        try:
            policy_config = load_policy_config(args.policy_config)
        except PolicyConfigError as exc:
            print(f"error: --policy-config {exc}", file=sys.stderr)
            return 2
    deployed = None
    if args.deployed_outputs is not None:
        try:
            deployed = json.loads(args.deployed_outputs.read_text())
        except (OSError, ValueError) as exc:
            print(f"error: --deployed-outputs {args.deployed_outputs}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(deployed, dict):
            print(f"error: --deployed-outputs {args.deployed_outputs}: not a JSON object of stack outputs", file=sys.stderr)
            return 2
    try:
        result = render_stack(project_dir, args.stack, deployed_outputs=deployed)
    except ConfigError as exc:
        print(_config_problems(project_dir, stack_file, exc.problems), file=sys.stderr)
        return _failed(out_dir)
    except ChartFailed as exc:
        for problem in exc.problems:
            print(f"{stack_file}: Helm refused {problem}", file=sys.stderr)
        return _failed(out_dir)
    except (DuplicateUrn, ChartFileError) as exc:
        print(f"error: {stack_file}: {exc}", file=sys.stderr)
        return _failed(out_dir)
    for warning in result.warnings:
        print(f"warning: {stack_file}: {warning}", file=sys.stderr)
    render_out.write(result, out_dir)
    print(render_out.summary(result, args.verbose))
    print(f"wrote {out_dir}/resources.json and {out_dir}/manifests/")
    print(secrets_report(result, args.stack, stack_file))
    code = 0
    if args.command == "check":
        from .check import run_checks

        code = run_checks(result, policy_config, args.verbose)
    if result.unrendered:
        # Written, but not what `pulumi up` would deploy: the rules never saw these charts' objects.
        labels = [f"{chart.kind} {chart.label}" for chart in result.unrendered]
        print(f"error: {stack_file}: {missing_message(labels, ChartCache.from_env())}", file=sys.stderr)
        code = code or EXIT_INCOMPLETE
    return code


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Pulumi's runtime leaves per-thread event loops whose teardown at exit prints spurious errors.
    os._exit(code)
