"""What the config implies for routing, derived once: which models share a URL (and so are told apart by the request
body's `model`), what each route matches, which ports the Gateway opens; and `Problem`, what every check reports.

Config, the version guards and the program read these; none of them imports another for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .source_marks import Mark

if TYPE_CHECKING:
    from .config import GatewayConfig, ModelConfig, StackConfig


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    mark: Mark | None = None  # where in the stack file, when the problem itself knows (a YAML syntax error)

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        # One line per problem, whatever a key or value holds (a key with a newline must not split it).
        return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)



def serving(cfg: "StackConfig") -> list[tuple[int, "ModelConfig"]]:
    """(index in models, model) of every model the stack serves: a retired or removed model routes, claims and
    monitors nothing, so no check about serving sees it (its index stays the stack file's, for error lines)."""
    return [(i, model) for i, model in enumerate(cfg.models) if model.state == "serving"]


def shared_route(model: "ModelConfig") -> tuple[tuple[str, ...], str]:
    """Hostnames and path prefix: models with the same one share a URL, told apart only by the body's `model`."""
    return tuple(sorted(model.route.hostnames)), model.route.path_prefix


def shared_groups(cfg: "StackConfig") -> list[list["ModelConfig"]]:
    """Models that share a route (two or more with the same hostnames and path prefix), group by group."""
    groups: dict[tuple, list["ModelConfig"]] = {}
    for _, model in serving(cfg):
        groups.setdefault(shared_route(model), []).append(model)
    return [group for group in groups.values() if len(group) > 1]


def body_based_routing(cfg: "StackConfig") -> bool:
    """On when configured so, or (unset) when two or more models share a route."""
    if cfg.gateway.body_based_routing is not None:
        return cfg.gateway.body_based_routing
    return bool(shared_groups(cfg))


def routed_by_body(cfg: "StackConfig", model: "ModelConfig") -> bool:
    """Whether this model's route matches its served name in the router's header: every route when body-based
    routing is turned on explicitly, else the routes models share (one on a URL of its own keeps taking everything)."""
    if not body_based_routing(cfg):
        return False
    if cfg.gateway.body_based_routing is True:
        return True
    return any(model in group for group in shared_groups(cfg))


def route_match_key(model: "ModelConfig", by_body: bool = False) -> tuple[tuple[str, ...], str, str | None]:
    """What an HTTPRoute of this model matches: two models with the same key would shadow each other. With body-based
    routing every route also matches its served name in `X-Gateway-Model-Name`."""
    header = model.served_name if model.route.match_model_header or by_body else None
    return (*shared_route(model), header)


def tls_secret(cfg: "StackConfig") -> str | None:
    """The Secret holding the Gateway's certificate: the one named in gateway.tls, or the one cert-manager writes."""
    from components.certificates import certificate_secret

    if cfg.gateway.tls.secret_name:
        return cfg.gateway.tls.secret_name
    return certificate_secret(cfg.gateway.name) if cfg.certificates.enabled else None


def gateway_service_ports(cfg: "StackConfig") -> tuple[int, ...]:
    """The listener ports the Gateway opens, and so its Service's: HTTP, or HTTPS once a certificate is given (both
    with allowHttp)."""
    gateway = cfg.gateway
    if not tls_secret(cfg):
        return (gateway.port,)
    return (gateway.port, gateway.tls.port) if gateway.tls.allow_http else (gateway.tls.port,)
