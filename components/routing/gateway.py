"""InferenceGateway: Gateway API CRDs, a gateway controller, a Gateway, and one HTTPRoute per InferencePool.

Provider-neutral: the controller, its proxies' labels, their listener settings and how a body processor runs come
from a `GatewayProvider` (contract.py; kgateway.py, agentgateway.py). Pools and model services know nothing about it.
Order: Gateway API CRDs -> provider CRDs -> controller -> Gateway -> HTTPRoutes (each also after its pool).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from policies.rules.durations import duration_ms

from .. import helm
from ..chart_sources import GATEWAY_API_CRDS
from ..meta import LiveObject, object_meta
from ..network import ClusterNetwork
from .controller import fence_controller
from .contract import BodyProcessor, GatewayProvider, ListenerLimits

GATEWAY_API = "gateway.networking.k8s.io"
OPENAI_API_PATH = "/v1"  # vLLM's OpenAI-compatible API; the only path the gateway routes
# Header GAIE body-based routing sets from the request's `model` field.
MODEL_HEADER = "X-Gateway-Model-Name"
@dataclass(frozen=True)
class RouteTimeouts:
    request: str
    backend_request: str


@dataclass(frozen=True)
class PoolRoute:
    """One HTTPRoute to one InferencePool (outputs of an InferencePool component)."""

    name: str
    pool_name: pulumi.Input[str]
    pool_group: str
    pool_kind: str
    path_prefix: str
    timeouts: RouteTimeouts
    hostnames: tuple[str, ...] = ()
    model_header: str | None = None  # served model name to match in X-Gateway-Model-Name
    waits_for: tuple[pulumi.Resource, ...] = ()
    fallback: bool = False  # also take the requests no model header matches (no or an unknown `model`)


@dataclass(frozen=True)
class InferenceGatewayArgs:
    namespace: pulumi.Input[str]
    name: str
    port: int
    gateway_api_version: str
    provider: GatewayProvider
    routes: tuple[PoolRoute, ...] = field(default_factory=tuple)
    crds_before_controller: tuple[pulumi.Resource, ...] = ()  # e.g. the GAIE CRDs the controller watches
    tls_secret: str | None = None  # a kubernetes.io/tls Secret in the namespace: an HTTPS listener
    tls_port: int = 443
    allow_http: bool = False  # with TLS, keep the HTTP listener too
    body_processor: BodyProcessor | None = None  # body-based routing: sets the model header routes match
    api_key_secret: pulumi.Input[str] | None = None  # a Secret holding the API key: checked at the proxy if it can
    tls_waits_for: tuple[pulumi.Resource, ...] = ()  # what writes the certificate Secret (cert-manager's Certificate)
    network: ClusterNetwork | None = None  # None: no NetworkPolicies in the controller's namespace
    limits: ListenerLimits | None = None  # bounds on the listener clients reach; None: the provider's defaults


def listeners(args: "InferenceGatewayArgs") -> list[dict]:
    """HTTP; with a certificate Secret, HTTPS terminating TLS instead (or as well, with allow_http)."""
    same = {"namespaces": {"from": "Same"}}  # routes are accepted from the stack's own namespace only
    found = [{"name": "http", "protocol": "HTTP", "port": args.port, "allowedRoutes": same}]
    if args.tls_secret and not args.allow_http:
        found = []
    if args.tls_secret:
        found.append({"name": "https", "protocol": "HTTPS", "port": args.tls_port, "allowedRoutes": same,
                      "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": args.tls_secret}]}})
    return found


def gateway_address(status: dict | None) -> str | None:
    """The first address in a Gateway's status (Gateway API `status.addresses[].value`), or None."""
    addresses = (status or {}).get("addresses") or []
    return addresses[0].get("value") if addresses and isinstance(addresses[0], dict) else None


def base_url(listener: dict, host: str | None, path_prefix: str) -> str | None:
    """A model's OpenAI base URL through a listener: `<scheme>://<host>[:<port>]<prefix>/v1` (None without a host)."""
    if not host:
        return None
    scheme = "https" if listener["protocol"] == "HTTPS" else "http"
    port = "" if listener["port"] == {"https": 443, "http": 80}[scheme] else f":{listener['port']}"
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}{port}{api_prefix(path_prefix)}"


def api_prefix(path_prefix: str) -> str:
    """The path a model's route exposes: its prefix plus vLLM's OpenAI API (`/v1`), nothing else of the server
    (`/metrics`, `/docs`, `/health` stay inside the cluster). PathPrefix matches whole path elements."""
    return f"{path_prefix.rstrip('/')}{OPENAI_API_PATH}"


def route_spec(route: PoolRoute, gateway_name: str, gateway_namespace: pulumi.Input[str]) -> dict:
    path = {"path": {"type": "PathPrefix", "value": api_prefix(route.path_prefix)}}
    match: dict = dict(path)
    if route.model_header:
        match["headers"] = [{"type": "Exact", "name": MODEL_HEADER, "value": route.model_header}]
    # The fallback match has no header: Gateway API prefers the header matches of every other route for the same
    # path, so it takes only what names no model, or one no route serves.
    rule: dict = {"matches": [match, path] if route.fallback and route.model_header else [match]}
    if route.path_prefix != "/":
        # vLLM serves /v1/...: strip the model's prefix before the request reaches it.
        rule["filters"] = [{"type": "URLRewrite", "urlRewrite": {
            "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": OPENAI_API_PATH}}}]
    spec: dict = {
        "parentRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name, "namespace": gateway_namespace}],
        "rules": [
            {
                **rule,
                # No port: it is ignored for InferencePool backends (the pool's targetPorts decide).
                "backendRefs": [{"group": route.pool_group, "kind": route.pool_kind, "name": route.pool_name}],
                # Long generations: the implementation default (15 s) cuts them off.
                "timeouts": {"request": route.timeouts.request, "backendRequest": route.timeouts.backend_request},
            }
        ],
    }
    if route.hostnames:
        spec["hostnames"] = list(route.hostnames)
    return spec


def model_gateway_name(gateway_name: str) -> str:
    """The internal Gateway the model routes attach to when a body processor fronts them."""
    return f"{gateway_name}-models"


MODEL_GATEWAY_PORT = 80  # the internal Gateway's listener (a ClusterIP Service)


def longest(durations: list[str]) -> str:
    """The longest Gateway API duration (`0s`, no limit, is the longest)."""
    return max(durations, key=lambda d: (duration_ms(d) == 0, duration_ms(d)))


def forward_route_spec(routes: tuple[PoolRoute, ...], gateway_name: str, namespace: pulumi.Input[str]) -> dict:
    """The public Gateway's one route: every model's API path to the internal Gateway, whose routes pick the pool
    by the header the body processor has set by then (Host and path pass unchanged)."""
    prefixes = sorted({api_prefix(r.path_prefix) for r in routes})
    return {
        "parentRefs": [{"group": GATEWAY_API, "kind": "Gateway", "name": gateway_name, "namespace": namespace}],
        "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": p}} for p in prefixes],
            "backendRefs": [{"kind": "Service", "name": model_gateway_name(gateway_name), "port": MODEL_GATEWAY_PORT}],
            "timeouts": {"request": longest([r.timeouts.request for r in routes]),
                         "backendRequest": longest([r.timeouts.backend_request for r in routes])},
        }],
    }


class InferenceGateway(pulumi.ComponentResource):
    """The Gateway clients reach, and an HTTPRoute per model to its pool.

    With a body processor (body-based routing) on a provider that runs it only after a route was chosen (kgateway
    2.1: a Gateway-wide ext-proc runs after the route's InferencePool endpoint picker, so a route chosen by a header
    the processor sets would reach its pool without the picker), the routes attach to an internal Gateway behind the
    public one: the public proxy runs the processor and forwards, the internal proxy routes by the header and asks the
    picker. A provider that runs it before routing (agentgateway's PreRouting phase) needs one Gateway.
    """

    gateway_name: pulumi.Output[str]
    route_names: pulumi.Output[list[str]]
    model_gateway: str  # the Gateway whose proxy reaches the pools (the public one without a body processor)

    def __init__(self, name: str, args: InferenceGatewayArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:routing:InferenceGateway", name, None, opts)
        crds = helm.yaml_bundle(f"{name}-gateway-api-crds", GATEWAY_API_CRDS, args.gateway_api_version,
                                opts=pulumi.ResourceOptions(parent=self))
        provider_name = f"{name}-{args.provider.class_name}"
        controller = args.provider.install(provider_name, self, [crds, *args.crds_before_controller])
        ready = [crds, *controller]
        if args.network is not None:
            proxies = [args.name, *([model_gateway_name(args.name)] if args.body_processor is not None
                                    and not args.provider.processor_before_routing else [])]
            fence_controller(f"{provider_name}-network", args.provider.control_plane(), args.namespace,
                             [args.provider.proxy_pod_labels(p) for p in proxies], args.network,
                             pulumi.ResourceOptions(parent=self, depends_on=controller))
        # Both proxies carry the same requests (the public one forwards with the longest route timeout).
        request_timeouts = [r.timeouts.request for r in args.routes]
        gateway = self._gateway(f"{name}-gateway", provider_name, args.name, listeners(args), None, args,
                                [*ready, *args.tls_waits_for])
        self.model_gateway = args.name
        model_gateway = gateway
        routes = []
        # The API key, checked at the proxy where the provider can (vLLM checks it too).
        self.checks_api_key = args.api_key_secret is not None and args.provider.api_key_check(
            provider_name, args.name, args.namespace, args.api_key_secret, self, [gateway])
        if args.body_processor is not None and args.provider.processor_before_routing:
            args.provider.body_processor(provider_name, args.name, args.namespace, args.body_processor, self, [gateway])
        elif args.body_processor is not None:
            self.model_gateway = model_gateway_name(args.name)
            internal = [{"name": "http", "protocol": "HTTP", "port": MODEL_GATEWAY_PORT,
                         "allowedRoutes": {"namespaces": {"from": "Same"}}}]
            model_gateway = self._gateway(f"{name}-model-gateway", f"{provider_name}-models", self.model_gateway,
                                          internal, "ClusterIP", args, ready)
            forward = forward_route_spec(args.routes, args.name, args.namespace)
            routes.append(k8s.apiextensions.CustomResource(
                f"{name}-forward",  # never a model's (`{name}-route-<model>`, objects `<model>-route`)
                api_version=f"{GATEWAY_API}/v1",
                kind="HTTPRoute",
                metadata=object_meta(f"{args.name}-forward", args.namespace, "route"),
                spec=forward,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[gateway, model_gateway]),
            ))
            args.provider.listener_settings(provider_name, args.name, args.namespace, request_timeouts, self, [gateway],
                                            args.limits)
            args.provider.body_processor(provider_name, args.name, args.namespace, args.body_processor, self, [gateway])
        args.provider.listener_settings(
            f"{provider_name}-models" if self.model_gateway != args.name else provider_name, self.model_gateway,
            args.namespace, request_timeouts, self, [model_gateway],
            args.limits if self.model_gateway == args.name else None,  # the internal Gateway takes no clients
        )
        for route in args.routes:
            routes.append(
                k8s.apiextensions.CustomResource(
                    f"{name}-route-{route.name}",
                    api_version=f"{GATEWAY_API}/v1",
                    kind="HTTPRoute",
                    metadata=object_meta(f"{route.name}-route", args.namespace, "route", **{"llm-d.ai/model": route.name}),
                    spec=route_spec(route, self.model_gateway, args.namespace),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[model_gateway, *route.waits_for]),
                )
            )
        self.gateway_name = gateway.metadata.apply(lambda m: m["name"])
        # What the controller reports (kgateway: the proxy Service's load-balancer address); None until it has.
        self.address = gateway.status.apply(gateway_address)
        self.listeners = listeners(args)
        self.route_names = pulumi.Output.all(*[r.metadata.apply(lambda m: m["name"]) for r in routes])
        self.register_outputs({"gateway_name": self.gateway_name, "route_names": self.route_names})

    def _gateway(self, resource_name: str, provider_name: str, gateway_name: str, gateway_listeners: list[dict],
                 service_type: str | None, args: InferenceGatewayArgs, ready: list[pulumi.Resource]):
        infrastructure = args.provider.infrastructure(provider_name, gateway_name, args.namespace, self, ready, service_type)
        return LiveObject(
            resource_name,
            api_version=f"{GATEWAY_API}/v1",
            kind="Gateway",
            metadata=object_meta(gateway_name, args.namespace, "gateway"),
            spec={
                **({"infrastructure": infrastructure} if infrastructure else {}),
                "gatewayClassName": args.provider.class_name,
                "listeners": gateway_listeners,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=ready),
        )
