"""CrossGuard entry point: `pulumi preview --policy-pack policies`. Builds the pack and nothing else.

The pack stands alone (`pulumi policy publish` uploads this folder only): the rules import nothing but their own
modules and what requirements.txt installs."""

from pulumi_policy import EnforcementLevel, PolicyPack

from rules import pulumi_policies

PolicyPack(name="llmd-homelab", enforcement_level=EnforcementLevel.MANDATORY, policies=pulumi_policies())
