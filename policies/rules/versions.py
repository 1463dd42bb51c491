"""Release versions as found in chart versions and image tags (`v1.2.1`, `0.10.1-xpu`): one lenient reader.

Pure Python with no dependencies: part of the policy pack, which must stand alone; the program imports it from here.
(Config validation uses the strict `llmd_stack.types.version_tuple`.)
"""

from __future__ import annotations

import re

_RELEASE = re.compile(r"^v?([0-9]+)\.([0-9]+)(?:\.([0-9]+))?")


def release(text: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a version or tag that starts with one; None when it does not."""
    found = _RELEASE.match(str(text))
    return (int(found[1]), int(found[2]), int(found[3] or 0)) if found else None


def image_tag(image: str) -> str:
    """The tag of `repo[:tag][@digest]` ('' without one); a registry port is not a tag, nor a digest."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ""


# The Gateway API release each gateway provider pairs with: kgateway 2.1.x with 1.4.x (a 1.5.1 bump broke routing),
# agentgateway v1.4.x with 1.6.x (its go.mod and conformance install). From 1.5 the standard install refuses a
# downgrade (its `safe-upgrades` ValidatingAdmissionPolicy).
GATEWAY_API_RELEASES = {"kgateway": "v1.4.0", "agentgateway": "v1.6.1"}
SAFE_UPGRADES_FROM = (1, 5)

