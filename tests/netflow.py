"""The policy pack's NetworkPolicy evaluator (policies/rules/netflow.py) over a render, for tests."""

from __future__ import annotations

from conftest import objects

from policies.rules.netflow import Address, Network as PolicyNetwork, Pod, workload_pods

__all__ = ["Address", "Network", "Pod"]


class Network(PolicyNetwork):
    def __init__(self, result, extra_pods: list[Pod] = ()):
        everything = [r.inputs for r in result.resources if r.is_kubernetes_object]
        super().__init__(objects(result, "NetworkPolicy"), [*workload_pods(everything), *extra_pods])
