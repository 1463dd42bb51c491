"""The stack's NetworkPolicies admit what its own pods must do: a fence that refuses one of these flows deploys
cleanly and then fails at run time (a controller without its API server, a target Prometheus cannot scrape).

The needs are read from the objects themselves: every fenced pod resolves names (DNS); a pod whose ServiceAccount is
bound to a role calls the API server; each ServiceMonitor and PodMonitor names targets the stack's Prometheus scrapes;
each webhook configuration names pods the API server calls. Pods an operator or controller creates at run time are
modelled as it labels them (prometheus-operator's Prometheus and Alertmanager pods).
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Res, Rule, Violation, dig, is_object, kind_of, name_of, resource_namespace
from .netflow import ANY_ADDRESS, Network, Pod, matches, workload_pods

DNS = Pod("kube-system", {"k8s-app": "kube-dns"}, {"dns": 53, "metrics": 9153}, "coredns")  # k3s, kubeadm, kind


def operator_pods(objects: list[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Pod]]:
    """(custom resource, pod) for the Prometheus and Alertmanager pods prometheus-operator runs for the stack."""
    made = []
    for obj in objects:
        kind = obj.get("kind")
        if kind not in ("Prometheus", "Alertmanager"):
            continue
        name, label = dig(obj, "metadata", "name"), str(kind).lower()
        ports = {"http-web": 9090 if kind == "Prometheus" else 9093, "reloader-web": 8080}
        made.append((obj, Pod(dig(obj, "metadata", "namespace") or "default",
                              {"app.kubernetes.io/name": label, label: name, "operator.prometheus.io/name": name},
                              ports, f"{name}-0", dig(obj, "spec", "serviceAccountName") or "default")))
    return made


def bound_accounts(objects: list[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, name) of every ServiceAccount a RoleBinding or ClusterRoleBinding names: they call the API."""
    return {(s.get("namespace") or "", s.get("name") or "") for obj in objects
            if obj.get("kind") in ("RoleBinding", "ClusterRoleBinding")
            for s in obj.get("subjects") or [] if s.get("kind") == "ServiceAccount"}


def _service_port(service: Mapping[str, Any], key: str, value: Any) -> Mapping[str, Any]:
    """The Service's port whose `key` (name or port) is `value`; {} without one."""
    return next((p for p in dig(service, "spec", "ports") or [] if p.get(key) == value), {})


def _service_targets(service: Mapping[str, Any], port: Mapping[str, Any], pods: list[Pod]) -> list[tuple[Pod, int]]:
    """The pods behind the Service and the number `port` reaches on each (a named targetPort is the pod's own)."""
    if not port:
        return []
    target = port.get("targetPort", port.get("port"))
    selector = {"matchLabels": dig(service, "spec", "selector") or {}}
    behind = [p for p in pods if p.namespace == dig(service, "metadata", "namespace") and selector["matchLabels"]
              and matches(selector, p.labels)]
    return [(p, p.ports.get(target, 0) if isinstance(target, str) else int(target)) for p in behind]


def scrape_targets(objects: list[Mapping[str, Any]], pods: list[Pod]) -> list[tuple[str, Pod | None, int]]:
    """(monitor, target pod or None for a node address, port) for every endpoint the stack's monitors name."""
    services = [o for o in objects if o.get("kind") == "Service"]
    found: list[tuple[str, Pod | None, int]] = []
    for monitor in objects:
        kind, spec = monitor.get("kind"), monitor.get("spec") or {}
        if kind not in ("PodMonitor", "ServiceMonitor"):
            continue
        label = f"{kind} {dig(monitor, 'metadata', 'namespace')}/{dig(monitor, 'metadata', 'name')}"
        namespaces = dig(spec, "namespaceSelector", "matchNames") or [dig(monitor, "metadata", "namespace")]
        if kind == "PodMonitor":
            for pod in pods:
                if pod.namespace in namespaces and matches(spec.get("selector"), pod.labels):
                    found += [(label, pod, pod.ports.get(e.get("port"), 0)) for e in spec.get("podMetricsEndpoints") or []]
            continue
        for service in services:
            if dig(service, "metadata", "namespace") not in namespaces or not matches(
                    spec.get("selector"), dig(service, "metadata", "labels") or {}):
                continue
            for endpoint in spec.get("endpoints") or []:
                port = _service_port(service, "name", endpoint.get("port"))
                targets = _service_targets(service, port, pods)
                if not targets and dig(service, "metadata", "namespace") == "kube-system" and isinstance(
                        port.get("targetPort"), int):
                    found.append((label, None, port["targetPort"]))  # a control-plane component on the host network
                found += [(label, pod, number) for pod, number in targets]
    return found


def _flows(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    objects = [r.props for r in resources if is_object(r)]
    by_name = {(resource_namespace(r), name_of(r)): r.urn for r in resources if is_object(r)}
    made = operator_pods(objects)
    pods = [*workload_pods(objects), *(pod for _, pod in made)]
    urn = {id(pod): by_name.get((pod.namespace, pod.name)) for pod in pods}
    urn |= {id(pod): by_name.get((pod.namespace, dig(obj, "metadata", "name"))) for obj, pod in made}
    net = Network([o for o in objects if o.get("kind") == "NetworkPolicy"], [*pods, DNS])
    api_port = int(config.get("apiServerPort", 6443))
    bound = bound_accounts(objects)
    found: list[Violation] = []

    def refuse(pod: Pod | None, message: str) -> None:
        found.append(Violation(urn.get(id(pod)) if pod else None, message))

    for pod in pods:
        if not net.allows(pod, DNS, 53, "UDP"):
            refuse(pod, f"{pod.namespace}/{pod.name} may not resolve names (UDP 53 to the cluster DNS)")
        if (pod.namespace, pod.service_account) in bound and not net.allows(pod, ANY_ADDRESS, api_port):
            refuse(pod, f"{pod.namespace}/{pod.name} runs as ServiceAccount {pod.service_account!r}, bound to a "
                        f"role, but may not reach the API server (TCP {api_port})")
    prometheus = [pod for obj, pod in made if obj.get("kind") == "Prometheus"]
    for source in prometheus:
        for monitor, target, port in scrape_targets(objects, [*pods, DNS]):
            if not port:
                continue  # a port name the pods do not declare: monitors-selected and the chart's own checks
            if not net.allows(source, target or ANY_ADDRESS, port):
                where = f"{target.namespace}/{target.name}:{port}" if target else f"port {port} on the nodes"
                refuse(target or source, f"{monitor} names {where}, which Prometheus "
                                         f"{source.namespace}/{source.name} may not scrape")
    for obj in objects:
        if obj.get("kind") not in ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"):
            continue
        for hook in obj.get("webhooks") or []:
            ref = dig(hook, "clientConfig", "service") or {}
            service = next((o for o in objects if o.get("kind") == "Service" and dig(o, "metadata", "name") == ref.get("name")
                            and dig(o, "metadata", "namespace") == ref.get("namespace")), None)
            if service is None:
                continue
            for pod, number in _service_targets(service, _service_port(service, "port", ref.get("port", 443)), pods):
                if not net.allows(ANY_ADDRESS, pod, number):
                    refuse(pod, f"webhook {hook.get('name')} is served by {pod.namespace}/{pod.name}:{number}, which "
                                "the API server may not reach")
    return found


RULES = [
    Rule("fences-admit-stack-flows", "The NetworkPolicies admit what the stack's own pods must do: DNS, the API "
         "server for pods with a role, Prometheus to every monitor's targets, the API server to webhooks.",
         "mandatory", "Admit the flow in the namespace's policies (components/network.py), or fix the selector that "
                      "misses the pod (a chart's labels changed).",
         stack_check=_flows, config={"apiServerPort": 6443}, any_object=True,
         applies_to=lambda r: kind_of(r) == "NetworkPolicy"),
]
