"""A NetworkPolicy evaluator over a render, for tests: does the stack's set of policies admit a flow?

It follows the Kubernetes semantics the API documents: a pod selected by no policy of a direction is open in that
direction; once selected, a flow must match a rule of some selecting policy (policies add up). Both ends must admit a
flow between two pods. Peers are pods (by labels, in a namespace) or addresses outside the cluster. Pod IPs are not
modelled, so an ipBlock never matches a pod (the stack never relies on that), and a rule without peers matches all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from conftest import objects

WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job")


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # container port name -> number
    name: str = ""


@dataclass(frozen=True)
class Address:
    ip: str  # outside the pod network: a node, the LAN, the internet


Endpoint = Pod | Address


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    selector = selector or {}
    assert not selector.get("matchExpressions"), "matchExpressions are not modelled"
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


class Network:
    def __init__(self, result, extra_pods: list[Pod] = ()):
        self.policies = objects(result, "NetworkPolicy")
        self.pods = [*self._workload_pods(result), *extra_pods]

    @staticmethod
    def _workload_pods(result) -> list[Pod]:
        found = []
        for kind in WORKLOADS:
            for obj in objects(result, kind):
                template = obj["spec"]["template"]
                ports = {p.get("name", str(p["containerPort"])): p["containerPort"]
                         for c in template["spec"].get("containers", []) for p in c.get("ports", [])}
                found.append(Pod(obj["metadata"]["namespace"], template["metadata"].get("labels") or {}, ports,
                                 obj["metadata"]["name"]))
        return found

    def pod(self, namespace: str, **labels: str) -> Pod:
        matching = [p for p in self.pods if p.namespace == namespace and _matches({"matchLabels": labels}, p.labels)]
        assert matching, f"no pod in {namespace} with {labels}"
        return matching[0]

    def _peer_matches(self, peer: dict[str, Any], policy_namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, Address):
                return False
            block = peer["ipBlock"]
            ip = ipaddress.ip_address(other.ip)
            return ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(c) for c in block.get("except", []))
        if not isinstance(other, Pod):
            return False
        if "namespaceSelector" in peer:
            if not _matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace}):
                return False
        elif other.namespace != policy_namespace:
            return False
        return _matches(peer.get("podSelector"), other.labels)

    @staticmethod
    def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str, target: Endpoint) -> bool:
        if not ports:
            return True
        for entry in ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            wanted = entry.get("port")
            if wanted is None:
                return True
            if isinstance(wanted, str):
                wanted = target.ports.get(wanted) if isinstance(target, Pod) else None
            if wanted == port:
                return True
        return False

    def _admits(self, pod: Pod, direction: str, other: Endpoint, port: int, protocol: str, target: Endpoint) -> bool:
        selecting = [p for p in self.policies if p["metadata"]["namespace"] == pod.namespace
                     and direction in p["spec"].get("policyTypes", [])
                     and _matches(p["spec"].get("podSelector"), pod.labels)]
        if not selecting:
            return True
        key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for policy in selecting:
            for rule in policy["spec"].get(key) or []:
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(peer, pod.namespace, other) for peer in peers):
                    continue
                if self._port_matches(rule.get("ports"), port, protocol, target):
                    return True
        return False

    def allows(self, source: Endpoint, target: Endpoint, port: int | str, protocol: str = "TCP") -> bool:
        if isinstance(port, str):
            assert isinstance(target, Pod) and port in target.ports, f"{port} is not a port of {target}"
            port = target.ports[port]
        if isinstance(source, Pod) and not self._admits(source, "Egress", target, port, protocol, target):
            return False
        if isinstance(target, Pod) and not self._admits(target, "Ingress", source, port, protocol, target):
            return False
        return True
