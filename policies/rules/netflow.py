"""A NetworkPolicy evaluator over Kubernetes objects: does a set of policies admit a flow?

Kubernetes' semantics: a pod selected by no policy of a direction is open in that direction; once selected, a flow
must match a rule of some selecting policy (policies add up); both ends must admit a flow between two pods. Peers
are pods (labels, in a namespace) or addresses outside the pod network. Pod IPs are not modelled, so an ipBlock
never matches a pod, and a rule without peers matches everything.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

WORKLOADS = ("Deployment", "DaemonSet", "StatefulSet", "Job")


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str]
    ports: dict[str, int] = field(default_factory=dict)  # container port name -> number
    name: str = ""
    service_account: str = "default"


@dataclass(frozen=True)
class Address:
    ip: str  # outside the pod network: a node, the LAN, the internet


Endpoint = Pod | Address
ANY_ADDRESS = Address("")  # "some address outside the pod network": matches every ipBlock and every open peer


def matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """matchLabels and the matchExpressions operators NetworkPolicies use."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if not {"In": present and labels.get(key) in values, "NotIn": not present or labels.get(key) not in values,
                "Exists": present, "DoesNotExist": not present}.get(operator, False):
            return False
    return True


def workload_pods(objects: Iterable[Mapping[str, Any]]) -> list[Pod]:
    """The pods the workloads among these objects run."""
    found = []
    for obj in objects:
        if obj.get("kind") not in WORKLOADS:
            continue
        template = (obj.get("spec") or {}).get("template") or {}
        spec = template.get("spec") or {}
        ports = {p.get("name", str(p["containerPort"])): p["containerPort"]
                 for c in spec.get("containers") or [] for p in c.get("ports") or [] if "containerPort" in p}
        found.append(Pod((obj.get("metadata") or {}).get("namespace") or "default",
                         dict((template.get("metadata") or {}).get("labels") or {}), ports,
                         (obj.get("metadata") or {}).get("name") or "", spec.get("serviceAccountName") or "default"))
    return found


class Network:
    def __init__(self, policies: Iterable[Mapping[str, Any]], pods: Iterable[Pod]):
        self.policies = list(policies)
        self.pods = list(pods)

    def pod(self, namespace: str, **labels: str) -> Pod:
        matching = [p for p in self.pods if p.namespace == namespace and matches({"matchLabels": labels}, p.labels)]
        assert matching, f"no pod in {namespace} with {labels}"
        return matching[0]

    @staticmethod
    def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, Address):
                return False
            if other is ANY_ADDRESS:
                return True
            block = peer["ipBlock"]
            ip = ipaddress.ip_address(other.ip)
            return ip in ipaddress.ip_network(block["cidr"]) and not any(
                ip in ipaddress.ip_network(c) for c in block.get("except") or [])
        if not isinstance(other, Pod):
            return False
        if "namespaceSelector" in peer:
            if not matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace}):
                return False
        elif other.namespace != policy_namespace:
            return False
        return matches(peer.get("podSelector"), other.labels)

    @staticmethod
    def _port_matches(ports: list[Mapping[str, Any]] | None, port: int, protocol: str, target: Endpoint) -> bool:
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
            if wanted == port or (entry.get("endPort") and wanted is not None and wanted <= port <= entry["endPort"]):
                return True
        return False

    def _admits(self, pod: Pod, direction: str, other: Endpoint, port: int, protocol: str, target: Endpoint) -> bool:
        selecting = [p for p in self.policies if (p.get("metadata") or {}).get("namespace") == pod.namespace
                     and direction in ((p.get("spec") or {}).get("policyTypes") or [])
                     and matches((p.get("spec") or {}).get("podSelector"), pod.labels)]
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
        """Whether `source` may open `port` on `target`. ANY_ADDRESS: some address outside the pod network."""
        if isinstance(port, str):
            if not (isinstance(target, Pod) and port in target.ports):
                return False
            port = target.ports[port]
        if isinstance(source, Pod) and not self._admits(source, "Egress", target, port, protocol, target):
            return False
        if isinstance(target, Pod) and not self._admits(target, "Ingress", source, port, protocol, target):
            return False
        return True
