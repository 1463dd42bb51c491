"""Gateway API durations (GEP-2257), as the HTTPRoute CRD validates them: one definition for config and policies.

Pure Python with no dependencies: part of the policy pack, which must stand alone; the program imports it from here.
"""

from __future__ import annotations

import re

GATEWAY_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_PART = re.compile(r"([0-9]{1,5})(ms|h|m|s)")
_MS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}


def is_duration(text: object) -> bool:
    return isinstance(text, str) and GATEWAY_DURATION.match(text) is not None


def duration_ms(duration: str) -> int:
    """A Gateway API duration (`1h30m`, `3600s`, `500ms`) in milliseconds."""
    if not is_duration(duration):
        raise ValueError(f"not a Gateway API duration: {duration!r}")
    return sum(int(n) * _MS[unit] for n, unit in _PART.findall(duration))
