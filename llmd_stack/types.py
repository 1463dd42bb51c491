"""Validated scalar types shared by the stack configuration: names, quantities, durations, image refs.

Each type rejects bad input with a message a user can act on; the config module adds the key path.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator

from policies.rules.durations import duration_ms, is_duration  # noqa: F401 (duration_ms is part of this API)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_REGISTRY_HOST = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:[0-9]{1,5})?$")
_QUANTITY = re.compile(r"^(?P<num>[0-9]+(\.[0-9]+)?)(?P<unit>Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?$")
_VERSION = re.compile(r"^v?(?P<major>[0-9]+)\.(?P<minor>[0-9]+)(\.(?P<patch>[0-9]+))?(?P<pre>-[0-9A-Za-z.-]+)?$")
_IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_OCI_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

_UNIT_FACTORS = {
    None: 1, "m": 0.001,
    "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}


class TypeName(str):
    """A readable type name for the generated config reference."""


def _check(pattern: re.Pattern[str], what: str, max_len: int | None = None):
    def validate(value: str) -> str:
        if max_len is not None and len(value) > max_len:
            raise ValueError(f"must be at most {max_len} characters, got {len(value)} ({value!r})")
        if not pattern.match(value):
            raise ValueError(f"must be {what}, got {value!r}")
        return value

    return AfterValidator(validate)


def quantity_value(quantity: str) -> float:
    """A Kubernetes quantity as a number (bytes for memory and storage, cores for CPU)."""
    match = _QUANTITY.match(quantity)
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {quantity!r}")
    return float(match["num"]) * _UNIT_FACTORS[match["unit"]]


def version_tuple(version: str) -> tuple[int, int, int]:
    match = _VERSION.match(version)
    if not match:
        raise ValueError(f"not a version: {version!r}")
    return int(match["major"]), int(match["minor"]), int(match["patch"] or 0)


def _check_image(value: str) -> str:
    match = _IMAGE.match(value)
    if not match:
        raise ValueError(f"must be an image reference like 'registry/repo:tag' or 'repo@sha256:...', got {value!r}")
    if not match["tag"] and not match["digest"]:
        raise ValueError(f"must pin a tag or digest (an untagged image means ':latest'), got {value!r}")
    if match["tag"] == "latest" and not match["digest"]:
        raise ValueError(f"':latest' is not reproducible; pin a version tag or digest, got {value!r}")
    return value


def image_tag(image: str) -> str | None:
    match = _IMAGE.match(image)
    return match["tag"] if match else None


def image_repository(image: str) -> str:
    match = _IMAGE.match(image)
    if not match:
        raise ValueError(f"not an image reference: {image!r}")
    return match["repo"]


def _check_quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"must be a Kubernetes quantity such as '100Gi' or '500m', got {value!r}")
    if quantity_value(value) <= 0:
        raise ValueError(f"must be greater than zero, got {value!r}")
    return value


def _check_duration(value: str) -> str:
    if not is_duration(value):
        raise ValueError(
            f"must be a Gateway API duration (1 to 4 parts of up to 5 digits with h, m, s or ms, e.g. '3600s', '1h30m'), got {value!r}"
        )
    return value


DnsLabel = Annotated[str, _check(_DNS_LABEL, "a DNS label (lowercase letters, digits and '-')", 63), TypeName("DNS label")]
DnsSubdomain = Annotated[
    str, _check(_DNS_SUBDOMAIN, "a DNS subdomain (lowercase letters, digits, '-' and '.')", 253), TypeName("DNS subdomain")
]
Hostname = Annotated[
    str, _check(_HOSTNAME, "a hostname such as 'llm.homelab.lan' or '*.homelab.lan'", 253), TypeName("hostname")
]
RegistryHost = Annotated[
    str, _check(_REGISTRY_HOST, "a registry host such as 'harbor.homelab.lan' or 'harbor:8443'", 253), TypeName("host[:port]")
]
def _number_as_quantity(value: object) -> object:
    """Kubernetes takes `cpu: 4` and `cpu: 0.5`: YAML hands them over as numbers."""
    return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _quote_numbers(what: str):
    """YAML reads `1.0` or `1.10` as a number (and `1.10` becomes 1.1): a tag or version must be quoted."""
    def validate(value: object) -> object:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise ValueError(f"YAML reads {value!r} as a number: quote the {what} (e.g. \"{value}\")")
        return value

    return BeforeValidator(validate)


Version = Annotated[
    str, _quote_numbers("version"), _check(_VERSION, "a version such as 'v1.2.3' or '1.2.3'"), TypeName("version")
]
Digest = Annotated[str, _check(_DIGEST, "a digest 'sha256:<64 hex digits>'"), TypeName("digest")]
OciTag = Annotated[
    str, _quote_numbers("tag"), _check(_OCI_TAG, "an OCI tag (letters, digits, '_', '.', '-'; at most 128)"),
    TypeName("OCI tag"),
]
ImageRef = Annotated[str, AfterValidator(_check_image), TypeName("image (pinned)")]
Quantity = Annotated[str, BeforeValidator(_number_as_quantity), AfterValidator(_check_quantity), TypeName("quantity")]
Duration = Annotated[str, AfterValidator(_check_duration), TypeName("Gateway API duration")]
