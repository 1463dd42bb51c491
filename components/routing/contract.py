"""The seams between the provider-neutral routing components and their variants: what a gateway provider contributes
to the InferenceGateway (its controller, the labels of its proxy pods, its control plane, how it runs an external
processor before a route is chosen), and what an InferencePool is made from whichever chart line renders it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Protocol

import pulumi

from ..chart_sources import FileSource

POOL_GROUP = "inference.networking.k8s.io"
POOL_KIND = "InferencePool"

Finding = tuple[str, str]  # (config key path, message)


@dataclass(frozen=True)
class Guard:
    """A known-bad upstream combination and the fact behind it. `check` reads the whole stack config (duck-typed:
    the variants cannot import it) and returns a (key path, message) per finding."""

    id: str
    level: Literal["error", "warning"]
    fact: str
    check: Callable[[Any], list[Finding]]


@dataclass(frozen=True)
class RateLimit:
    """Requests per unit for the whole proxy (both providers count per proxy, not per client), plus a burst."""

    requests: int
    unit: str  # Seconds | Minutes | Hours
    burst: int = 0


@dataclass(frozen=True)
class ListenerLimits:
    """What a client of the public listener may hold or send."""

    idle_timeout: str  # a connection with no request in flight is closed after this
    stream_idle_timeout: str | None = None  # kgateway: a stream silent this long is closed; None: from the routes
    rate_limit: RateLimit | None = None


class GatewayProvider(Protocol):
    """What a gateway implementation contributes: its controller install and the GatewayClass to use."""

    class_name: str
    # The gateway talks to an EPP over TLS (the EPP must keep secure serving).
    epp_tls: bool
    # Whether an external processor on the Gateway runs before a route is chosen (else a second Gateway is needed
    # for body-based routing).
    processor_before_routing: bool
    # xDS TLS needs a certificate from cert-manager (`xds_tls_after` then names what it waits for); False: the
    # provider's xDS is TLS by itself, or cannot be.
    xds_tls_from_cert_manager: bool

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
        parent: pulumi.Resource, depends_on: list[pulumi.Resource], limits: "ListenerLimits | None" = None,
    ) -> None:
        """Let the proxy keep a silent stream open as long as a route's request may last (`request_timeouts`); on the
        Gateway clients reach, apply `limits` (None: an internal Gateway)."""
        ...

    def body_processor(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], processor: "BodyProcessor",
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> None:
        """Run an external processor on every request to the Gateway (before its route is chosen, where the
        provider can: processor_before_routing)."""
        ...

    def api_key_check(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], secret_name: pulumi.Input[str],
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> bool:
        """Refuse requests without the API key (a Secret's data) at the proxy; whether the provider can."""
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
    extra_flags: dict[str, str] = field(default_factory=dict)  # as the chart renders them (see each line)
    epp_resources: dict[str, dict[str, str]] | None = None  # requests/limits, where the chart takes them
    monitor_labels: dict[str, str] | None = None  # None: no ServiceMonitor
    extra_values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EppMetricNames:
    """The pool series an EPP generation exports (each labelled `name=<pool>`)."""

    ready_endpoints: str
    average_queue_size: str
    average_kv_cache_utilization: str
    pool_label: str = "name"

    @property
    def all(self) -> frozenset[str]:
        return frozenset({self.ready_endpoints, self.average_queue_size, self.average_kv_cache_utilization})


@dataclass(frozen=True)
class CrdBundle:
    """A remote CRD bundle a pool line installs before its EPPs start: `suffix` names its resource."""

    suffix: str
    source: FileSource
    version: str


class PoolLine(Protocol):
    """A chart line that renders an InferencePool and its EPP: its pins, its values layout per chart version, its
    CRDs, and the names the rest of the stack meets it by (EPP Service, pod labels, ports, metric names)."""

    key: str  # `scheduling.chart`
    chart_name: str  # the chart's name (what rules read from rendered labels)
    ext_proc_port: int
    metrics_port: int

    def crd_bundles(self, chart_version: str) -> tuple[CrdBundle, ...]:
        ...

    def values(self, args: "InferencePoolArgs", pod_labels: dict[str, str], port: int, generation: str) -> dict[str, Any]:
        ...

    def epp_service(self, release: str) -> str:
        ...

    def epp_pod_labels(self, release: str) -> dict[str, str]:
        ...

    def takes_epp_resources(self, chart_version: str) -> bool:
        """Whether the chart has a value for the EPP's resources (else the post-renderer sets them)."""
        ...

    def metrics_auth(self, chart_version: str, monitor_labels: dict[str, str] | None) -> bool:
        """Whether the EPP guards /metrics with a token check (the monitor then needs a scraper token)."""
        ...

    def epp_metrics(self, chart_version: str) -> EppMetricNames:
        ...

