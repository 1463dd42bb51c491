"""Pulumi entry point: load the typed stack config, then build the stack. Nothing else lives here."""

from llmd_stack.config import load_config
from llmd_stack.program import build

build(load_config())
