"""The seams between the provider-neutral routing components and their variants: what a gateway provider contributes
to the InferenceGateway (its controller, the labels of its proxy pods, its control plane, how it runs an external
processor before a route is chosen), and what an InferencePool is made from whichever chart line renders it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pulumi

POOL_GROUP = "inference.networking.k8s.io"
POOL_KIND = "InferencePool"


class GatewayProvider(Protocol):
    """What a gateway implementation contributes: its controller install and the GatewayClass to use."""

    class_name: str

    def install(self, name: str, parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        """Create the controller (and its CRDs); return what Gateways must wait for."""
        ...

    def proxy_pod_labels(self, gateway_name: str) -> dict[str, str]:
        """Labels of the data-plane pods serving a Gateway (NetworkPolicies admit them)."""
        ...

    def control_plane(self) -> tuple[str, dict[str, str], int]:
        """(namespace, pod labels, port) the data-plane pods fetch their configuration (xDS) from."""
        ...

    def infrastructure(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], parent: pulumi.Resource,
        depends_on: list[pulumi.Resource], service_type: str | None = None,
    ) -> dict | None:
        """The Gateway's `spec.infrastructure` (e.g. a parametersRef), creating what it refers to; None for defaults.
        `service_type` overrides the provider's for this Gateway (an internal one is ClusterIP)."""
        ...

    def listener_settings(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], request_timeouts: list[str],
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> None:
        """Let the proxy keep a silent stream open as long as a route's request may last (`request_timeouts`)."""
        ...

    def body_processor(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], processor: "BodyProcessor",
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> None:
        """Run an external processor on every request to the Gateway, before its route is chosen."""
        ...


@dataclass(frozen=True)
class BodyProcessor:
    """An ext-proc server that reads the request body and sets headers routes match (body-based routing)."""

    service: pulumi.Input[str]  # in the Gateway's namespace
    port: int
    waits_for: tuple[pulumi.Resource, ...] = ()




# --- an InferencePool and its endpoint picker, whichever chart renders them ------------------------------------------


@dataclass(frozen=True)
class EppPluginSpec:
    type: str
    name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EppProfileSpec:
    name: str
    plugins: tuple[tuple[str, int | None], ...]  # (pluginRef, weight)


@dataclass(frozen=True)
class EppImage:
    hub: str
    name: str
    tag: str

    @staticmethod
    def parse(image: str) -> "EppImage":
        """`hub/name:tag[@digest]` as the chart's `hub`/`name`/`tag` (it renders `{hub}/{name}:{tag}`, so a digest
        stays pinned as part of the tag); an image without a registry path is a Docker Hub library image."""
        reference, at, digest = image.partition("@")
        repository, tag = reference.rsplit(":", 1)
        tag += at + digest
        hub, name = repository.rsplit("/", 1) if "/" in repository else ("docker.io/library", repository)
        return EppImage(hub, name, tag)


@dataclass(frozen=True)
class InferencePoolArgs:
    namespace: pulumi.Input[str]
    release: str  # the pool's name
    chart_version: str
    epp_image: EppImage
    epp_replicas: int
    plugins: tuple[EppPluginSpec, ...]
    profiles: tuple[EppProfileSpec, ...]
    # From the model service component.
    pod_labels: pulumi.Input[dict[str, str]]
    target_port: pulumi.Input[int]
    metrics_generation: pulumi.Input[str]
    extra_flags: dict[str, str] = field(default_factory=dict)  # string flags only (see epp_flags)
    monitor_labels: dict[str, str] | None = None  # None: no ServiceMonitor
    extra_values: dict[str, Any] = field(default_factory=dict)
