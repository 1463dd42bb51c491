"""Composition: one provider, the namespaces, every component in dependency order, the stack exports.

This is the program `pulumi up` runs (through `__main__.py`) and the offline engine runs under mocks. It maps the
typed config onto each component's own args; components meet only through each other's outputs.
"""

from __future__ import annotations

import dataclasses

import pulumi
import pulumi_kubernetes as k8s

from components.routing.body_routing import BodyBasedRouter, BodyBasedRouterArgs
from components.routing.contract import BodyProcessor, EppImage, EppPluginSpec, EppProfileSpec, InferencePoolArgs
from components.routing.gateway import (
    MODEL_GATEWAY_PORT,
    InferenceGateway,
    InferenceGatewayArgs,
    PoolRoute,
    RouteTimeouts,
    base_url,
    model_gateway_name,
)
from components.certificates import GatewayCertificate, GatewayCertificateArgs, Issuer
from components.gpu import GpuSelector, IntelGpuDra, IntelGpuDraArgs
from components.routing import POOL_LINES, PROVIDERS
from components.routing.contract import GatewayProvider, ListenerLimits, RateLimit
from components.routing.pool import InferenceExtensionCrds, InferencePool
from components.meta import namespace as meta_namespace
from components.meta import object_meta
from components.modelkit import Cosign, ModelKitCache, ModelKitCacheArgs, RegistryAccess
from components.network import (
    ClusterNetwork,
    NamespaceIsolation,
    NamespaceIsolationArgs,
    ServingNetworkPolicies,
    ServingNetworkPoliciesArgs,
)
from components.monitoring import (
    BodyRouterTarget,
    grafana_service,
    ExistingPrometheus,
    GpuExporter,
    InstallPrometheus,
    Monitoring,
    MonitoringArgs,
    ServingTarget,
)
from components.modelservice import CONTAINER, ApiKeyRef, Engine, ModelService, ModelServiceArgs, Resources

from .capacity import capacity_warnings
from .compat import deployed_problems, guard_warnings
from .config import ConfigError, GatewayConfig, KgatewayListenerLimitsConfig, LoadedStack, ModelConfig, StackConfig
from .lifecycle import keeps_cache, lifecycle_problems, lifecycle_warnings
from .topology import Problem, body_based_routing, gateway_service_ports, routed_by_body, serving

API_KEY_FIELD = "api-key"


def kubernetes_provider(cfg: StackConfig) -> k8s.Provider:
    """The one explicit provider: default providers are disabled in every stack file."""
    return k8s.Provider(
        "k8s",
        kubeconfig=cfg.cluster.kubeconfig,
        context=cfg.cluster.context,
        # Server-side apply lets charts and this program co-own fields without conflicts.
        enable_server_side_apply=True,
    )


def monitor_labels(cfg: StackConfig) -> dict[str, str] | None:
    """Labels a PodMonitor/ServiceMonitor needs so the chosen Prometheus selects it; None without monitoring."""
    if not cfg.monitoring.enabled:
        return None
    prometheus = cfg.monitoring.prometheus
    if prometheus.mode == "install":
        # kube-prometheus-stack selects monitors labelled `release: <release>` by default.
        return {"release": prometheus.release_name}
    return dict(prometheus.monitor_labels)


def modelkit_reference(cfg: StackConfig, model: ModelConfig) -> str:
    kit = model.model_kit
    assert kit is not None
    base = f"{cfg.registry.host}/{kit.project or cfg.registry.project}/{kit.repository}"
    return f"{base}@{kit.digest}" if kit.digest else f"{base}:{kit.tag}"


def model_cache(
    cfg: StackConfig, loaded: LoadedStack, model: ModelConfig, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> ModelKitCache:
    kit = model.model_kit
    token = loaded.secrets.registry_token
    retired = model.state == "retired"  # the PVC only: nothing is pulled, so no token is needed
    assert kit is not None and (token is not None or retired)  # parse_config requires both for a serving ModelKit
    cosign = cfg.loader.cosign
    return ModelKitCache(
        f"{model.name}-cache",
        ModelKitCacheArgs(
            namespace=namespace,
            model=model.name,
            modelkit_ref=modelkit_reference(cfg, model),
            version=kit.version,
            size=model.cache.size,
            storage_class=model.cache.storage_class,
            access_mode=model.cache.access_mode,
            loader_image=cfg.loader.image,
            registry=None if retired else RegistryAccess(cfg.registry.host, cfg.registry.robot_account, token,
                                                         cfg.registry.ca_cert, cfg.registry.tls),
            cosign=Cosign(cosign.public_key, cosign.cert_identity, cosign.cert_oidc_issuer) if cosign else None,
            node_selector=dict(cfg.gpu.node_selector) if model.engine.kind != "sim" else None,
            path_in_kit=kit.model_path,
            retired=retired,
        ),
        opts=opts,
    )


def grafana_access(cfg: StackConfig) -> dict[str, str] | None:
    """Grafana has no route of its own (it stays inside the cluster): its Service, and the port-forward that opens it."""
    prometheus = cfg.monitoring.prometheus
    if not (cfg.monitoring.enabled and prometheus.mode == "install" and cfg.monitoring.grafana):
        return None
    service = grafana_service(prometheus.release_name)
    return {
        "service": f"http://{service}.{prometheus.namespace}.svc.cluster.local",
        "portForward": f"kubectl -n {prometheus.namespace} port-forward service/{service} 3000:80",
        "url": "http://localhost:3000",
        "user": "admin",
    }


def registry_ports(host: str) -> tuple[int, ...]:
    """The registry's port when `registry.host` names one (`harbor:8443`), else HTTPS and HTTP."""
    _, _, port = host.rpartition(":")
    return (int(port),) if port.isdigit() and ":" in host else (443, 80)


def api_key_warnings(cfg: StackConfig, loaded: LoadedStack) -> list[str]:
    """An API left open on purpose, or a key the simulator cannot use, said before deploy."""
    engines = {m.engine.kind for _, m in serving(cfg)}
    if loaded.secrets.api_key is None and engines - {"sim"}:
        return ["gateway.openAccess: the inference API is open to whoever reaches the gateway (no apiKey)"]
    if loaded.secrets.api_key is not None and "sim" in engines:
        return ["apiKey: the inference simulator (engine.kind: sim) has no API key support and serves without it"]
    return []


def listener_limits(gateway: GatewayConfig) -> ListenerLimits:
    rate = gateway.limits.rate_limit
    return ListenerLimits(
        idle_timeout=gateway.limits.idle_timeout,
        stream_idle_timeout=gateway.limits.stream_idle_timeout
        if isinstance(gateway.limits, KgatewayListenerLimitsConfig) else None,
        rate_limit=RateLimit(rate.requests, rate.unit, rate.burst) if rate else None,
    )


def xds_warnings(cfg: StackConfig) -> list[str]:
    """kgateway's xDS (the proxies' whole configuration, listener keys included) is TLS only with a certificate from
    cert-manager, which the `certificates` section installs."""
    if cfg.gateway.provider == "kgateway" and not cfg.certificates.enabled:
        return ["certificates.enabled: false: kgateway's xDS (port 9977) stays plaintext inside the cluster; with "
                "certificates enabled the program issues its certificate and turns on controller.xds.tls"]
    return []


def placement_warnings(cfg: StackConfig) -> list[str]:
    """A node-local model volume bound away from the GPUs: it deploys, and the model pods then stay Pending."""
    if cfg.gpu.node_selector:
        return []
    return [
        f"models[{i}].cache.accessMode: {model.cache.access_mode} without gpu.nodeSelector: the loader Job may run on a "
        "node without a GPU and bind the node-local volume (k3s local-path) there; the model pods must run where the "
        "volume is and would stay Pending. Set gpu.nodeSelector to your GPU nodes' label"
        for i, model in serving(cfg)
        if model.engine.kind != "sim" and model.cache.access_mode != "ReadWriteMany"
    ]


def api_key_secret(loaded: LoadedStack, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> ApiKeyRef | None:
    """The Secret holding the secret config `apiKey`, which every model server reads as VLLM_API_KEY; None without."""
    if loaded.secrets.api_key is None:
        return None
    secret = k8s.core.v1.Secret(
        "api-key",
        metadata=object_meta("llm-d-api-key", namespace, "api-key"),
        type="Opaque",
        string_data={API_KEY_FIELD: pulumi.Output.secret(loaded.secrets.api_key)},
        opts=opts,
    )
    return ApiKeyRef(secret.metadata.name, API_KEY_FIELD)


def model_service(
    cfg: StackConfig,
    model: ModelConfig,
    namespace: pulumi.Input[str],
    gpu: IntelGpuDra | None,
    cache: ModelKitCache | None,
    opts: pulumi.ResourceOptions,
    api_key: ApiKeyRef | None = None,
) -> ModelService:
    engine = model.engine
    waits_for: list[pulumi.Resource] = [r for r in (gpu, cache) if r is not None]
    return ModelService(
        model.name,
        ModelServiceArgs(
            namespace=namespace,
            model=model.name,
            served_name=model.served_name,
            chart_version=cfg.model_service.chart_version,
            engine=Engine(
                kind=engine.kind,
                image=engine.resolved_image,
                dtype=engine.dtype,
                prefix_caching=engine.prefix_caching,
                max_model_len=engine.max_model_len,
                extra_args=tuple(engine.extra_args),
                run_as=(engine.run_as.user, engine.run_as.render_group) if engine.run_as else None,
            ),
            replicas=model.replicas,
            gpus_per_replica=model.gpus_per_replica,
            resources=Resources(
                requests=model.resources.requests.model_dump(), limits=model.resources.limits.model_dump()
            ),
            shm_size=model.shm_size,
            startup_timeout_seconds=model.startup_timeout_seconds,
            device_class=gpu.device_class if gpu and engine.kind != "sim" else None,
            device_selectors=gpu.selectors if gpu and engine.kind != "sim" else None,
            claim_name=cache.claim_name if cache else None,
            model_path=cache.model_path if cache else None,
            same_node=cache is not None and model.cache.access_mode == "ReadWriteOnce" and model.replicas > 1,
            pod_monitor_labels=None,  # the Monitoring component owns the monitors
            node_selector=dict(cfg.gpu.node_selector) if engine.kind != "sim" else {},
            api_key=api_key,
            extra_values=model.extra_values,
        ),
        # Model pods wait for the GPU driver and for their model on the PVC, nothing else.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=waits_for)),
    )


def inference_pool(
    cfg: StackConfig,
    model: ModelConfig,
    service: ModelService,
    namespace: pulumi.Input[str],
    crds: InferenceExtensionCrds,
    opts: pulumi.ResourceOptions,
) -> InferencePool:
    scheduling = cfg.scheduling
    resources = scheduling.epp_resources
    return InferencePool(
        f"{model.name}-pool",
        POOL_LINES[scheduling.chart],
        InferencePoolArgs(
            namespace=namespace,
            release=f"{model.name}-pool",
            chart_version=scheduling.chart_version,
            epp_image=EppImage.parse(scheduling.epp_image),
            epp_replicas=scheduling.epp_replicas,
            plugins=tuple(EppPluginSpec(p.type, p.name, dict(p.parameters)) for p in scheduling.plugins),
            profiles=tuple(
                EppProfileSpec(p.name, tuple((ref.plugin_ref, ref.weight) for ref in p.plugins)) for p in scheduling.profiles
            ),
            pod_labels=service.pod_labels,
            target_port=service.port,
            metrics_generation=service.metrics_generation,
            extra_flags={k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in scheduling.extra_flags.items()},
            epp_resources={"requests": resources.requests.model_dump(), "limits": resources.limits.model_dump()},
            monitor_labels=None,  # the Monitoring component owns the monitors (and the EPP metrics token)
            extra_values=scheduling.extra_values,
        ),
        # The EPP watches InferencePools and InferenceObjectives: their CRDs come first.
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[crds])),
    )


def route(cfg: StackConfig, model: ModelConfig, pool: InferencePool) -> PoolRoute:
    by_body = routed_by_body(cfg, model)
    return PoolRoute(
        name=model.name,
        pool_name=pool.pool_name,
        pool_group=pool.pool_group,
        pool_kind=pool.pool_kind,
        path_prefix=model.route.path_prefix,
        hostnames=tuple(model.route.hostnames),
        model_header=model.served_name if model.route.match_model_header or by_body else None,
        fallback=by_body and model.name == cfg.gateway.default_model,
        timeouts=RouteTimeouts(model.route.timeouts.request, model.route.timeouts.backend_request),
        waits_for=(pool,),
    )


def cluster_network(cfg: StackConfig) -> ClusterNetwork:
    return ClusterNetwork(tuple(cfg.cluster.api_server.cidrs), cfg.cluster.api_server.port)


def body_router(cfg: StackConfig, namespace: pulumi.Input[str], provider: GatewayProvider,
                opts: pulumi.ResourceOptions) -> BodyBasedRouter:
    bbr = cfg.gateway.bbr
    return BodyBasedRouter(
        "body-router",
        BodyBasedRouterArgs(
            namespace=namespace,
            chart_version=bbr.chart_version,
            image=bbr.image,
            replicas=bbr.replicas,
            requests={"cpu": bbr.resources.requests.cpu, "memory": bbr.resources.requests.memory},
            limits={"cpu": bbr.resources.limits.cpu, "memory": bbr.resources.limits.memory},
            gateway_pod_labels=provider.proxy_pod_labels(cfg.gateway.name),
            network_policies=cfg.cluster.network_policies,
            prometheus_namespace=cfg.monitoring.prometheus.namespace if cfg.monitoring.enabled else None,
            network=cluster_network(cfg),
        ),
        opts=opts,
    )


READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"  # what a stack reference reads, as a synchronous invoke


def certificate_authority(certificate: GatewayCertificate | None) -> dict[str, str] | None:
    if certificate is None or certificate.ca_secret is None:
        return None
    namespace, secret = certificate.ca_secret
    return {"secret": f"{namespace}/{secret}",
            "fetch": f"kubectl -n {namespace} get secret {secret} -o jsonpath='{{.data.ca\\.crt}}' | base64 -d > llmd-homelab-ca.crt"}


def gateway_certificate(cfg: StackConfig, namespace: pulumi.Input[str], opts: pulumi.ResourceOptions) -> GatewayCertificate:
    certs = cfg.certificates
    hostnames = sorted({host for model in cfg.models for host in model.route.hostnames})
    return GatewayCertificate(
        "certificate",
        GatewayCertificateArgs(
            gateway_name=cfg.gateway.name,
            namespace=namespace,
            dns_names=tuple(dict.fromkeys([*certs.dns_names, *hostnames])),
            ip_addresses=tuple(certs.ip_addresses),
            issuer=Issuer(certs.issuer.kind, certs.issuer.name) if certs.issuer else None,
            install=certs.install,
            chart_version=certs.chart_version,
            cert_manager_namespace=certs.namespace,
            ca_common_name=certs.ca_common_name,
            network=cluster_network(cfg) if cfg.cluster.network_policies else None,
        ),
        opts=opts,
    )


def deployed_outputs() -> dict:
    """This stack's outputs from its last update ({} before the first), read from the backend by the engine's
    builtin `readStackOutputs` (what stack references read; Pulumi's Node SDK calls it the same way)."""
    this_stack = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": this_stack})
    except Exception as exc:  # the backend's error, whatever its type: said, not swallowed
        raise ConfigError([Problem("(stack)", f"cannot read {this_stack}'s outputs ({exc}): the checks against its "
                                   "last update (Gateway API one-way, Gateway moves, deployed model caches) cannot run")]) from None
    return dict((result.value or {}).get("outputs") or {})


def monitoring(
    cfg: StackConfig,
    loaded: LoadedStack,
    gpu: IntelGpuDra | None,
    services: dict[str, ModelService],
    pools: dict[str, InferencePool],
    opts: pulumi.ResourceOptions,
    router: BodyBasedRouter | None = None,
) -> Monitoring:
    prom = cfg.monitoring.prometheus
    exporter_cfg = cfg.monitoring.exporter
    prometheus: InstallPrometheus | ExistingPrometheus
    if prom.mode == "install":
        prometheus = InstallPrometheus(
            namespace=prom.namespace,
            release=prom.release_name,
            chart_version=prom.chart_version,
            retention=prom.retention,
            storage_size=prom.storage_size,
            storage_class=prom.storage_class,
            grafana=cfg.monitoring.grafana,
            grafana_password=loaded.secrets.grafana_admin_password,
            embedded_control_plane=cfg.cluster.distribution == "k3s",
        )
    else:
        prometheus = ExistingPrometheus(namespace=prom.namespace)
    exporter = None
    if gpu is not None and exporter_cfg.enabled:
        exporter = GpuExporter(
            generation=exporter_cfg.generation,
            image=exporter_cfg.resolved_image,
            namespace=exporter_cfg.namespace,
            chart_version=exporter_cfg.chart_version,
            device_class=gpu.device_class,
            node_selector=dict(cfg.gpu.node_selector),
        )
    targets = tuple(
        ServingTarget(
            model=model.name,
            served_name=model.served_name,
            namespace=cfg.cluster.namespace,
            pod_labels=services[model.name].pod_labels,
            port_name=CONTAINER,
            generation=model.engine.metrics_generation,
            pool_name=f"{model.name}-pool",
            loads_model=model.model_kit is not None,
            waits_for=(pools[model.name],),
            epp_metrics_auth=pools[model.name].metrics_auth,
            epp_ready_series=pools[model.name].epp_metrics.ready_endpoints,
        )
        for model in cfg.models
    )
    return Monitoring(
        "monitoring",
        MonitoringArgs(
            prometheus=prometheus,
            monitor_labels=monitor_labels(cfg) or {},
            serving_namespace=cfg.cluster.namespace,
            targets=targets,
            exporter=exporter,
            body_router=BodyRouterTarget(cfg.cluster.namespace, router.pod_labels, (router,)) if router else None,
            network=cluster_network(cfg) if cfg.cluster.network_policies else None,
            serving_scrape_targets=(
                *((services[m.name].pod_labels, services[m.name].port) for m in cfg.models),
                *((pools[m.name].epp_pod_labels, pools[m.name].epp_ports[1]) for m in cfg.models),
                *(((router.pod_labels, router.metrics_port),) if router else ()),
            ),
        ),
        opts=opts,
    )


def build(loaded: LoadedStack) -> None:
    cfg = loaded.config
    # What the stack's last update makes impossible now: refused before any resource is registered.
    deployed = deployed_outputs()
    project, stack = pulumi.get_project(), pulumi.get_stack()
    problems = [*deployed_problems(deployed, cfg), *lifecycle_problems(deployed, cfg, project, stack)]
    if problems:
        raise ConfigError(problems)
    for warning in guard_warnings(cfg):
        pulumi.log.warn(str(warning))
    for warning in [*api_key_warnings(cfg, loaded), *xds_warnings(cfg), *placement_warnings(cfg), *capacity_warnings(cfg),
                    *lifecycle_warnings(deployed, cfg, project, stack)]:
        pulumi.log.warn(warning)
    provider = kubernetes_provider(cfg)
    opts = pulumi.ResourceOptions(providers={"kubernetes": provider})

    # Deleting a namespace deletes what is in it, "retained" PVCs too: one that holds the model caches is kept as
    # they are (protected against deletion and replacement, retained by a destroy).
    holds_data = any(keeps_cache(model) for model in cfg.models)
    serving_namespace = meta_namespace(
        "serving-namespace", cfg.cluster.namespace, "serving", "baseline",
        pulumi.ResourceOptions(provider=provider, protect=holds_data, retain_on_delete=holds_data),
    )
    namespace = serving_namespace.metadata.name

    # A retired model keeps only its cache PVC, registered as when it served; from here on `cfg.models` is the
    # serving models, so nothing else (loader, model service, pool, route, policies, monitors) sees a retired one.
    caches: dict[str, ModelKitCache | None] = {
        model.name: model_cache(cfg, loaded, model, namespace, opts)
        for model in cfg.models if model.state == "retired" and model.model_kit}
    cfg = cfg.model_copy(update={"models": [model for _, model in serving(cfg)]})

    gpu = None
    if cfg.gpu.enabled:
        gpu = IntelGpuDra(
            "gpu",
            IntelGpuDraArgs(
                namespace=cfg.gpu.driver.namespace,
                chart_version=cfg.gpu.driver.chart_version,
                health_monitoring=cfg.gpu.driver.health_monitoring,
                selector=GpuSelector(cfg.gpu.selection.model, cfg.gpu.selection.min_memory),
                node_selector=dict(cfg.gpu.node_selector),
                network=cluster_network(cfg) if cfg.cluster.network_policies else None,
            ),
            opts=opts,
        )

    gateway_cfg = cfg.gateway
    gateway_provider = PROVIDERS[gateway_cfg.provider](
        version=gateway_cfg.controller_version,
        namespace=gateway_cfg.controller_namespace,
        class_name=gateway_cfg.class_name,
        service_type=gateway_cfg.service_type,
    )
    gaie_crds = InferenceExtensionCrds("inference-extension-crds", POOL_LINES[cfg.scheduling.chart],
                                       cfg.scheduling.chart_version, opts=opts)
    api_key = api_key_secret(loaded, namespace, opts)
    services: dict[str, ModelService] = {}
    pools: dict[str, InferencePool] = {}
    routes: list[PoolRoute] = []
    # The Gateway whose proxy reaches the pools: an internal one behind the public one when the provider runs the
    # body-based router only after a route is chosen (kgateway 2.1).
    two_gateways = body_based_routing(cfg) and not gateway_provider.processor_before_routing
    model_gateway = model_gateway_name(gateway_cfg.name) if two_gateways else gateway_cfg.name
    for model in cfg.models:
        cache = caches[model.name] = model_cache(cfg, loaded, model, namespace, opts) if model.model_kit else None
        services[model.name] = model_service(cfg, model, namespace, gpu, cache, opts, api_key)
        pool = pools[model.name] = inference_pool(cfg, model, services[model.name], namespace, gaie_crds, opts)
        routes.append(route(cfg, model, pool))
        if cfg.cluster.network_policies:
            ServingNetworkPolicies(
                f"{model.name}-network",
                ServingNetworkPoliciesArgs(
                    namespace=namespace,
                    model=model.name,
                    model_pod_labels=services[model.name].pod_labels,
                    model_port=services[model.name].port,
                    epp_pod_labels=pool.epp_pod_labels,
                    epp_ports=pool.epp_ports,
                    gateway_pod_labels=gateway_provider.proxy_pod_labels(model_gateway),
                    prometheus_namespace=cfg.monitoring.prometheus.namespace if cfg.monitoring.enabled else None,
                    loader_pod_labels=cache.loader_pod_labels if cache else None,
                    registry_cidrs=tuple(cfg.registry.cidrs),
                    registry_ports=registry_ports(cfg.registry.host),
                    network=cluster_network(cfg),
                ),
                opts=opts,
            )

    router = body_router(cfg, namespace, gateway_provider, opts) if body_based_routing(cfg) else None
    if cfg.cluster.network_policies:
        NamespaceIsolation(
            "serving-isolation",
            NamespaceIsolationArgs(
                namespace=namespace,
                gateway_pod_labels=gateway_provider.proxy_pod_labels(gateway_cfg.name),
                gateway_ports=gateway_service_ports(cfg),
                control_plane=gateway_provider.control_plane(),
                # A model header matched without the program's router: the user's ext-proc, at an unknown address.
                limit_proxy_egress=router is not None or not any(m.route.match_model_header for m in cfg.models),
                backends=tuple(
                    backend
                    for model in cfg.models
                    for backend in ((pools[model.name].epp_pod_labels, pools[model.name].epp_ports[0]),
                                    (services[model.name].pod_labels, services[model.name].port))
                ),
                processors=((router.pod_labels, router.port),) if router else (),
                model_gateway=(gateway_provider.proxy_pod_labels(model_gateway), MODEL_GATEWAY_PORT) if two_gateways else None,
            ),
            opts=opts,
        )

    certificate = gateway_certificate(cfg, namespace, opts) if cfg.certificates.enabled else None
    if certificate is not None and gateway_provider.xds_tls_from_cert_manager:
        gateway_provider = dataclasses.replace(gateway_provider, xds_tls_after=tuple(certificate.cert_manager_ready))
    gateway = InferenceGateway(
        "gateway",
        InferenceGatewayArgs(
            namespace=namespace,
            name=gateway_cfg.name,
            port=gateway_cfg.port,
            tls_secret=certificate.secret_name if certificate else gateway_cfg.tls.secret_name,
            tls_port=gateway_cfg.tls.port,
            allow_http=gateway_cfg.tls.allow_http,
            gateway_api_version=gateway_cfg.gateway_api_version,
            provider=gateway_provider,
            routes=tuple(routes),
            crds_before_controller=(gaie_crds,),
            body_processor=BodyProcessor(router.service_name, router.port, (router,)) if router else None,
            api_key_secret=api_key.secret_name if api_key else None,
            tls_waits_for=(certificate,) if certificate else (),
            limits=listener_limits(gateway_cfg),
            network=cluster_network(cfg) if cfg.cluster.network_policies else None,
        ),
        opts=opts,
    )

    if cfg.monitoring.enabled:
        monitoring(cfg, loaded, gpu, services, pools, opts, router)

    # What a user reaches for: where clients connect, each model's base URL, how to open Grafana.
    client_listener = next((lst for lst in gateway.listeners if lst["protocol"] == "HTTPS"), gateway.listeners[0])
    certificate_names = list(cfg.certificates.dns_names) if certificate else []
    pulumi.export("namespace", namespace)
    pulumi.export("gateway", gateway.gateway_name)
    # What the next update checks its changes against (deployed_problems).
    pulumi.export("gatewayApiVersion", gateway_cfg.gateway_api_version)
    pulumi.export("gatewayClass", gateway_cfg.class_name)
    pulumi.export("gatewayAddress", gateway.address)
    pulumi.export("deviceClass", gpu.device_class if gpu else None)
    pulumi.export(
        "models",
        {
            model.name: {
                "servedName": services[model.name].served_name,
                "podLabels": services[model.name].pod_labels,
                "port": services[model.name].port,
                "metricsGeneration": services[model.name].metrics_generation,
                # The route's first hostname (clients must send it), else the name the certificate covers (TLS
                # verifies it), else the Gateway's address; null until known.
                "baseUrl": gateway.address.apply(lambda address, model=model: base_url(
                    client_listener, (model.route.hostnames or certificate_names or [address])[0],
                    model.route.path_prefix)),
            }
            for model in cfg.models
        },
    )
    # Every model cache the stack holds, serving or retired: the next update refuses to drop one unannounced
    # (lifecycle_problems) and names the PVC and its URN in the way out.
    pulumi.export("modelCaches", {
        name: {"state": "retired" if name not in services else "serving", "namespace": cfg.cluster.namespace,
               "pvc": cache.claim_name, "urn": cache.claim.urn}
        for name, cache in caches.items() if cache is not None
    })
    pulumi.export("grafana", grafana_access(cfg))
    # The homelab CA clients must trust (None: the certificate comes from elsewhere).
    pulumi.export("certificateAuthority", certificate_authority(certificate))
