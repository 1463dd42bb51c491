"""agentgateway: llm-d's preferred gateway today (its own project since v1.0.0, 2026-03), successor of kgateway's
InferencePool routing. Read from agentgateway v1.4.1 (tag commit 163ea21):

- the proxy reaches an InferencePool's endpoint picker over gRPC ext_proc on the pool's `endpointPickerRef` port,
  with TLS and no certificate check (the controller adds a backend TLS policy `<pool>:inferencetls` with
  INSECURE_ALL for the EPP Service: controller/pkg/agentgateway/plugins/inference_plugin.go:115-131);
- proxy pods carry `gateway.networking.k8s.io/gateway-name: <gateway>` (chart templates in
  controller/pkg/helm/agentgateway/templates/_helpers.tpl); the proxy Service is named after the Gateway and is a
  LoadBalancer unless an AgentgatewayParameters overlays `spec.service.spec.type`;
- the controller serves xDS on 9978 (`grpc-xds-agw`), over TLS by default (`controller.xds.mode: tls`);
- HTTPRoute `timeouts.request` / `backendRequest` wrap the backend call until the response headers arrive; a
  streamed body is not cut by them, and the proxy has no stream idle timeout (crates/agentgateway/src/proxy/
  httpproxy.rs:1326-1350, http/timeout.rs): nothing to raise for long generations;
- a `traffic.phase: PreRouting` AgentgatewayPolicy on a Gateway runs before a route is chosen, API key checks
  before ext_proc (httpproxy.rs:388-446): one Gateway serves body-based routing, and a request without the key
  never reaches the router, the EPP or vLLM; a verified key read from a header is removed from the request, so the
  program reads it with an expression (never removed) and vLLM still sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from policies.rules.versions import GATEWAY_API_RELEASES, release

from ..chart_sources import ChartSource
from ..meta import object_meta
from .contract import BodyProcessor, Guard, ListenerLimits
from .controller import install_controller

AGENTGATEWAY_CRDS = ChartSource("oci://cr.agentgateway.dev/charts/agentgateway-crds", "v1.4.1")
AGENTGATEWAY = ChartSource("oci://cr.agentgateway.dev/charts/agentgateway", "v1.4.1")
# agentgateway v1.4.1's go.mod (sigs.k8s.io/gateway-api v1.6.1) and the release its conformance run installs
GATEWAY_API_VERSION = GATEWAY_API_RELEASES["agentgateway"]
CHARTS = (AGENTGATEWAY_CRDS, AGENTGATEWAY)

API = "agentgateway.dev/v1alpha1"
GATEWAY_API = "gateway.networking.k8s.io"
XDS_PORT = 9978
# The bearer token, read without taking it off the request (an expression location is never removed).
API_KEY_EXPRESSION = 'request.headers["authorization"].stripPrefix("Bearer ")'


def _gateway_target(gateway_name: str) -> list[dict]:
    return [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name}]


def _policy(resource_name: str, name: str, namespace: pulumi.Input[str], spec: dict, parent: pulumi.Resource,
            depends_on: list[pulumi.Resource]) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        resource_name, api_version=API, kind="AgentgatewayPolicy", metadata=object_meta(name, namespace, "gateway"),
        spec=spec, opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on))


@dataclass(frozen=True)
class Agentgateway:
    """agentgateway's controller (its CRDs chart and its controller chart, the inference extension on)."""

    version: str
    namespace: str
    class_name: str = "agentgateway"
    service_type: str = "LoadBalancer"
    # A PreRouting ext_proc runs before a route is chosen: body-based routing needs no second Gateway.
    processor_before_routing: bool = True
    epp_tls: bool = True  # the controller's backend TLS policy for each pool's EPP Service
    xds_tls_from_cert_manager: bool = False  # xDS is TLS by default (`controller.xds.mode: tls`), its own certificates

    def install(self, name: str, parent: pulumi.Resource, depends_on: list[pulumi.Resource]) -> list[pulumi.Resource]:
        return install_controller(name, self.namespace, AGENTGATEWAY_CRDS, AGENTGATEWAY, self.version, parent, depends_on)

    def proxy_pod_labels(self, gateway_name: str) -> dict[str, str]:
        return {"gateway.networking.k8s.io/gateway-name": gateway_name}

    def control_plane(self) -> tuple[str, dict[str, str], int]:
        # The controller chart labels its pods `app.kubernetes.io/name: agentgateway` and serves xDS on 9978.
        return self.namespace, {"app.kubernetes.io/name": "agentgateway"}, XDS_PORT

    def infrastructure(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], parent: pulumi.Resource,
        depends_on: list[pulumi.Resource], service_type: str | None = None,
    ) -> dict | None:
        service_type = service_type or self.service_type
        if service_type == "LoadBalancer":
            return None  # the proxy Service's type unless overlaid
        parameters = k8s.apiextensions.CustomResource(
            f"{name}-parameters",
            api_version=API,
            kind="AgentgatewayParameters",
            metadata=object_meta(gateway_name, namespace, "gateway"),
            spec={"service": {"spec": {"type": service_type}}},
            opts=pulumi.ResourceOptions(parent=parent, depends_on=depends_on),
        )
        return {"parametersRef": {"group": "agentgateway.dev", "kind": "AgentgatewayParameters",
                                  "name": parameters.metadata.apply(lambda m: m["name"])}}

    def listener_settings(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], request_timeouts: list[str],
        parent: pulumi.Resource, depends_on: list[pulumi.Resource], limits: ListenerLimits | None = None,
    ) -> None:
        """The route's own timeouts govern a request, and agentgateway has no stream idle timeout: only the limits.
        A frontend policy closes idle HTTP/1 connections (`http1IdleTimeout`, default 10 minutes); a traffic
        policy's local rate limit counts requests per proxy, not per client (a per-client limit needs `global`, an
        external rate-limit service)."""
        if limits is None:
            return
        target = [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name}]
        _policy(f"{name}-frontend", f"{gateway_name}-frontend", namespace,
                {"targetRefs": target, "frontend": {"http": {"http1IdleTimeout": limits.idle_timeout}}},
                parent, depends_on)
        if limits.rate_limit is not None:
            rate = limits.rate_limit
            _policy(f"{name}-rate-limit", f"{gateway_name}-rate-limit", namespace, {"targetRefs": target, "traffic": {
                "rateLimit": {"local": [{"requests": rate.requests, "unit": rate.unit, "burst": rate.burst}]}}},
                parent, depends_on)

    def body_processor(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], processor: BodyProcessor,
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> None:
        # The router serves gRPC over TLS with a certificate it makes up at start: TLS without verification, as the
        # controller sets up for an EPP (a backend policy on the Service the ext_proc backendRef names).
        tls = _policy(f"{name}-body-tls", f"{gateway_name}-body-router-tls", namespace,
                      {"targetRefs": [{"group": "", "kind": "Service", "name": processor.service}],
                       "backend": {"tls": {"insecureSkipVerify": "All"}}},
                      parent, [*depends_on, *processor.waits_for])
        # PreRouting: the router sets the model header before a route is chosen. FailClosed: a request never reaches
        # a model unrouted. Headers and the body stream to the router in full duplex, the chart's default mode.
        _policy(f"{name}-body-policy", f"{gateway_name}-body-router", namespace,
                {"targetRefs": _gateway_target(gateway_name),
                 "traffic": {"phase": "PreRouting", "extProc": {
                     "backendRef": {"name": processor.service, "port": processor.port}, "failureMode": "FailClosed"}}},
                parent, [tls, *depends_on, *processor.waits_for])

    def api_key_check(
        self, name: str, gateway_name: str, namespace: pulumi.Input[str], secret_name: pulumi.Input[str],
        parent: pulumi.Resource, depends_on: list[pulumi.Resource],
    ) -> bool:
        """Refuse a request without the key at the proxy, before the router, the EPP or vLLM see it: PreRouting
        `apiKeyAuthentication` against the Secret (each data value is a key). The key is read with an expression, not
        the default `Authorization: Bearer` location: a header location is removed from the request once verified
        (crates/agentgateway/src/http/apikey.rs `apply`, http/auth/mod.rs `remove`), and vLLM, the second line,
        checks the same header. Returns whether the gateway checks keys."""
        _policy(f"{name}-api-key", f"{gateway_name}-api-key", namespace,
                {"targetRefs": _gateway_target(gateway_name),
                 "traffic": {"phase": "PreRouting", "apiKeyAuthentication": {
                     "mode": "Strict", "secretRef": {"name": secret_name}, "location": {"expression": API_KEY_EXPRESSION}}}},
                parent, depends_on)
        return True


# --- guards ----------------------------------------------------------------------------------------------------------


def _minor(version: str) -> tuple[int, int]:
    found = release(version)
    return found[:2] if found else (0, 0)


def _gateway_api_pairing(cfg) -> list[tuple[str, str]]:
    if cfg.gateway.provider != "agentgateway" or _minor(cfg.gateway.gateway_api_version) == _minor(GATEWAY_API_VERSION):
        return []
    return [("gateway.gatewayApiVersion", f"agentgateway {cfg.gateway.agentgateway_version} is built and "
             f"conformance-tested against Gateway API {GATEWAY_API_VERSION}, not {cfg.gateway.gateway_api_version}")]


def _controller_line(cfg) -> list[tuple[str, str]]:
    if cfg.gateway.provider != "agentgateway" or _minor(cfg.gateway.agentgateway_version) == _minor(AGENTGATEWAY.version):
        return []
    return [("gateway.agentgatewayVersion", f"this program writes agentgateway {AGENTGATEWAY.version}'s policy "
             f"fields (AgentgatewayPolicy traffic.phase, apiKeyAuthentication); {cfg.gateway.agentgateway_version} "
             "is not checked against them")]


GUARDS = (
    Guard("gateway-api-vs-agentgateway", "warning",
          "agentgateway v1.4.x is built against Gateway API v1.6.1 (go.mod) and runs its conformance suite on it.",
          _gateway_api_pairing),
    Guard("agentgateway-line", "warning",
          "The AgentgatewayPolicy fields the program writes were read in agentgateway v1.4.1.", _controller_line),
)

