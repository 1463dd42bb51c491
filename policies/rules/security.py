"""Security rules: privileges, host paths, pinned images, resources, secrets, exposure, network isolation."""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Mapping

from .base import (
    Res,
    Rule,
    Violation,
    containers,
    dig,
    endpoint_pickers,
    is_model_loader,
    is_model_server,
    is_workload,
    kind_of,
    model_servers,
    name_of,
    of_kind,
    of_kinds,
    pod_labels,
    pod_spec,
    pod_specs,
    rendering_chart,
    resource_namespace,
)

PRIVILEGED_NAMESPACES = ["intel-gpu-resource-driver", "intel-xpu-manager"]
_SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|CREDENTIAL|PRIVATE_?KEY)", re.I)
_PINNED = re.compile(r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$")


def _restricted_pods(res: Res, config: Mapping[str, Any]):
    """(namespace, pod spec) of the pods outside the allow-listed namespaces (the driver's and the exporter's)."""
    allowed = set(config["allowedNamespaces"])
    return [(namespace, spec) for namespace, spec in pod_specs(res) if namespace not in allowed]


def _privileged(res: Res, config: Mapping[str, Any]) -> list[str]:
    return [
        f"container {c.get('name')!r} in namespace {namespace!r} is privileged"
        for namespace, spec in _restricted_pods(res, config)
        for c in containers(spec)
        if dig(c, "securityContext", "privileged") is True
    ]


def _host_paths(res: Res, config: Mapping[str, Any]) -> list[str]:
    return [
        f"volume {v.get('name')!r} mounts host path {dig(v, 'hostPath', 'path')!r} in namespace {namespace!r}"
        for namespace, spec in _restricted_pods(res, config)
        for v in spec.get("volumes") or []
        if isinstance(v, Mapping) and v.get("hostPath")
    ]


def images(res: Res) -> list[str]:
    """Every image a workload object runs."""
    return [str(c.get("image")) for _, spec in pod_specs(res) for c in containers(spec) if c.get("image")]


def _images_pinned(res: Res, config: Mapping[str, Any]) -> list[str]:
    return [
        f"image {image!r} is not pinned"
        for image in images(res)
        if not _PINNED.search(image) or image.endswith(":latest") or image.endswith(":")
    ]


def _has_requests_and_limits(container: Mapping[str, Any]) -> list[str]:
    resources = container.get("resources") or {}
    return [
        f"container {container.get('name')!r} has no {kind}.{what}"
        for kind in ("requests", "limits")
        for what in ("cpu", "memory")
        if not dig(resources, kind, what)
    ]


def _model_server_resources(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_model_server(res):
        return []
    return [problem for c in (pod_spec(res) or {}).get("containers") or [] for problem in _has_requests_and_limits(c)]


def _loader_resources(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_model_loader(res):
        return []
    return [problem for _, spec in pod_specs(res) for c in containers(spec) for problem in _has_requests_and_limits(c)]


def _non_root(res: Res, config: Mapping[str, Any]) -> list[str]:
    # The driver and exporter namespaces run what needs root (XPU Manager does).
    return [
        f"{kind_of(res)} {name_of(res)!r} may run as root"
        for _, spec in _restricted_pods(res, config)
        if not ((spec.get("securityContext") or {}).get("runAsNonRoot") is True
                or ((spec.get("securityContext") or {}).get("runAsUser") or 0) > 0)
    ]


def _secret_env(res: Res, config: Mapping[str, Any]) -> list[str]:
    return [
        f"container {c.get('name')!r} sets {e.get('name')!r} as a plain value"
        for _, spec in pod_specs(res)
        for c in containers(spec)
        for e in c.get("env") or []
        if isinstance(e, Mapping) and _SECRET_NAME.search(str(e.get("name", ""))) and "value" in e and e.get("value")
    ]


def _secret_configmaps(res: Res, config: Mapping[str, Any]) -> list[str]:
    if kind_of(res) != "ConfigMap":
        return []
    return [
        f"ConfigMap {name_of(res)!r} key {key!r} looks like secret material"
        for key, value in (res.props.get("data") or {}).items()
        if _SECRET_NAME.search(str(key)) or "PRIVATE KEY-----" in str(value)
    ]


def _exposed_services(res: Res, config: Mapping[str, Any]) -> list[str]:
    if kind_of(res) != "Service" or dig(res.props, "spec", "type") not in ("LoadBalancer", "NodePort"):
        return []
    return [f"Service {name_of(res)!r} is of type {dig(res.props, 'spec', 'type')}"]


def _namespace_pod_security(res: Res, config: Mapping[str, Any]) -> list[str]:
    if kind_of(res) != "Namespace":
        return []
    labels = dig(res.props, "metadata", "labels") or {}
    level = labels.get("pod-security.kubernetes.io/enforce")
    name = dig(res.props, "metadata", "name")
    if level is None:
        return [f"namespace {name!r} has no pod-security.kubernetes.io/enforce label"]
    if level == "privileged" and name not in config["allowedNamespaces"]:
        return [f"namespace {name!r} enforces 'privileged' but is not in the allow-list"]
    return []


def _open_peers(policy: Mapping[str, Any]) -> bool:
    for rule in dig(policy, "spec", "ingress") or []:
        peers = rule.get("from")
        if not peers:
            return True  # no `from`: every source may connect
        for peer in peers:
            if peer.get("ipBlock") or not (dig(peer, "podSelector", "matchLabels") or dig(peer, "namespaceSelector", "matchLabels")):
                return True
            if "namespaceSelector" in peer and not (dig(peer, "namespaceSelector", "matchLabels")
                                                    or dig(peer, "namespaceSelector", "matchExpressions")):
                return True  # `namespaceSelector: {}`: those pods in every namespace
    return False


def _isolated(labels: Mapping[str, str], namespace: str, policies: list[tuple[str, Mapping[str, Any]]]) -> bool:
    """NetworkPolicies add up: the pods are isolated when at least one ingress policy selects them and none of the
    policies that select them (an empty podSelector selects every pod) lets any source in."""
    selecting = [
        policy for policy_namespace, policy in policies
        if policy_namespace == namespace and "Ingress" in (dig(policy, "spec", "policyTypes") or ["Ingress"])
        # A matchExpressions selector may select these pods too: count it (it can only open, never isolate less).
        and all(labels.get(k) == v for k, v in (dig(policy, "spec", "podSelector", "matchLabels") or {}).items())
    ]
    return bool(selecting) and not any(_open_peers(policy) for policy in selecting)


def _network_isolation(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    policies = [(resource_namespace(r), r.props) for r in of_kind(resources, "NetworkPolicy")]
    targets = [("model pods", w) for w in model_servers(resources)]
    targets += [("EPP pods", w) for pool in of_kind(resources, "InferencePool") for w in endpoint_pickers(pool, resources)]
    return [
        Violation(workload.urn, f"no ingress NetworkPolicy limits who reaches the {what} {pod_labels(workload)}")
        for what, workload in targets
        if not _isolated(pod_labels(workload), resource_namespace(workload), policies)
    ]


def _denies_by_default(policy: Mapping[str, Any]) -> bool:
    """Selects every pod of its namespace, for ingress and egress, and admits nothing."""
    selector = dig(policy, "spec", "podSelector") or {}
    return (not selector.get("matchLabels") and not selector.get("matchExpressions")
            and {"Ingress", "Egress"} <= set(dig(policy, "spec", "policyTypes") or [])
            and not dig(policy, "spec", "ingress") and not dig(policy, "spec", "egress"))


def _default_deny(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    fenced = {resource_namespace(r) for r in of_kind(resources, "NetworkPolicy") if _denies_by_default(r.props)}
    return [
        Violation(namespace.urn, f"namespace {name_of(namespace)!r} has no NetworkPolicy denying ingress and egress by "
                  "default: a compromised pod there reaches whatever the cluster network does")
        for namespace in of_kind(resources, "Namespace") if name_of(namespace) not in fenced
    ]


_HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
# Secret material by shape, wherever it stands: API keys and tokens of common services, bearer tokens, private keys.
_SECRET_SHAPES = re.compile(
    r"(?<![A-Za-z0-9_-])(sk-[A-Za-z0-9_-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{16,}"
    r"|AKIA[0-9A-Z]{16})|Bearer\s+[A-Za-z0-9._~+/=-]{16,}|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
# A literal value after a secret-named flag (`--api-key X`, `--token=X`) or in a shell assignment (`API_KEY=X cmd`);
# a variable (`$(VAR)`, `$VAR`, `${VAR}`) is fine: the value comes from the environment.
_SECRET_FLAG = re.compile(
    r"(--(api[-_]?key|token|password|passwd|secret|auth[-_]?token|credentials?)(=|\s+)"
    r"|\b[A-Z0-9_]*(API_?KEY|TOKEN|PASSWORD|PASSWD|SECRET)=)(?!\$)[^\s$]\S*", re.I)


def _host_namespaces(res: Res, config: Mapping[str, Any]) -> list[str]:
    return [
        f"{kind_of(res)} {name_of(res)!r} in namespace {namespace!r} sets {key}"
        for namespace, spec in _restricted_pods(res, config)
        for key in _HOST_NAMESPACES
        if spec.get(key) is True
    ]


def _capabilities(res: Res, config: Mapping[str, Any]) -> list[str]:
    permitted = set(config["allowedCapabilities"])
    return [
        f"container {c.get('name')!r} in namespace {namespace!r} adds capability {cap}"
        for namespace, spec in _restricted_pods(res, config)
        for c in containers(spec)
        for cap in dig(c, "securityContext", "capabilities", "add") or []
        if str(cap).upper().removeprefix("CAP_") not in permitted
    ]


def _privilege_escalation(res: Res, config: Mapping[str, Any]) -> list[str]:
    return [
        f"container {c.get('name')!r} of {kind_of(res)} {name_of(res)!r} does not set allowPrivilegeEscalation: false"
        for _, spec in _restricted_pods(res, config)
        for c in containers(spec)
        if dig(c, "securityContext", "allowPrivilegeEscalation") is not False
    ]


def _secrets_in_args(res: Res, config: Mapping[str, Any]) -> list[str]:
    found = []
    for _, spec in pod_specs(res):
        for c in containers(spec):
            words = " ".join(str(x) for x in [*(c.get("command") or []), *(c.get("args") or [])])
            if _SECRET_FLAG.search(words) or _SECRET_SHAPES.search(words):
                found.append(f"container {c.get('name')!r} passes secret material on its command line")
            for e in c.get("env") or []:
                if isinstance(e, Mapping) and _SECRET_SHAPES.search(str(e.get("value") or "")):
                    found.append(f"container {c.get('name')!r} env {e.get('name')!r} holds secret material as a value")
    return found


_BUILT_IN_POWER_ROLES = ("cluster-admin", "admin", "edit")
_ESCALATING_VERBS = ("escalate", "bind", "impersonate")
_WRITE_VERBS = ("create", "update", "patch", "*")
_RBAC_RESOURCES = ("roles", "clusterroles", "rolebindings", "clusterrolebindings", "*")


# Roles the stack's charts need beyond the rule, each with the reason: `<Chart resource>/<role>` (globs), the Chart
# being the one whose rendered child the role is (what a real preview tells of a chart-rendered object's origin: its
# parent; a chart need not label what it renders, and kgateway labels nothing). `/<role>` names a role the program
# itself declares.
ROLE_EXCEPTIONS = {
    "*-kgateway-controller/kgateway-*": (
        "kgateway 2.1's controller (its chart's own ClusterRoles; no value narrows them) reads the certificate Secrets "
        "that Gateway listeners name and creates each Gateway's proxy ServiceAccount and ConfigMap; its inference "
        "extension role may also create and update ClusterRoles and ClusterRoleBindings (for endpoint pickers it can "
        "deploy itself, which this program does not ask for). Not narrowed: kgateway's v2.1 source was not available "
        "to verify what the controller still needs, and kgateway 2.1 is the seed's path (agentgateway's role has no "
        "RBAC writes)"),
    "*-agentgateway-controller/agentgateway-*": (
        "agentgateway v1.4.1's controller (its chart's own ClusterRole; no value narrows it) creates the CA Secret of "
        "its xDS TLS (controller/pkg/setup/xds_tls.go ensureXdsSecret), reads the certificate and API key Secrets "
        "that Gateways and AgentgatewayPolicies name, and creates each Gateway's proxy ServiceAccount"),
    "*-cert-manager/cert-manager-controller-*": (
        "cert-manager's controller writes each certificate's key pair into its Secret and reads its issuer's (a CA's "
        "key, an ACME account key); cert-manager's chart splits these rights per controller, no value narrows them"),
    "*-cert-manager/cert-manager-cainjector": (
        "cert-manager's CA injector reads the CA Secrets whose certificates it copies into webhook configurations "
        "and CRDs (caBundle)"),
    "*-cert-manager/cert-manager-webhook:dynamic-serving": (
        "cert-manager's webhook keeps its own serving certificate in one Secret of its namespace: a namespaced Role, "
        "reads and updates limited to that Secret by name; create cannot be limited by name"),
    "*-kube-prometheus-stack/*-operator": (
        "prometheus-operator writes each Prometheus' generated configuration and TLS assets into Secrets and ConfigMaps "
        "and runs it as a StatefulSet, with the RBAC upstream documents as its minimum (prometheus-operator "
        "Documentation/platform/rbac.md, which the chart's template follows)"),
}


def _allowed_role(res: Res, config: Mapping[str, Any]) -> bool:
    """An exception in `allowed`: `<Chart resource>/<role name>` globs, matched against the Chart that rendered the
    role (its parent) and the role's name."""
    key = f"{rendering_chart(res)}/{name_of(res)}"
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in config["allowed"])


def _roles(res: Res, config: Mapping[str, Any]) -> list[str]:
    kind = kind_of(res)
    if kind not in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding") or _allowed_role(res, config):
        return []
    if kind.endswith("Binding"):
        role = dig(res.props, "roleRef", "name")
        return [f"{kind} {name_of(res)!r} binds the built-in role {role!r}"] if role in _BUILT_IN_POWER_ROLES else []
    found = []
    if res.props.get("aggregationRule"):
        found.append(f"{kind} {name_of(res)!r} aggregates other roles (its rules are not in the object)")
    for i, rule in enumerate(res.props.get("rules") or []):
        for field in ("apiGroups", "resources", "verbs", "nonResourceURLs"):
            if "*" in (rule.get(field) or []):
                found.append(f"{kind} {name_of(res)!r} rules[{i}] grants every {field.rstrip('s')} ('*')")
        if "secrets" in (rule.get("resources") or []):
            found.append(f"{kind} {name_of(res)!r} rules[{i}] grants access to Secrets")
        found += [f"{kind} {name_of(res)!r} rules[{i}] grants {verb!r}" for verb in rule.get("verbs") or []
                  if verb in _ESCALATING_VERBS]
        writes = [v for v in rule.get("verbs") or [] if v in _WRITE_VERBS]
        rbac = [r for r in rule.get("resources") or [] if r in _RBAC_RESOURCES]
        if writes and rbac and "rbac.authorization.k8s.io" in (rule.get("apiGroups") or []):
            found.append(f"{kind} {name_of(res)!r} rules[{i}] may {'/'.join(writes)} {', '.join(rbac)}: whoever holds "
                         "it can grant itself more")
    return found


RULES = [
    Rule("no-privileged-containers", "No privileged containers outside the driver and GPU-exporter namespaces.",
         "mandatory", "Drop `privileged`, or run the workload in an allow-listed namespace.",
         resource_check=_privileged, config={"allowedNamespaces": PRIVILEGED_NAMESPACES}, any_object=True, applies_to=is_workload),
    Rule("no-host-paths", "No hostPath volumes outside the driver and GPU-exporter namespaces.", "mandatory",
         "Use a PVC or emptyDir; host paths are for the DRA driver and the GPU exporter only.",
         resource_check=_host_paths, config={"allowedNamespaces": PRIVILEGED_NAMESPACES}, any_object=True, applies_to=is_workload),
    Rule("images-pinned", "Every image is pinned to a version tag (not latest) or a digest.", "mandatory",
         "Pin the image to a release tag or @sha256 digest in the stack config.", resource_check=_images_pinned, any_object=True, applies_to=is_workload),
    Rule("model-server-resources", "Model server containers have CPU and memory requests and limits.", "mandatory",
         "Set models[].resources.requests and .limits (cpu and memory).", resource_check=_model_server_resources, charts=("llm-d-modelservice",), applies_to=is_model_server),
    Rule("loader-resources", "Model loader Jobs have CPU and memory requests and limits.", "mandatory",
         "Give the kitops-init container CPU and memory requests and limits.", resource_check=_loader_resources, applies_to=is_model_loader),
    Rule("run-as-non-root", "Workloads run as non-root outside the driver and GPU-exporter namespaces.", "advisory",
         "Set securityContext.runAsNonRoot (or a non-zero runAsUser) where the image allows.", resource_check=_non_root,
         config={"allowedNamespaces": PRIVILEGED_NAMESPACES}, any_object=True, applies_to=is_workload),
    Rule("no-secret-env-values", "No secret material in plain env values.", "mandatory",
         "Reference a Secret with valueFrom.secretKeyRef instead of a literal value.", resource_check=_secret_env, any_object=True, applies_to=is_workload),
    Rule("no-secrets-in-configmaps", "No secret material in ConfigMaps.", "mandatory",
         "Move the value to a Secret built from Pulumi secret config.", resource_check=_secret_configmaps, any_object=True, applies_to=of_kinds("ConfigMap")),
    Rule("only-gateway-exposed", "Only the gateway is exposed outside the cluster (no other LoadBalancer/NodePort).",
         "mandatory", "Use a ClusterIP Service and route through the Gateway.", resource_check=_exposed_services, any_object=True, applies_to=of_kinds("Service")),
    Rule("namespaces-pod-security", "Every namespace enforces a Pod Security level; `privileged` only where allowed.",
         "mandatory", "Label the namespace pod-security.kubernetes.io/enforce (baseline or restricted).",
         resource_check=_namespace_pod_security, config={"allowedNamespaces": PRIVILEGED_NAMESPACES}, any_object=True, applies_to=of_kinds("Namespace")),
    Rule("no-host-namespaces", "No host network, PID or IPC namespace outside the driver and GPU-exporter namespaces.",
         "mandatory", "Drop hostNetwork/hostPID/hostIPC; only the DRA driver and the GPU exporter may use the host.",
         resource_check=_host_namespaces, config={"allowedNamespaces": PRIVILEGED_NAMESPACES}, any_object=True, applies_to=is_workload),
    Rule("capabilities-allow-listed", "Containers add no Linux capability beyond the allow-list (driver and "
         "GPU-exporter namespaces excepted).", "mandatory",
         "Remove securityContext.capabilities.add, or allow the capability in policy config.",
         resource_check=_capabilities, config={"allowedNamespaces": PRIVILEGED_NAMESPACES, "allowedCapabilities": []},
         any_object=True, applies_to=is_workload),
    Rule("no-privilege-escalation", "Containers set allowPrivilegeEscalation: false (driver and GPU-exporter "
         "namespaces excepted).", "advisory",
         "Set securityContext.allowPrivilegeEscalation: false where the chart offers a securityContext.",
         resource_check=_privilege_escalation, config={"allowedNamespaces": PRIVILEGED_NAMESPACES}, any_object=True, applies_to=is_workload),
    Rule("no-secrets-in-args", "No secret material on a command line or in a plain env value (API keys, tokens, "
         "private keys).", "mandatory",
         "Put the secret in a Secret (Pulumi secret config) and pass it with valueFrom.secretKeyRef.",
         resource_check=_secrets_in_args, any_object=True, applies_to=is_workload),
    Rule("roles-least-privilege", "No role grants '*', Secrets, escalate/bind/impersonate, writes to roles or "
         "bindings (create/update/patch) or aggregation, and no binding hands out cluster-admin/admin/edit, unless it is a named exception (`allowed`: "
         "`<Chart resource>/<role>` -> reason).", "mandatory",
         "Grant named resources and verbs; if a chart's controller really needs it, add `<Chart resource>/<role>` "
         "with the reason to the rule's `allowed` policy config.",
         resource_check=_roles, config={"allowed": dict(ROLE_EXCEPTIONS)}, any_object=True, applies_to=of_kinds("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")),
    Rule("network-isolation", "Model pods and EPPs accept traffic only from the gateway, the EPP and Prometheus.",
         "mandatory", "Keep cluster.networkPolicies: true (the program then adds the NetworkPolicies).",
         stack_check=_network_isolation, charts=("inferencepool", "llm-d-router-gateway", "llm-d-modelservice"), applies_to=is_model_server),
    Rule("namespaces-default-deny", "Every namespace the stack creates denies ingress and egress by default; policies "
         "admit each flow the stack needs.", "mandatory",
         "Keep cluster.networkPolicies: true (the program then fences every namespace it creates).",
         stack_check=_default_deny, applies_to=of_kinds("Namespace")),
]
