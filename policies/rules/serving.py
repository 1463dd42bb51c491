"""Serving invariants over the rendered objects: pools select model-server pods and ports, scheduling matches the
engine, GPUs claimed match parallelism, data is protected, versions stay inside the guard table."""

from __future__ import annotations

import re
from typing import Any, Mapping

import yaml

from .durations import duration_ms, is_duration
from .metric_names import (
    ENGINE_SPEC_FIELDS,
    KV_CACHE_USAGE,
    QUEUED_REQUESTS,
    VLLM_METRICS,
    engine_metric_specs,
    metrics_generation_of_image,
)
from .versions import release

from .base import (
    Res,
    Rule,
    Violation,
    chart_label,
    command_line,
    containers,
    dig,
    endpoint_pickers,
    flags,
    is_model_loader,
    is_model_server,
    kind_of,
    main_container,
    model_servers,
    name_of,
    of_kind,
    of_kinds,
    pod_spec,
    resource_namespace,
    workloads_selected,
)

SIMULATOR_IMAGE = "llm-d-inference-sim"
GATEWAY_API_BUNDLE = "gateway.networking.k8s.io/bundle-version"


def version(value: str) -> tuple[int, int, int]:
    return release(value) or (0, 0, 0)


def _selector(pool: Res) -> Mapping[str, Any]:
    return dig(pool.props, "spec", "selector", "matchLabels") or {}


def _served_by(pool: Res, resources: list[Res]) -> list[Res]:
    """The model-server workloads whose pods the pool selects."""
    return [w for w in workloads_selected(resources, resource_namespace(pool), _selector(pool)) if w in model_servers(resources)]


def _is_simulator(workload: Res) -> bool:
    return SIMULATOR_IMAGE in str(main_container(workload).get("image"))


def _pool_selects(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    return [
        Violation(pool.urn, f"pool {name_of(pool)!r} selects no model server's pods ({dict(_selector(pool))})")
        for pool in of_kind(resources, "InferencePool")
        if not _served_by(pool, resources)
    ]


def _pool_port(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    for pool in of_kind(resources, "InferencePool"):
        ports = [p.get("number") for p in dig(pool.props, "spec", "targetPorts") or []]
        for workload in _served_by(pool, resources):
            served = [p.get("containerPort") for c in containers(pod_spec(workload) or {}) for p in c.get("ports") or []]
            if len(ports) != 1 or ports[0] not in served:
                found.append(Violation(pool.urn, f"pool targets ports {ports}, the model server listens on {served}"))
    return found


def _epp_config(epp: Res, resources: list[Res]) -> Mapping[str, Any]:
    """The EndpointPickerConfig an EPP workload reads: `--config-file` -> its mount -> the ConfigMap key."""
    container = main_container(epp)
    path = flags(container).get("config-file", "")
    spec = pod_spec(epp) or {}
    for mount in container.get("volumeMounts") or []:
        folder = str(mount.get("mountPath", "")).rstrip("/")
        if not path.startswith(folder + "/"):
            continue
        volume = next((v for v in spec.get("volumes") or [] if v.get("name") == mount.get("name")), {})
        config_map = dig(volume, "configMap", "name")
        for cm in of_kind(resources, "ConfigMap"):
            if resource_namespace(cm) == resource_namespace(epp) and name_of(cm) == config_map:
                try:
                    loaded = yaml.safe_load((cm.props.get("data") or {}).get(path[len(folder) + 1:], "")) or {}
                except yaml.YAMLError:
                    return {}
                return loaded if isinstance(loaded, Mapping) else {}
    return {}


def _scorers(pool: Res, resources: list[Res]) -> set[str]:
    found: set[str] = set()
    for epp in endpoint_pickers(pool, resources):
        config = _epp_config(epp, resources)
        types = {p.get("name") or p.get("type"): p.get("type") for p in config.get("plugins") or []}
        found |= {types.get(ref.get("pluginRef")) for prof in config.get("schedulingProfiles") or []
                  for ref in prof.get("plugins") or []}
    return found


def _prefix_scorer(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    for pool in of_kind(resources, "InferencePool"):
        if "prefix-cache-scorer" not in _scorers(pool, resources):
            continue
        for workload in _served_by(pool, resources):
            if _is_simulator(workload):
                continue  # the simulator models its own cache
            if "--enable-prefix-caching" not in command_line(main_container(workload)):
                found.append(Violation(pool.urn, "the prefix-cache scorer routes by prefix locality but the model "
                                       f"server {name_of(workload)!r} runs without --enable-prefix-caching"))
    return found


def _devices_claimed(template: Res) -> int:
    """Devices one claim from this ResourceClaimTemplate allocates (resource.k8s.io/v1 and v1beta1 forms)."""
    total = 0
    for request in dig(template.props, "spec", "spec", "devices", "requests") or []:
        exact = request.get("exactly") if isinstance(request.get("exactly"), Mapping) else request
        total += int(exact.get("count") or 1) if exact.get("allocationMode", "ExactCount") == "ExactCount" else 0
    return total


def _claim_count(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    templates = {(resource_namespace(t), name_of(t)): t for t in of_kind(resources, "ResourceClaimTemplate")}
    found = []
    for workload in model_servers(resources):
        if _is_simulator(workload):
            continue
        namespace = resource_namespace(workload)
        claims = 0
        for claim in (pod_spec(workload) or {}).get("resourceClaims") or []:
            template = templates.get((namespace, claim.get("resourceClaimTemplateName")))
            if template is None:
                found.append(Violation(workload.urn, f"pod claim {claim.get('name')!r} names no ResourceClaimTemplate "
                                       "of this stack"))
            else:
                claims += _devices_claimed(template)
        match = re.search(r"--tensor-parallel-size[ =]([0-9]+)", command_line(main_container(workload)))
        tensor = int(match.group(1)) if match else 1
        if claims != tensor:
            found.append(Violation(workload.urn, f"each {name_of(workload)!r} pod claims {claims} GPU(s) but runs "
                                   f"tensor parallel size {tensor}"))
    return found


def _route_timeouts(res: Res, config: Mapping[str, Any]) -> list[str]:
    if kind_of(res) != "HTTPRoute":
        return []
    routes = [res.props]
    if not is_duration(config["minimum"]):
        return [f"policy config minimum {config['minimum']!r} is not a Gateway API duration"]
    minimum = duration_ms(config["minimum"])
    found = []
    for obj in routes:
        for i, rule in enumerate(dig(obj, "spec", "rules") or []):
            timeouts = rule.get("timeouts") or {}
            request, backend = timeouts.get("request"), timeouts.get("backendRequest")
            for key, value in (("request", request), ("backendRequest", backend)):
                if value is None:
                    found.append(f"rules[{i}] has no {key} timeout (the implementation default cuts long generations)")
                elif not is_duration(value):
                    found.append(f"rules[{i}].timeouts.{key} {value!r} is not a Gateway API duration")
                elif 0 < duration_ms(value) < minimum:
                    found.append(f"rules[{i}].timeouts.{key} {value} is shorter than the minimum {config['minimum']}")
            if is_duration(request) and is_duration(backend):
                if duration_ms(request) != 0 and duration_ms(backend) > duration_ms(request):
                    found.append(f"rules[{i}] backendRequest {backend} is longer than request {request}")
    return found


ENVOY_STREAM_IDLE_MS = 300_000  # Envoy's default stream idle timeout


def _stream_idle(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    """A route's request may last as long as its timeout; Envoy cuts a silent stream (a non-streaming generation
    sends nothing until done) after its stream idle timeout, 5 minutes unless kgateway's HTTPListenerPolicy raises it."""
    idle: dict[tuple[str, str], int] = {}
    for policy in of_kind(resources, "HTTPListenerPolicy"):
        value = dig(policy.props, "spec", "streamIdleTimeout")
        for ref in dig(policy.props, "spec", "targetRefs") or []:
            if ref.get("kind") == "Gateway" and is_duration(value):
                idle[(resource_namespace(policy), str(ref.get("name")))] = duration_ms(value)
    kgateways = {(resource_namespace(g), name_of(g)) for g in of_kind(resources, "Gateway")
                 if dig(g.props, "spec", "gatewayClassName") == "kgateway"}
    found = []
    for route in of_kind(resources, "HTTPRoute"):
        for parent in dig(route.props, "spec", "parentRefs") or []:
            gateway = (str(parent.get("namespace") or resource_namespace(route)), str(parent.get("name")))
            if gateway not in kgateways:
                continue
            limit = idle.get(gateway, ENVOY_STREAM_IDLE_MS)
            for i, rule in enumerate(dig(route.props, "spec", "rules") or []):
                request = (rule.get("timeouts") or {}).get("request")
                if not is_duration(request) or limit == 0:
                    continue
                if duration_ms(request) == 0 or duration_ms(request) > limit:
                    found.append(Violation(route.urn, f"rules[{i}] allows {request} but Gateway {gateway[1]!r} closes a "
                                                      f"silent stream after {limit // 1000}s"))
    return found


def _data_protected(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    """Every PVC protected, and so is the Namespace of the stack it lives in: deleting or replacing a namespace
    deletes every PVC in it, protected or not."""
    namespaces = {name_of(ns): ns for ns in of_kind(resources, "Namespace")}
    found, named = [], set()
    for pvc in of_kind(resources, "PersistentVolumeClaim"):
        if not pvc.protect:
            found.append(Violation(pvc.urn, f"PVC {name_of(pvc)!r} holds data but is not protected"))
        namespace = namespaces.get(resource_namespace(pvc))
        if namespace is not None and not namespace.protect and namespace.urn not in named:
            named.add(namespace.urn)
            found.append(Violation(namespace.urn, f"namespace {name_of(namespace)!r} holds PVC {name_of(pvc)!r} but is not "
                                   "protected: deleting or replacing it deletes the PVC with it"))
    return found


def _same_node(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    access = {
        (resource_namespace(r), name_of(r)): dig(r.props, "spec", "accessModes") or []
        for r in of_kind(resources, "PersistentVolumeClaim")
    }
    found = []
    for workload in model_servers(resources):
        replicas = int(dig(workload.props, "spec", "replicas") or 1)
        spec = pod_spec(workload) or {}
        claims = [dig(v, "persistentVolumeClaim", "claimName") for v in spec.get("volumes") or []]
        shared = [c for c in claims if c and "ReadWriteOnce" in access.get((resource_namespace(workload), c), [])]
        if replicas <= 1 or not shared:
            continue
        terms = dig(spec, "affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution") or []
        if not any(t.get("topologyKey") == "kubernetes.io/hostname" for t in terms if isinstance(t, Mapping)):
            found.append(Violation(workload.urn, f"{replicas} replicas share ReadWriteOnce PVC {shared[0]!r} without "
                                   "a required same-node pod affinity"))
    return found


def _engine_specs(config: Mapping[str, Any]) -> dict[str, str] | None:
    """The metric names an EPP's core-metrics-extractor reads for the default engine (its `engineConfigs` entry,
    else the built-in `vllm` one: vLLM V1 names); None for an EPP that reads them from flags (GAIE < v1.4)."""
    extractors = [p for p in config.get("plugins") or [] if isinstance(p, Mapping) and p.get("type") == "core-metrics-extractor"]
    if not extractors and "llm-d.ai/" not in str(config.get("apiVersion", "")):
        return None
    parameters = (extractors[0].get("parameters") if extractors else None) or {}
    engine = parameters.get("defaultEngine") or "vllm"
    given = next((e for e in parameters.get("engineConfigs") or [] if isinstance(e, Mapping) and e.get("name") == engine), None)
    if given is not None:
        return {k: str(given.get(k) or "") for k in ENGINE_SPEC_FIELDS}
    return engine_metric_specs("v1") if engine == "vllm" else {}


def _epp_metrics(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    for pool in of_kind(resources, "InferencePool"):
        servers = _served_by(pool, resources)
        for epp in endpoint_pickers(pool, resources) if servers else []:
            generation = metrics_generation_of_image(str(main_container(servers[0]).get("image")))
            specs = _engine_specs(_epp_config(epp, resources))
            if specs is not None:
                for field, metric in specs.items():
                    name = metric.split("{")[0]
                    if name and name not in VLLM_METRICS[generation]:
                        found.append(Violation(epp.urn, f"engineConfigs {field} reads {name!r}, which a vLLM "
                                               f"{generation.upper()} engine does not emit"))
                continue
            given = flags(main_container(epp))
            expected = {"kv-cache-usage-percentage-metric": KV_CACHE_USAGE[generation],
                        "total-queued-requests-metric": QUEUED_REQUESTS[generation]}
            for flag, default in expected.items():
                metric = given.get(flag, "vllm:gpu_cache_usage_perc" if flag.startswith("kv") else default).split("{")[0]
                if metric not in VLLM_METRICS[generation]:
                    found.append(Violation(epp.urn, f"--{flag} reads {metric!r}, which a vLLM {generation.upper()} "
                                           "engine does not emit"))
    return found


def _epp_flags(res: Res, config: Mapping[str, Any]) -> list[str]:
    """Go's flag parser stops at the first non-flag arg: a boolean written as two args (`--tracing false`) ends
    parsing there, so that flag is on and every later flag is ignored (inferencepool chart < v1.2 renders so)."""
    found = []
    for container in containers(pod_spec(res) or {}):
        args = [str(a) for a in container.get("args") or []]
        if "--pool-name" not in args and not any(a.startswith("--pool-name=") for a in args):
            continue  # not an endpoint picker
        for flag, value in zip(args, args[1:]):
            if flag.startswith("--") and "=" not in flag and value.lower() in ("true", "false"):
                found.append(f"container {container.get('name')!r} passes boolean {flag} {value} as two args: EPP "
                             "flag parsing stops there")
    return found


def _versions(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    kgateway = any(dig(g.props, "spec", "gatewayClassName") == "kgateway" for g in of_kind(resources, "Gateway"))
    for crd in of_kind(resources, "CustomResourceDefinition"):
        bundle = str((dig(crd.props, "metadata", "annotations") or {}).get(GATEWAY_API_BUNDLE) or "")
        if kgateway and bundle and version(bundle)[:2] != (1, 4):
            found.append(Violation(crd.urn, f"Gateway API CRDs {bundle} with kgateway 2.1.x: must be 1.4.x"))
    for workload in model_servers(resources):
        label = chart_label(workload)
        if label.startswith("llm-d-modelservice-") and version(label.rsplit("-", 1)[-1])[:2] != (0, 4):
            found.append(Violation(workload.urn, f"rendered by {label}: this program writes the v0.4.x layout"))
    return found


def _shm(res: Res, config: Mapping[str, Any]) -> list[str]:
    if res not in model_servers([res]):
        return []
    volumes = (pod_spec(res) or {}).get("volumes") or []
    memory = {v.get("name") for v in volumes if dig(v, "emptyDir", "medium") == "Memory"}
    if any(m.get("mountPath") == "/dev/shm" and m.get("name") in memory for m in main_container(res).get("volumeMounts") or []):
        return []
    return [f"model server {name_of(res)!r} has no memory-backed /dev/shm"]


def _startup_budget(res: Res, config: Mapping[str, Any]) -> list[str]:
    if res not in model_servers([res]) or _is_simulator(res):
        return []
    probe = main_container(res).get("startupProbe") or {}
    budget = int(probe.get("periodSeconds") or 10) * int(probe.get("failureThreshold") or 3)
    if budget < int(config["minimumSeconds"]):
        return [f"the startup probe gives {name_of(res)!r} {budget}s to load (minimum {config['minimumSeconds']}s)"]
    return []


def _loader_ignore_existing(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_model_loader(res):
        return []
    env = {e.get("name"): e.get("value") for c in dig(res.props, "spec", "template", "spec", "containers") or [] for e in c.get("env") or []}
    return [] if "--ignore-existing" in str(env.get("EXTRA_FLAGS", "")) else ["EXTRA_FLAGS lacks --ignore-existing: a rerun downloads everything again"]


def _route_backends(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    pools = {(resource_namespace(p), name_of(p)) for p in of_kind(resources, "InferencePool")}
    # kgateway names a Gateway's proxy Service after the Gateway: a route may forward to another Gateway of the
    # stack (body-based routing runs on the public proxy, the internal one routes to the pools).
    gateways = {(resource_namespace(g), name_of(g)) for g in of_kind(resources, "Gateway")}
    found = []
    for route in of_kind(resources, "HTTPRoute"):
        namespace = resource_namespace(route)
        parents = {(p.get("namespace") or namespace, p.get("name")) for p in dig(route.props, "spec", "parentRefs") or []}
        for rule in dig(route.props, "spec", "rules") or []:
            for ref in rule.get("backendRefs") or []:
                target = (ref.get("namespace") or namespace, ref.get("name"))
                if ref.get("kind") == "Service" and ref.get("group", "") == "" and target in gateways - parents:
                    continue
                if ref.get("kind") != "InferencePool" or ref.get("group") != "inference.networking.k8s.io":
                    found.append(Violation(route.urn, f"backendRef {ref.get('name')!r} is not an InferencePool"))
                elif (ref.get("namespace") or namespace, ref.get("name")) not in pools:
                    found.append(Violation(route.urn, f"backendRef {ref.get('name')!r} names no InferencePool of this stack"))
    return found


MONITOR_SELECTORS = {"ServiceMonitor": "serviceMonitor", "PodMonitor": "podMonitor", "PrometheusRule": "rule",
                     "Probe": "probe"}


def _label_selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions); `{}` selects everything."""
    if not isinstance(selector, Mapping):
        return False
    if any(labels.get(str(k)) != str(v) for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if (operator == "In" and labels.get(key) not in values) or (operator == "NotIn" and labels.get(key) in values) \
                or (operator == "Exists" and not present) or (operator == "DoesNotExist" and present):
            return False
    return True


def _namespace_labels(resources: list[Res], namespace: str) -> dict[str, str]:
    """A namespace's labels: the Namespace object's in the stack, and the one every namespace carries."""
    found = {"kubernetes.io/metadata.name": namespace}
    for ns in of_kind(resources, "Namespace"):
        if name_of(ns) == namespace:
            found.update({str(k): str(v) for k, v in (dig(ns.props, "metadata", "labels") or {}).items()})
    return found


def _selected_by(prometheus: Res, monitor: Res, resources: list[Res]) -> bool:
    """prometheus-operator's selection: the monitor's labels match `<kind>Selector` (unset selects none), and its
    namespace matches `<kind>NamespaceSelector` (unset: the Prometheus' own namespace only)."""
    field = MONITOR_SELECTORS[kind_of(monitor)]
    if not _label_selector_matches(dig(prometheus.props, "spec", f"{field}Selector"),
                                   dig(monitor.props, "metadata", "labels") or {}):
        return False
    namespaces = dig(prometheus.props, "spec", f"{field}NamespaceSelector")
    if namespaces is None:
        return resource_namespace(monitor) == resource_namespace(prometheus)
    return _label_selector_matches(namespaces, _namespace_labels(resources, resource_namespace(monitor)))


def _monitors_selected(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    prometheuses = of_kind(resources, "Prometheus")
    if not prometheuses:
        return []  # an existing Prometheus outside the stack: its selectors are the user's monitorLabels
    return [
        Violation(r.urn, f"{kind_of(r)} {name_of(r)!r} is selected by no Prometheus of the stack "
                  f"({', '.join(name_of(p) for p in prometheuses)}), so nothing scrapes or evaluates it")
        for r in resources
        if kind_of(r) in MONITOR_SELECTORS and not any(_selected_by(p, r, resources) for p in prometheuses)
    ]


RULES = [
    Rule("pool-selects-model-service", "Every InferencePool selects the pods of a model service.", "mandatory",
         "Leave inferencePool.modelServers to the program (it copies the model service's pod labels).",
         stack_check=_pool_selects, charts=("inferencepool", "llm-d-router-gateway", "llm-d-modelservice"), applies_to=of_kinds("InferencePool")),
    Rule("pool-targets-vllm-port", "Every InferencePool has exactly one target port, its model server's port.",
         "mandatory", "Drop targetPorts overrides: the port comes from the model service.", stack_check=_pool_port, charts=("inferencepool", "llm-d-router-gateway", "llm-d-modelservice"), applies_to=of_kinds("InferencePool")),
    Rule("prefix-scorer-needs-prefix-caching", "The prefix-cache scorer is only used with prefix caching on.",
         "mandatory", "Set models[].engine.prefixCaching: true, or drop prefix-cache-scorer from the profile.",
         stack_check=_prefix_scorer, charts=("inferencepool", "llm-d-router-gateway", "llm-d-modelservice"), applies_to=of_kinds("InferencePool")),
    Rule("dra-claim-count", "GPUs claimed per model-server pod equal its tensor parallel size.", "mandatory",
         "Set models[].gpusPerReplica only; do not override parallelism or count.", stack_check=_claim_count, charts=("llm-d-modelservice",), applies_to=is_model_server),
    Rule("route-timeouts", "Route timeouts are valid Gateway API durations, consistent and not too short.",
         "mandatory", "Set models[].route.timeouts (e.g. 3600s) at or above the policy minimum.",
         resource_check=_route_timeouts, config={"minimum": "60s"}, applies_to=of_kinds("HTTPRoute")),
    Rule("stream-idle-covers-requests", "A kgateway proxy keeps a silent stream open as long as its routes' request "
         "timeouts.", "mandatory", "Keep the program's HTTPListenerPolicy (streamIdleTimeout follows the longest "
         "models[].route.timeouts.request).", stack_check=_stream_idle, applies_to=of_kinds("HTTPRoute")),
    Rule("data-pvc-protected", "PVCs that hold data, and the stack's namespaces that hold them, are protected against "
         "deletion and replacement.", "mandatory",
         "Create the PVC and its namespace with protect=True and retain_on_delete=True.", stack_check=_data_protected,
         applies_to=of_kinds("PersistentVolumeClaim")),
    Rule("rwo-same-node", "Replicas sharing a ReadWriteOnce model PVC are kept on one node.", "mandatory",
         "Keep the program's pod affinity, or use a ReadWriteMany storage class.", stack_check=_same_node, charts=("llm-d-modelservice",), applies_to=is_model_server),
    Rule("epp-metric-names", "EPP metric-name flags name metrics the serving engine emits.", "mandatory",
         "Let the program derive them from the engine, or fix scheduling.extraFlags.", stack_check=_epp_metrics, charts=("inferencepool", "llm-d-router-gateway", "llm-d-modelservice"), applies_to=of_kinds("InferencePool")),
    Rule("epp-flags-render-safely", "EPP boolean flags are rendered as one `--flag=value` arg (Go flag parsing).",
         "mandatory", "Use inferencepool chart >= v1.2.1 and no boolean scheduling.extraFlags on older charts.",
         resource_check=_epp_flags, charts=("inferencepool",), applies_to=of_kinds("InferencePool")),
    Rule("versions-in-guard-table", "Rendered CRD and chart versions stay inside the known-good combinations.", "mandatory",
         "See docs/version-guards.md.", stack_check=_versions, charts=("standard-install.yaml", "llm-d-modelservice")),
    Rule("model-server-shm", "Model servers get a memory-backed /dev/shm.", "advisory",
         "Keep models[].shmSize (the program mounts an emptyDir with medium Memory).", resource_check=_shm, charts=("llm-d-modelservice",), applies_to=is_model_server),
    Rule("startup-probe-budget", "Model servers get enough time to load before their startup probe fails.",
         "advisory", "Raise models[].startupTimeoutSeconds.", resource_check=_startup_budget,
         config={"minimumSeconds": 600}, charts=("llm-d-modelservice",), applies_to=is_model_server),
    Rule("loader-ignore-existing", "The ModelKit loader keeps --ignore-existing so reruns skip unpacked files.",
         "mandatory", "Keep EXTRA_FLAGS=--ignore-existing on the kitops-init container.",
         resource_check=_loader_ignore_existing, applies_to=is_model_loader),
    Rule("monitors-selected", "Every monitor and rule is selected by the Prometheus the stack installs (its rendered "
         "selectors, as prometheus-operator applies them).", "mandatory",
         "Label them `release: <monitoring.prometheus.releaseName>` (the program does).", stack_check=_monitors_selected,
         charts=("kube-prometheus-stack",), applies_to=of_kinds(*MONITOR_SELECTORS)),
    Rule("routes-target-pools", "Every HTTPRoute backend is an InferencePool of this stack (or, for body-based "
         "routing, the proxy of another of its Gateways).", "mandatory",
         "Route to the pool the program creates for the model.", stack_check=_route_backends, charts=("inferencepool", "llm-d-router-gateway"), applies_to=of_kinds("HTTPRoute")),
]
