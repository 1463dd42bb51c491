"""Routing: the Gateway in front of the pools, and the pools with their endpoint pickers. Provider-neutral components
(gateway.py, pool.py, body_routing.py) and their variants: gateway providers (kgateway.py, agentgateway.py) and pool
chart lines (gaie_pool.py, llmd_router.py). This registry is the one place that lists the variants: a new one is
its module and a line here (its config section is a variant of `gateway`/`scheduling` in llmd_stack/config.py).
"""

from __future__ import annotations

from . import agentgateway, body_routing, gaie_pool, kgateway, llmd_router
from .contract import Guard, PoolLine

# `gateway.provider` -> the provider's class (constructed with version, namespace, class_name, service_type).
PROVIDERS = {"kgateway": kgateway.Kgateway, "agentgateway": agentgateway.Agentgateway}
# `scheduling.chart` -> the pool chart line.
POOL_LINES: dict[str, PoolLine] = {gaie_pool.LINE.key: gaie_pool.LINE, llmd_router.LINE.key: llmd_router.LINE}

CHARTS = (*kgateway.CHARTS, *agentgateway.CHARTS, *gaie_pool.CHARTS, *llmd_router.CHARTS, *body_routing.CHARTS)
FILES = (*gaie_pool.FILES, *llmd_router.FILES)
# Each variant's guards (each checks only when its variant is the stack's).
GUARDS: tuple[Guard, ...] = (*kgateway.GUARDS, *agentgateway.GUARDS, *gaie_pool.GUARDS, *llmd_router.GUARDS)
