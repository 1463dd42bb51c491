"""The version guard table: known-bad upstream combinations, each with the fact behind it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Problem, StackConfig


def guard_problems(cfg: "StackConfig") -> list["Problem"]:
    return []
