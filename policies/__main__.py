"""CrossGuard entry point: `pulumi preview --policy-pack policies`. Builds the pack and nothing else."""

import sys
from pathlib import Path

# The rules share the project's metric-name list (components/metric_names.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from rules import pulumi_policies  # noqa: E402

PolicyPack(name="llmd-homelab", enforcement_level=EnforcementLevel.MANDATORY, policies=pulumi_policies())
