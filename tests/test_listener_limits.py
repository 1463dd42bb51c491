"""The public listener bounded (issue 22, item 4): idle connections, silent streams (kgateway) and a request rate, as
typed keys under `gateway.limits`, rendered into each provider's own policy objects."""

from __future__ import annotations

import copy

from conftest import objects, second_model, stack_config
from test_config import problems


def named(result, kind: str, name: str) -> dict:
    (found,) = [o for o in objects(result, kind) if o["metadata"]["name"] == name]
    return found


def test_kgateway_closes_idle_connections_and_keeps_streams_as_long_as_a_request(render, homelab):
    result = render(homelab)
    policy = named(result, "HTTPListenerPolicy", "llm-d-gateway")
    assert policy["spec"]["idleTimeout"] == "300s"  # Envoy's own default is an hour
    assert policy["spec"]["streamIdleTimeout"] == "3600s"  # the route's request timeout: a silent generation lives
    assert policy["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                             "name": "llm-d-gateway"}]
    homelab["gateway"]["limits"]["streamIdleTimeout"] = "600s"
    homelab["gateway"]["limits"]["idleTimeout"] = "2m"
    spec = named(render(homelab), "HTTPListenerPolicy", "llm-d-gateway")["spec"]
    assert (spec["idleTimeout"], spec["streamIdleTimeout"]) == ("2m", "600s")


def test_kgateway_rate_limit_is_one_token_bucket_per_proxy(render, homelab):
    bucket = named(render(homelab), "TrafficPolicy", "llm-d-gateway-rate-limit")["spec"]["rateLimit"]["local"]
    # The homelab's 300 a minute with a burst of 100: the bucket holds 400 and gains 300 each minute.
    assert bucket == {"tokenBucket": {"maxTokens": 400, "tokensPerFill": 300, "fillInterval": "60s"}}
    del homelab["gateway"]["limits"]["rateLimit"]
    assert not [o for o in objects(render(homelab), "TrafficPolicy") if o["metadata"]["name"].endswith("-rate-limit")]


def test_with_two_gateways_only_the_public_one_is_limited(render, homelab):
    homelab["models"].append(second_model(homelab))
    for model in homelab["models"]:
        model["route"]["pathPrefix"] = "/"  # one URL: body-based routing, an internal Gateway behind the public one
    homelab["gateway"]["defaultModel"] = homelab["models"][0]["name"]
    result = render(homelab)
    internal = named(result, "HTTPListenerPolicy", "llm-d-gateway-models")["spec"]
    assert "idleTimeout" not in internal
    assert named(result, "HTTPListenerPolicy", "llm-d-gateway")["spec"]["idleTimeout"] == "300s"
    (limit,) = [o for o in objects(result, "TrafficPolicy") if o["metadata"]["name"].endswith("-rate-limit")]
    assert limit["spec"]["targetRefs"][0]["name"] == "llm-d-gateway"


def test_agentgateway_closes_idle_connections_and_limits_the_rate(render):
    result = render(copy.deepcopy(stack_config("b60")))
    frontend = named(result, "AgentgatewayPolicy", "llm-d-gateway-frontend")["spec"]
    assert frontend["frontend"] == {"http": {"http1IdleTimeout": "300s"}}
    rate = named(result, "AgentgatewayPolicy", "llm-d-gateway-rate-limit")["spec"]
    assert rate["traffic"] == {"rateLimit": {"local": [{"requests": 300, "unit": "Minutes", "burst": 100}]}}
    assert rate["targetRefs"][0]["kind"] == "Gateway"


def test_agentgateway_has_no_stream_idle_timeout_to_set():
    b60 = copy.deepcopy(stack_config("b60"))
    b60["gateway"]["limits"]["streamIdleTimeout"] = "600s"
    assert problems(b60)["gateway.limits.streamIdleTimeout"] == "unknown key: it belongs to gateway.provider: kgateway"


def test_bad_limits_name_their_key(homelab):
    homelab["gateway"]["limits"]["rateLimit"]["requests"] = 0
    assert "gateway.limits.rateLimit.requests" in problems(homelab)
    homelab["gateway"]["limits"]["rateLimit"] = {"requests": 10, "unit": "Days"}
    assert "gateway.limits.rateLimit.unit" in problems(homelab)
    homelab["gateway"]["limits"] = {"idleTimeout": "forever"}
    assert "gateway.limits.idleTimeout" in problems(homelab)
