"""CLI: `python -m llmd_stack render|check --stack NAME [--out DIR]`.

Exit codes: 0 ok, 1 a mandatory policy is violated (check), 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import render as render_out
from .config import ConfigError
from .offline import render_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m llmd_stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (("render", "render a stack offline"), ("check", "render, then run the policy pack")):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument("--stack", required=True, help="stack name (reads Pulumi.<stack>.yaml)")
        cmd.add_argument("--out", type=Path, help="output folder (default build/<stack>)")
        cmd.add_argument("--project-dir", type=Path, default=Path.cwd(), help="folder holding Pulumi.yaml")
        if name == "check":
            cmd.add_argument(
                "--policy-config", type=Path, help="policy config JSON, as for `pulumi preview --policy-pack-config`"
            )
    args = parser.parse_args(argv)

    project_dir = args.project_dir.resolve()
    out_dir = args.out or project_dir / "build" / args.stack
    try:
        result = render_stack(project_dir, args.stack)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"Pulumi.{args.stack}.yaml: {problem}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        print(f"warning: Pulumi.{args.stack}.yaml: {warning}", file=sys.stderr)
    render_out.write(result, out_dir)
    print(render_out.summary(result))
    print(f"wrote {out_dir}/resources.json and {out_dir}/manifests/")
    if args.command == "check":
        from .check import load_policy_config, run_checks

        return run_checks(result, load_policy_config(args.policy_config))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Pulumi's runtime leaves per-thread event loops whose teardown at exit prints spurious errors.
    os._exit(code)
