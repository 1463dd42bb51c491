"""kgateway 2.1.x: the last kgateway line whose Envoy data plane routes to InferencePools (removed in 2.2)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from policies.rules.durations import duration_ms
from policies.rules.versions import GATEWAY_API_RELEASES, release

from ..chart_sources import ChartSource
from ..meta import object_meta
from .contract import BodyProcessor, Guard, ListenerLimits
from .controller import install_controller

KGATEWAY_CRDS = ChartSource("oci://cr.kgateway.dev/kgateway-dev/charts/kgateway-crds", "v2.1.2")
KGATEWAY = ChartSource("oci://cr.kgateway.dev/kgateway-dev/charts/kgateway", "v2.1.2")
GATEWAY_API_VERSION = GATEWAY_API_RELEASES["kgateway"]  # 2.1.x pairs with Gateway API 1.4.x (1.5.1 broke routing)
CHARTS = (KGATEWAY_CRDS, KGATEWAY)

GATEWAY_API = "gateway.networking.k8s.io"
KGATEWAY_XDS_PORT = 9977
# GAIE's Istio config for the body-based router, in kgateway's terms.
BODY_PROCESSING_MODE = {"requestHeaderMode": "SEND", "responseHeaderMode": "SKIP", "requestBodyMode": "FULL_DUPLEX_STREAMED",
                        "responseBodyMode": "NONE", "requestTrailerMode": "SEND", "responseTrailerMode": "SKIP"}


UNIT_SECONDS = {"Seconds": "1s", "Minutes": "60s", "Hours": "3600s"}
ENVOY_STREAM_IDLE_DEFAULT = "300s"  # Envoy closes a stream with no bytes for 5 minutes


def stream_idle_timeout(request_timeouts: list[str]) -> str:
    """The proxy's stream idle timeout for routes with these request timeouts: a non-streaming generation sends
    nothing until it is done, so a stream must be allowed to stay silent as long as a request may last (never less
    than Envoy's default; `0s`, no request timeout, disables it too)."""
    if any(duration_ms(t) == 0 for t in request_timeouts):
        return "0s"
    return max([ENVOY_STREAM_IDLE_DEFAULT, *request_timeouts], key=duration_ms)


@dataclass(frozen=True)
class Kgateway:
    """kgateway 2.1.x: the last line whose Envoy data plane routes to InferencePools (removed in 2.2)."""

    version: str
    namespace: str
    class_name: str = "kgateway"
    service_type: str = "LoadBalancer"
    # A Gateway-wide ext-proc runs after the route's endpoint picker: body-based routing needs a second Gateway.
    processor_before_routing: bool = False
    epp_tls: bool = True  # its ext-proc connection to the EPP uses TLS
    xds_tls_from_cert_manager: bool = True
    # xDS over TLS once this is ready (cert-manager, which issues its certificate); None: plaintext xDS.
    xds_tls_after: tuple[pulumi.Resource, ...] | None = None

    def install(self, name: str, parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        return install_controller(name, self.namespace, KGATEWAY_CRDS, KGATEWAY, self.version, parent, depends_on,
                                  None if self.xds_tls_after is None else list(self.xds_tls_after))

    def api_key_check(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], secret_name: pulumi.Input[str],
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> bool:
        """kgateway 2.1's TrafficPolicy has no API key check of its own (its CRDs offer extAuth only, an external
        service): the model servers check the key (VLLM_API_KEY)."""
        return False

    def proxy_pod_labels(self, gateway_name: str) -> dict[str, str]:
        return {"gateway.networking.k8s.io/gateway-name": gateway_name}

    def control_plane(self) -> tuple[str, dict[str, str], int]:
        # kgateway 2.1: Envoy's bootstrap xds_cluster is the `kgateway` Service on 9977 (settings XdsServicePort);
        # the controller pods carry the chart's name label.
        return self.namespace, {"app.kubernetes.io/name": "kgateway"}, KGATEWAY_XDS_PORT

    def body_processor(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], processor: BodyProcessor,
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> None:
        # The router serves gRPC over TLS with a certificate it makes up at start: nothing to verify it against.
        # kgateway builds the ext-proc's cluster from the Service, so a BackendConfigPolicy on it applies (HTTP/2
        # comes from the chart's `appProtocol: HTTP2`; ALPN is set since gRPC servers refuse TLS without it).
        k8s.apiextensions.CustomResource(
            f"{name}-body-tls",
            api_version="gateway.kgateway.dev/v1alpha1",
            kind="BackendConfigPolicy",
            metadata=object_meta(f"{gateway_name}-body-router", namespace, "gateway"),
            spec={"targetRefs": [{"group": "", "kind": "Service", "name": processor.service}],
                  "tls": {"insecureSkipVerify": True, "alpnProtocols": ["h2"]}},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *processor.waits_for]),
        )
        # kgateway 2.1.x: a GatewayExtension of type ExtProc names the gRPC service; a TrafficPolicy on the Gateway
        # runs it for every route. The processing mode is the one GAIE's own Istio config gives the router: headers
        # and the body streamed in full duplex, nothing of the response; it clears the route cache after setting
        # the header, so the route is chosen by it. failOpen false: a request never reaches a model unrouted.
        extension = k8s.apiextensions.CustomResource(
            f"{name}-body-extension",
            api_version="gateway.kgateway.dev/v1alpha1",
            kind="GatewayExtension",
            metadata=object_meta(f"{gateway_name}-body-router", namespace, "gateway"),
            spec={"type": "ExtProc", "extProc": {
                "grpcService": {"backendRef": {"name": processor.service, "port": processor.port}},
                "failOpen": False,
                "routeCacheAction": "FromResponse",  # honour the router's clear_route_cache
                "processingMode": BODY_PROCESSING_MODE,
            }},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[*depends_on, *processor.waits_for]),
        )
        k8s.apiextensions.CustomResource(
            f"{name}-body-policy",
            api_version="gateway.kgateway.dev/v1alpha1",
            kind="TrafficPolicy",
            metadata=object_meta(f"{gateway_name}-body-router", namespace, "gateway"),
            spec={
                "targetRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name}],
                "extProc": {"extensionRef": {"name": extension.metadata.apply(lambda m: m["name"])}},
            },
            opts=pulumi.ResourceOptions(parent=parent, depends_on=[extension]),
        )

    def infrastructure(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], parent: pulumi.Resource,
        depends_on: list[pulumi.Resource], service_type: str | None = None,
    ) -> dict | None:
        service_type = service_type or self.service_type
        if service_type == "LoadBalancer":
            return None  # kgateway's default proxy Service
        parameters = k8s.apiextensions.CustomResource(
            f"{name}-parameters",
            api_version="gateway.kgateway.dev/v1alpha1",
            kind="GatewayParameters",
            metadata=object_meta(gateway_name, namespace, "gateway"),
            spec={"kube": {"service": {"type": service_type}}},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
        )
        return {
            "parametersRef": {
                "group": "gateway.kgateway.dev",
                "kind": "GatewayParameters",
                "name": parameters.metadata.apply(lambda m: m["name"]),
            }
        }

    def listener_settings(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], request_timeouts: list[str],
        parent: pulumi.Resource, depends_on: list[pulumi.Resource], limits: ListenerLimits | None = None,
    ) -> None:
        target = [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name}]
        # kgateway 2.1.x: HTTPListenerPolicy sets the listeners' HCM stream_idle_timeout and idle_timeout (Envoy's
        # default for the latter: 1 hour) and may only target a whole Gateway (ListenerPolicy from 2.2).
        spec: dict = {"targetRefs": target, "streamIdleTimeout": stream_idle_timeout(request_timeouts)}
        if limits is not None:
            spec["idleTimeout"] = limits.idle_timeout
            if limits.stream_idle_timeout is not None:
                spec["streamIdleTimeout"] = limits.stream_idle_timeout
        k8s.apiextensions.CustomResource(
            f"{name}-listener-policy",
            api_version="gateway.kgateway.dev/v1alpha1",
            kind="HTTPListenerPolicy",
            metadata=object_meta(gateway_name, namespace, "gateway"),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
        )
        if limits is not None and limits.rate_limit is not None:
            rate = limits.rate_limit
            # Envoy's local rate limit: one token bucket per proxy, refilled `requests` every unit, holding the burst
            # on top (kgateway 2.1 TrafficPolicy.rateLimit.local; per-client limits need an external service).
            k8s.apiextensions.CustomResource(
                f"{name}-rate-limit",
                api_version="gateway.kgateway.dev/v1alpha1",
                kind="TrafficPolicy",
                metadata=object_meta(f"{gateway_name}-rate-limit", namespace, "gateway"),
                spec={"targetRefs": target, "rateLimit": {"local": {"tokenBucket": {
                    "maxTokens": rate.requests + rate.burst, "tokensPerFill": rate.requests,
                    "fillInterval": UNIT_SECONDS[rate.unit]}}}},
                opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
            )


# --- guards ----------------------------------------------------------------------------------------------------------


def _on_provider(cfg) -> bool:
    return cfg.gateway.provider == "kgateway"


def _minor(version: str) -> tuple[int, int]:
    found = release(version)
    return found[:2] if found else (0, 0)


def _without_envoy_pools(cfg) -> list[tuple[str, str]]:
    if _on_provider(cfg) and _minor(cfg.gateway.kgateway_version) >= (2, 2) and cfg.models:
        return [("gateway.kgatewayVersion", f"kgateway {cfg.gateway.kgateway_version} cannot route to InferencePools "
                 "(Envoy InferencePool routing was removed in 2.2): pin v2.1.x, or use gateway.provider: agentgateway")]
    return []


def _gateway_api_beyond(cfg) -> list[tuple[str, str]]:
    wanted = _minor(GATEWAY_API_VERSION)
    if _on_provider(cfg) and _minor(cfg.gateway.kgateway_version) == (2, 1) and _minor(cfg.gateway.gateway_api_version) != wanted:
        return [("gateway.gatewayApiVersion", f"kgateway 2.1.x supports Gateway API 1.4.x, not "
                 f"{cfg.gateway.gateway_api_version}; use {GATEWAY_API_VERSION} (Gateway API 1.6 needs "
                 "gateway.provider: agentgateway)")]
    return []


GUARDS = (
    Guard("kgateway-envoy-inferencepool", "error",
          "Envoy-based InferencePool routing exists only in kgateway 2.1.x (deprecated in 2.1, removed in 2.2); "
          "today's path is agentgateway (gateway.provider: agentgateway).", _without_envoy_pools),
    Guard("gateway-api-vs-kgateway", "error",
          "kgateway 2.1.x pairs with Gateway API 1.4.x; a bump to 1.5.1 broke routing.", _gateway_api_beyond),
)

