"""Serving invariants: pools select model pods and ports, scheduling matches the engine, data is protected,
versions stay inside the guard table."""

from __future__ import annotations

import re
from typing import Any, Mapping

import yaml

from components.metric_names import KV_CACHE_USAGE, QUEUED_REQUESTS, VLLM_METRICS, metrics_generation_of_image
from components.durations import duration_ms, is_duration
from components.versions import release

from .base import (
    Res,
    Rule,
    Violation,
    chart_values,
    command_line,
    decode_container,
    dig,
    is_chart,
    k8s_objects,
    modelservice_pod_labels,
    resource_namespace,
)

_EXACT_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")
def version(value: str) -> tuple[int, int, int]:
    return release(value) or (0, 0, 0)


def _pools(resources: list[Res]) -> list[Res]:
    return [r for r in resources if is_chart(r, "/inferencepool")]


def _model_services(resources: list[Res]) -> list[Res]:
    return [r for r in resources if is_chart(r, "llm-d-modelservice")]


def _selected_service(pool: Res, services: list[Res]) -> Res | None:
    selector = dig(chart_values(pool), "inferencePool", "modelServers", "matchLabels") or {}
    for service in services:
        labels = modelservice_pod_labels(service)
        if resource_namespace(service) == resource_namespace(pool) and selector and all(
            labels.get(k) == str(v) for k, v in selector.items()
        ):
            return service
    return None


def _pool_selects(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    services = _model_services(resources)
    return [
        Violation(pool.urn, f"pool {pool.props.get('name')!r} selects no model service's pods "
                  f"({dig(chart_values(pool), 'inferencePool', 'modelServers', 'matchLabels')})")
        for pool in _pools(resources)
        if _selected_service(pool, services) is None
    ]


def _pool_port(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    services = _model_services(resources)
    for pool in _pools(resources):
        service = _selected_service(pool, services)
        ports = [p.get("number") for p in dig(chart_values(pool), "inferencePool", "targetPorts") or []]
        if service is None:
            continue
        served = [p.get("containerPort") for p in decode_container(service).get("ports") or []]
        if len(ports) != 1 or ports[0] not in served:
            found.append(Violation(pool.urn, f"pool targets ports {ports}, the model server listens on {served}"))
    return found


def _scorers(pool: Res) -> set[str]:
    text = dig(chart_values(pool), "inferenceExtension", "pluginsCustomConfig") or {}
    config_file = dig(chart_values(pool), "inferenceExtension", "pluginsConfigFile")
    try:
        config = yaml.safe_load(text.get(config_file, "")) or {}
    except yaml.YAMLError:
        return set()
    types = {p.get("name") or p.get("type"): p.get("type") for p in config.get("plugins") or []}
    return {types.get(ref.get("pluginRef")) for prof in config.get("schedulingProfiles") or [] for ref in prof.get("plugins") or []}


def _prefix_scorer(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    services = _model_services(resources)
    for pool in _pools(resources):
        service = _selected_service(pool, services)
        if service is None or "prefix-cache-scorer" not in _scorers(pool):
            continue
        container = decode_container(service)
        if "llm-d-inference-sim" in str(container.get("image")):
            continue  # the simulator models its own cache
        if "--enable-prefix-caching" not in command_line(container):
            found.append(Violation(pool.urn, "the prefix-cache scorer routes by prefix locality but the model server "
                                   "runs without --enable-prefix-caching"))
    return found


def _claim_count(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_chart(res, "llm-d-modelservice") or not dig(chart_values(res), "accelerator", "dra"):
        return []
    parallelism = dig(chart_values(res), "decode", "parallelism") or {}
    claims = int(parallelism.get("tensor") or 1) * int(parallelism.get("dataLocal") or 1)
    found = re.search(r"--tensor-parallel-size[ =]([0-9]+)", command_line(decode_container(res)))
    tensor = int(found.group(1)) if found else 1
    problems = []
    if claims != tensor:
        problems.append(f"each pod claims {claims} GPU(s) but runs tensor parallel size {tensor}")
    for kind, template in (dig(chart_values(res), "accelerator", "resourceClaimTemplates") or {}).items():
        if isinstance(template, Mapping) and "count" in template:
            problems.append(f"claim template {kind!r} sets an explicit count")
    return problems


def _route_timeouts(res: Res, config: Mapping[str, Any]) -> list[str]:
    routes = [obj for obj in k8s_objects(res) if obj.get("kind") == "HTTPRoute"]
    if not routes:
        return []
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


def _pvc_protected(res: Res, config: Mapping[str, Any]) -> list[str]:
    if res.props.get("kind") != "PersistentVolumeClaim" or res.protect:
        return []
    return [f"PVC {dig(res.props, 'metadata', 'name')!r} holds data but is not protected"]


def _same_node(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    access = {
        (resource_namespace(r), dig(r.props, "metadata", "name")): dig(r.props, "spec", "accessModes") or []
        for r in resources
        if r.props.get("kind") == "PersistentVolumeClaim"
    }
    found = []
    for service in _model_services(resources):
        values = chart_values(service)
        uri = str(dig(values, "modelArtifacts", "uri") or "")
        replicas = int(dig(values, "decode", "replicas") or 1)
        if not uri.startswith("pvc://") or replicas <= 1:
            continue
        claim = uri[len("pvc://"):].split("/", 1)[0]
        if "ReadWriteOnce" not in access.get((resource_namespace(service), claim), ["ReadWriteOnce"]):
            continue
        terms = dig(values, "decode", "extraConfig", "affinity", "podAffinity", "requiredDuringSchedulingIgnoredDuringExecution") or []
        if not any(t.get("topologyKey") == "kubernetes.io/hostname" for t in terms if isinstance(t, Mapping)):
            found.append(Violation(service.urn, f"{replicas} replicas share ReadWriteOnce PVC {claim!r} without "
                                   "a required same-node pod affinity"))
    return found


def _charts_pinned(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not res.type.startswith("kubernetes:helm.sh/"):
        return []
    chart_version = str(res.props.get("version") or "")
    return [] if _EXACT_VERSION.match(chart_version) else [f"chart {res.props.get('chart')!r} version {chart_version!r} is not an exact version"]


def _flag_values(pool: Res) -> dict[str, str]:
    """EPP flags as name -> value: the chart takes a list of {name, value} up to v1.1 and a map from v1.2 on."""
    flags = dig(chart_values(pool), "inferenceExtension", "flags") or []
    if isinstance(flags, Mapping):
        return {str(k): str(v) for k, v in flags.items()}
    return {str(f.get("name")): str(f.get("value")) for f in flags if isinstance(f, Mapping)}


def _epp_metrics(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    services = _model_services(resources)
    for pool in _pools(resources):
        service = _selected_service(pool, services)
        if service is None:
            continue
        generation = metrics_generation_of_image(str(decode_container(service).get("image")))
        flags = _flag_values(pool)
        expected = {"kv-cache-usage-percentage-metric": KV_CACHE_USAGE[generation],
                    "total-queued-requests-metric": QUEUED_REQUESTS[generation]}
        for flag, default in expected.items():
            metric = flags.get(flag, "vllm:gpu_cache_usage_perc" if flag.startswith("kv") else default).split("{")[0]
            if metric not in VLLM_METRICS[generation]:
                found.append(Violation(pool.urn, f"--{flag} reads {metric!r}, which a vLLM {generation.upper()} engine "
                                       "does not emit"))
    return found


def _epp_flags(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_chart(res, "/inferencepool") or version(str(res.props.get("version"))) >= (1, 6, 0):
        return []
    return [
        f"flag --{name}={value} is boolean: chart {res.props.get('version')} renders it as two args and EPP flag "
        "parsing breaks"
        for name, value in _flag_values(res).items()
        if value.lower() in ("true", "false")
    ]


def _versions(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    found = []
    pools = _pools(resources)
    for r in resources:
        chart = str(r.props.get("chart", ""))
        v = version(str(r.props.get("version", "")))
        if chart.endswith("/kgateway") and pools and v[:2] != (2, 1):
            found.append(Violation(r.urn, f"kgateway {r.props.get('version')}: Envoy InferencePool routing needs 2.1.x"))
        if r.type.startswith("kubernetes:yaml") and "gateway-api/releases/download/" in str(r.props.get("file", "")):
            api = version(str(r.props["file"]).split("/download/")[1].split("/")[0])
            if any(str(k.props.get("chart", "")).endswith("/kgateway") for k in resources) and api[:2] != (1, 4):
                found.append(Violation(r.urn, "Gateway API CRDs must be 1.4.x with kgateway 2.1.x"))
        if is_chart(r, "llm-d-modelservice"):
            if v[:2] != (0, 4):
                found.append(Violation(r.urn, f"modelservice {r.props.get('version')}: this layout is v0.4.x"))
            if "dra" in chart_values(r):
                found.append(Violation(r.urn, "top-level `dra:` is the v0.3 layout; v0.4 ignores it"))
        if is_chart(r, "/inferencepool"):
            pool = dig(chart_values(r), "inferencePool") or {}
            if "targetPortNumber" in pool and not str(pool.get("apiVersion", "")).endswith("v1alpha2"):
                found.append(Violation(r.urn, "targetPortNumber is ignored under the v1 InferencePool API"))
            tag = dig(chart_values(r), "inferenceExtension", "image", "tag")
            if tag and version(tag)[:2] != v[:2]:
                found.append(Violation(r.urn, f"EPP {tag} with inferencepool chart {r.props.get('version')}"))
    return found


def _shm(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_chart(res, "llm-d-modelservice"):
        return []
    volumes = dig(chart_values(res), "decode", "volumes") or []
    mounts = decode_container(res).get("volumeMounts") or []
    memory = {v.get("name") for v in volumes if dig(v, "emptyDir", "medium") == "Memory"}
    if any(m.get("mountPath") == "/dev/shm" and m.get("name") in memory for m in mounts):
        return []
    return ["the model server has no memory-backed /dev/shm"]


def _startup_budget(res: Res, config: Mapping[str, Any]) -> list[str]:
    if not is_chart(res, "llm-d-modelservice") or "llm-d-inference-sim" in str(decode_container(res).get("image")):
        return []
    probe = decode_container(res).get("startupProbe") or {}
    budget = int(probe.get("periodSeconds") or 10) * int(probe.get("failureThreshold") or 3)
    if budget < int(config["minimumSeconds"]):
        return [f"the startup probe gives the model {budget}s to load (minimum {config['minimumSeconds']}s)"]
    return []


def _loader_ignore_existing(res: Res, config: Mapping[str, Any]) -> list[str]:
    if res.props.get("kind") != "Job" or dig(res.props, "metadata", "labels", "app.kubernetes.io/component") != "model-loader":
        return []
    env = {e.get("name"): e.get("value") for c in dig(res.props, "spec", "template", "spec", "containers") or [] for e in c.get("env") or []}
    return [] if "--ignore-existing" in str(env.get("EXTRA_FLAGS", "")) else ["EXTRA_FLAGS lacks --ignore-existing: a rerun downloads everything again"]


def _route_backends(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    pools = {(resource_namespace(p), p.props.get("name")) for p in _pools(resources)}
    found = []
    for r in resources:
        for obj in k8s_objects(r):
            if obj.get("kind") != "HTTPRoute":
                continue
            namespace = dig(obj, "metadata", "namespace")
            for rule in dig(obj, "spec", "rules") or []:
                for ref in rule.get("backendRefs") or []:
                    if ref.get("kind") != "InferencePool" or ref.get("group") != "inference.networking.k8s.io":
                        found.append(Violation(r.urn, f"backendRef {ref.get('name')!r} is not an InferencePool"))
                    elif (ref.get("namespace") or namespace, ref.get("name")) not in pools:
                        found.append(Violation(r.urn, f"backendRef {ref.get('name')!r} names no InferencePool of this stack"))
    return found


def _monitors_selected(resources: list[Res], config: Mapping[str, Any]) -> list[Violation]:
    releases = [r for r in resources if str(r.props.get("chart", "")).endswith("kube-prometheus-stack")]
    if not releases:
        return []  # an existing Prometheus: its selector is the user's monitorLabels
    release = str(releases[0].props.get("name") or releases[0].name)
    return [
        Violation(r.urn, f"{obj.get('kind')} {dig(obj, 'metadata', 'name')!r} lacks `release: {release}`, "
                  "so kube-prometheus-stack ignores it")
        for r in resources
        for obj in k8s_objects(r)
        if obj.get("kind") in ("PodMonitor", "ServiceMonitor", "PrometheusRule")
        and (dig(obj, "metadata", "labels") or {}).get("release") != release
    ]


RULES = [
    Rule("pool-selects-model-service", "Every InferencePool selects the pods of a model service.", "mandatory",
         "Leave inferencePool.modelServers to the program (it copies the model service's pod labels).",
         stack_check=_pool_selects),
    Rule("pool-targets-vllm-port", "Every InferencePool has exactly one target port, its model server's port.",
         "mandatory", "Drop targetPorts overrides: the port comes from the model service.", stack_check=_pool_port),
    Rule("prefix-scorer-needs-prefix-caching", "The prefix-cache scorer is only used with prefix caching on.",
         "mandatory", "Set models[].engine.prefixCaching: true, or drop prefix-cache-scorer from the profile.",
         stack_check=_prefix_scorer),
    Rule("dra-claim-count", "GPUs claimed per pod equal the tensor parallel size.", "mandatory",
         "Set models[].gpusPerReplica only; do not override parallelism or count.", resource_check=_claim_count),
    Rule("route-timeouts", "Route timeouts are valid Gateway API durations, consistent and not too short.",
         "mandatory", "Set models[].route.timeouts (e.g. 3600s) at or above the policy minimum.",
         resource_check=_route_timeouts, config={"minimum": "60s"}),
    Rule("data-pvc-protected", "PVCs that hold data are protected against deletion and replacement.", "mandatory",
         "Create the PVC with protect=True and retain_on_delete=True.", resource_check=_pvc_protected),
    Rule("rwo-same-node", "Replicas sharing a ReadWriteOnce model PVC are kept on one node.", "mandatory",
         "Keep the program's pod affinity, or use a ReadWriteMany storage class.", stack_check=_same_node),
    Rule("charts-pinned", "Every Helm chart is pinned to an exact version.", "mandatory",
         "Set the chart version to an exact release (no ranges, no empty version).", resource_check=_charts_pinned),
    Rule("epp-metric-names", "EPP metric-name flags name metrics the serving engine emits.", "mandatory",
         "Let the program derive them from the engine, or fix scheduling.extraFlags.", stack_check=_epp_metrics),
    Rule("epp-flags-render-safely", "No boolean EPP flags through an inferencepool chart older than v1.6.0.",
         "mandatory", "Remove the boolean flag or upgrade the chart.", resource_check=_epp_flags),
    Rule("versions-in-guard-table", "Chart and CRD versions stay inside the known-good combinations.", "mandatory",
         "See the version guard table in the README.", stack_check=_versions),
    Rule("model-server-shm", "Model servers get a memory-backed /dev/shm.", "advisory",
         "Keep models[].shmSize (the program mounts an emptyDir with medium Memory).", resource_check=_shm),
    Rule("startup-probe-budget", "Model servers get enough time to load before their startup probe fails.",
         "advisory", "Raise models[].startupTimeoutSeconds.", resource_check=_startup_budget,
         config={"minimumSeconds": 600}),
    Rule("loader-ignore-existing", "The ModelKit loader keeps --ignore-existing so reruns skip unpacked files.",
         "mandatory", "Keep EXTRA_FLAGS=--ignore-existing on the kitops-init container.",
         resource_check=_loader_ignore_existing),
    Rule("monitors-selected", "Monitors and rules carry the label the installed Prometheus selects.", "mandatory",
         "Label them `release: <monitoring.prometheus.releaseName>` (the program does).", stack_check=_monitors_selected),
    Rule("routes-target-pools", "Every HTTPRoute backend is an InferencePool of this stack.", "mandatory",
         "Route to the pool the program creates for the model.", stack_check=_route_backends),
]
