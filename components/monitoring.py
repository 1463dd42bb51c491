"""Monitoring: GPU exporter, Prometheus (installed or existing), monitors for vLLM and the EPP, alerts, dashboard.

One args object drives the whole composition and each part can be swapped (kube-prometheus style): an existing
Prometheus instead of kube-prometheus-stack, XPU Manager v1 or v2. Monitors live here, not in the serving charts,
so model pods never wait for the Prometheus CRDs.

kube-prometheus-stack and the xpumd chart are `helm.v4.Chart`s: a preview shows every object they deploy, CrossGuard
judges each, and the CRDs kube-prometheus-stack carries are applied again when its version moves. helm.v4.Chart drops
Helm hooks (the provider renders with DisableHooks), so the chart's admission-webhook certificate Jobs never run: the
program turns that webhook (and the operator's TLS, whose certificate those Jobs make) off instead of deploying a
webhook whose Secret nobody creates.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .alerts import ServedModel, rule_groups
from . import helm
from .chart_sources import KUBE_PROMETHEUS_STACK, XPUMD
from .dashboard import dashboard_json
from .meta import labels, object_meta, spec_hash
from .network import (PROMETHEUS_POD_LABELS, ClusterNetwork, PodFlows, egress_to, fence_namespace, ingress_from, pods,
                      pods_in)
from .network import prometheus as prometheus_peer
from .meta import namespace as meta_namespace

MONITORING_API = "monitoring.coreos.com/v1"
XPUM_V1_PORT = 29999
XPUMD_PORT = 8080
GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"


@dataclass(frozen=True)
class InstallPrometheus:
    namespace: str
    release: str
    chart_version: str
    retention: str
    storage_size: str
    storage_class: str | None
    grafana: bool
    grafana_password: pulumi.Input[str] | None  # a secret Output
    # k3s runs controller-manager, scheduler, proxy and etcd inside its own process: nothing to scrape there.
    embedded_control_plane: bool = False


# The kube-prometheus-stack parts that scrape control-plane components, and the default rule groups alerting on them.
CONTROL_PLANE_SCRAPES = ("kubeControllerManager", "kubeScheduler", "kubeProxy", "kubeEtcd")
CONTROL_PLANE_RULES = ("kubeControllerManager", "kubeSchedulerAlerting", "kubeSchedulerRecording", "kubeProxy", "etcd")


@dataclass(frozen=True)
class ExistingPrometheus:
    namespace: str


@dataclass(frozen=True)
class GpuExporter:
    generation: str  # v1 | v2
    image: str
    namespace: str
    chart_version: str  # xpumd chart (v2)
    device_class: pulumi.Input[str]  # from the GPU driver component
    node_selector: dict[str, str] | None = None  # the GPU nodes: the admin-access claim needs a GPU on the node


@dataclass(frozen=True)
class ServingTarget:
    """One model service and its pool, as the monitors, alerts and dashboard see them (component outputs)."""

    model: str
    served_name: str
    namespace: pulumi.Input[str]
    pod_labels: pulumi.Input[dict[str, str]]
    port_name: str
    generation: str
    pool_name: str
    loads_model: bool
    epp_ready_series: str  # the EPP line's ready-endpoints series (InferencePool.epp_metrics)
    waits_for: tuple[pulumi.Resource, ...] = ()
    epp_metrics_auth: bool = False  # the EPP guards /metrics with a token (InferencePool.metrics_auth)


@dataclass(frozen=True)
class BodyRouterTarget:
    """GAIE's body-based router: metrics on its `metrics` port, behind a token check it cannot turn off."""

    namespace: pulumi.Input[str]
    pod_labels: dict[str, str]
    waits_for: tuple[pulumi.Resource, ...] = ()


@dataclass(frozen=True)
class MonitoringArgs:
    prometheus: InstallPrometheus | ExistingPrometheus
    monitor_labels: dict[str, str]
    serving_namespace: str
    targets: tuple[ServingTarget, ...]
    exporter: GpuExporter | None = None
    body_router: BodyRouterTarget | None = None
    network: ClusterNetwork | None = None  # None: no NetworkPolicies in the monitoring and exporter namespaces
    # (pod labels, port) Prometheus scrapes in the serving namespace: model pods, EPPs, the body-based router
    serving_scrape_targets: tuple[tuple[pulumi.Input[dict[str, str]], pulumi.Input[int]], ...] = ()


# kube-prometheus-stack's pods as its charts label them, and the ports their ServiceMonitors scrape.
GRAFANA_PODS = {"app.kubernetes.io/name": "grafana"}
ALERTMANAGER_PODS = {"app.kubernetes.io/name": "alertmanager"}
KUBE_STATE_METRICS_PODS = {"app.kubernetes.io/name": "kube-state-metrics"}
PROMETHEUS_PORT, ALERTMANAGER_PORT, GRAFANA_PORT, RELOADER_PORT, HTTP_METRICS_PORT = 9090, 9093, 3000, 8080, 8080
KUBELET_PORT, COREDNS_METRICS_PORT = 10250, 9153
# kube-controller-manager, kube-scheduler, etcd and kube-proxy on the nodes (host network) of a cluster that runs them
# as pods (kubeadm, kind); k3s embeds them and the program turns their scrapes off.
CONTROL_PLANE_METRICS_PORTS = (10257, 10259, 2381, 10249)


def operator_pods(release: str) -> dict[str, str]:
    """The chart's `app` label comes from the chart's name, not the release: select by component and release."""
    return {"app.kubernetes.io/component": "prometheus-operator", "release": release}


def exporter_pods(exporter: GpuExporter) -> tuple[dict[str, str], int]:
    """The exporter's pods and metrics port (xpumd's Prometheus exporter listens on :8080)."""
    return ({"app.kubernetes.io/name": "xpumd"}, XPUMD_PORT) if exporter.generation == "v2" else (
        {"app": "intel-xpumanager"}, XPUM_V1_PORT)


def monitoring_flows(p: InstallPrometheus, args: MonitoringArgs, network: ClusterNetwork) -> list[PodFlows]:
    """Prometheus scrapes (and discovers through the API); Grafana reads Prometheus and Alertmanager; the operator,
    kube-state-metrics and Grafana's sidecars talk to the API server; Alertmanager sends nowhere (no receiver is
    configured). Nothing else reaches in: Grafana is opened with `kubectl port-forward`, which enters the pod's own
    network namespace and is not subject to NetworkPolicy."""
    scrape = [
        network.api_egress(),  # service discovery, and the API server's own metrics
        egress_to([pods({})], PROMETHEUS_PORT, RELOADER_PORT, ALERTMANAGER_PORT, GRAFANA_PORT, HTTP_METRICS_PORT),
        egress_to([pods_in("kube-system", {"k8s-app": "kube-dns"})], COREDNS_METRICS_PORT),
        egress_to(None, KUBELET_PORT),  # every node's kubelet, at node addresses this program does not know
    ]
    if not p.embedded_control_plane:
        scrape.append(egress_to(None, *CONTROL_PLANE_METRICS_PORTS))
    scrape.extend(egress_to([pods_in(args.serving_namespace, labels_)], port) for labels_, port in args.serving_scrape_targets)
    if args.exporter is not None:
        labels_, port = exporter_pods(args.exporter)
        scrape.append(egress_to([pods_in(args.exporter.namespace, labels_)], port))
    prometheus = [pods(PROMETHEUS_POD_LABELS)]
    grafana = [pods(GRAFANA_PODS)]
    return [
        PodFlows("prometheus", PROMETHEUS_POD_LABELS, egress=tuple(scrape),
                 ingress=(ingress_from(grafana, PROMETHEUS_PORT), ingress_from(prometheus, PROMETHEUS_PORT),
                          ingress_from(prometheus, RELOADER_PORT))),
        PodFlows("alertmanager", ALERTMANAGER_PODS,
                 ingress=(ingress_from([*prometheus, *grafana], ALERTMANAGER_PORT),
                          ingress_from(prometheus, RELOADER_PORT))),
        PodFlows("grafana", GRAFANA_PODS, ingress=(ingress_from(prometheus, GRAFANA_PORT),),
                 egress=(network.api_egress(), egress_to(prometheus, PROMETHEUS_PORT),
                         egress_to([pods(ALERTMANAGER_PODS)], ALERTMANAGER_PORT))),
        PodFlows("kube-state-metrics", KUBE_STATE_METRICS_PODS, ingress=(ingress_from(prometheus, HTTP_METRICS_PORT),),
                 egress=(network.api_egress(),)),
        PodFlows("operator", operator_pods(p.release), ingress=(ingress_from(prometheus, HTTP_METRICS_PORT),),
                 egress=(network.api_egress(),)),
    ]


def prometheus_claim_name(release: str) -> str:
    """The PVC the Prometheus StatefulSet adopts: `<claim template>-prometheus-<Prometheus name>-0`."""
    return f"prometheus-db-prometheus-{release}-prometheus-0"


def grafana_service(release: str) -> str:
    """The Service kube-prometheus-stack's grafana subchart makes (`fullnameOverride: <release>`), on port 80."""
    return f"{release}-grafana"


def grafana_role_name(release: str) -> str:
    return f"{release}-grafana-configmaps"


def kube_prometheus_values(p: InstallPrometheus, admin_secret: pulumi.Input[str] | None) -> dict:
    grafana: dict = {"enabled": p.grafana}
    if p.grafana:
        grafana.update(
            admin={"existingSecret": admin_secret, "userKey": "admin-user", "passwordKey": "admin-password"},
            # Dashboards and datasources come from ConfigMaps in the monitoring namespace: the sidecars look there
            # only, for ConfigMaps only, and Grafana is bound to the program's Role that reads ConfigMaps there (the
            # chart's own Role always adds every Secret of the namespace).
            sidecar={"dashboards": {"enabled": True, "label": GRAFANA_DASHBOARD_LABEL, "labelValue": "1",
                                    "searchNamespace": p.namespace, "resource": "configmap"},
                     "datasources": {"resource": "configmap"}},
            rbac={"namespaced": True, "useExistingRole": grafana_role_name(p.release)},
        )
    claim_spec: dict = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": p.storage_size}}}
    if p.storage_class:
        claim_spec["storageClassName"] = p.storage_class
    return {
        "fullnameOverride": p.release,  # fixes the Prometheus name, hence the PVC name
        "crds": {"enabled": True},
        # node-exporter needs host namespaces and paths; GPU metrics come from XPU Manager instead.
        "nodeExporter": {"enabled": False},
        "prometheus": {
            "prometheusSpec": {
                "retention": p.retention,
                # Monitors are selected by `release: <release>` (the chart default), which this program sets.
                "serviceMonitorSelectorNilUsesHelmValues": True,
                "podMonitorSelectorNilUsesHelmValues": True,
                "ruleSelectorNilUsesHelmValues": True,
                "storageSpec": {"volumeClaimTemplate": {"metadata": {"name": "prometheus-db"}, "spec": claim_spec}},
            }
        },
        "grafana": grafana,
        # kube-state-metrics would list and watch every Secret in the cluster (its ClusterRole follows its collectors).
        "kube-state-metrics": {"collectorsExclude": ["secrets"]},
        # Its certificate comes from Helm hook Jobs, which helm.v4.Chart never runs (module docstring).
        "prometheusOperator": {"admissionWebhooks": {"enabled": False}, "tls": {"enabled": False}},
        **(_embedded_control_plane() if p.embedded_control_plane else {}),
    }


def _embedded_control_plane() -> dict:
    """k3s embeds these components: their scrapes find no target and their Down alerts would fire forever."""
    return {
        **{part: {"enabled": False} for part in CONTROL_PLANE_SCRAPES},
        "defaultRules": {"rules": {group: False for group in CONTROL_PLANE_RULES}},
    }


def xpum_v1_pod_spec(exporter: GpuExporter, claim_template: pulumi.Input[str]) -> k8s.core.v1.PodSpecArgs:
    """XPU Manager v1 (`xpumd` + REST exporter on :29999). GPUs come from a DRA admin-access claim, not from
    the device-plugin `i915_monitoring` resource or a privileged /dev/dri mount; SYS_ADMIN is all xpumd needs."""
    xpumd_env = [k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in
                 (("XPUM_REST_NO_TLS", "1"), ("XPUM_EXPORTER_NO_AUTH", "1"), ("XPUM_EXPORTER_ONLY", "1"))]
    root_with = lambda caps: k8s.core.v1.SecurityContextArgs(  # noqa: E731
        run_as_user=0, read_only_root_filesystem=True, allow_privilege_escalation=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"], add=caps),
    )
    resources = k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": "50m", "memory": "128Mi"}, limits={"cpu": "500m", "memory": "512Mi"}
    )
    return k8s.core.v1.PodSpecArgs(
        node_selector=exporter.node_selector or None,
        resource_claims=[k8s.core.v1.PodResourceClaimArgs(name="gpus", resource_claim_template_name=claim_template)],
        containers=[
            k8s.core.v1.ContainerArgs(
                name="xpumd",
                image=exporter.image,
                command=["/usr/bin/xpumd"],
                env=xpumd_env,
                security_context=root_with(["SYS_ADMIN"]),
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests=resources.requests, limits=resources.limits, claims=[k8s.core.v1.ResourceClaimArgs(name="gpus")]
                ),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="sockdir", mount_path="/tmp")],
            ),
            k8s.core.v1.ContainerArgs(
                name="exporter",
                image=exporter.image,
                working_dir="/usr/lib/xpum/rest",
                command=["gunicorn", "--bind", f"0.0.0.0:{XPUM_V1_PORT}", "--worker-connections", "64",
                         "--worker-class", "gthread", "--workers", "1", "--threads", "4", "xpum_rest_main:main()"],
                env=[*xpumd_env[1:], k8s.core.v1.EnvVarArgs(
                    name="NODE_NAME", value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="spec.nodeName")))],
                ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=XPUM_V1_PORT, protocol="TCP")],
                security_context=root_with([]),
                resources=resources,
                startup_probe=k8s.core.v1.ProbeArgs(
                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/metrics", port="metrics"), period_seconds=10, failure_threshold=10
                ),
                volume_mounts=[k8s.core.v1.VolumeMountArgs(name="sockdir", mount_path="/tmp")],
            ),
        ],
        # No kubelet pod-resources mount: XPU Manager maps GPUs to pods only for the device-plugin resource
        # gpu.intel.com/i915, never for DRA claims, so the host path would give it nothing (REFERENCE section 6).
        volumes=[k8s.core.v1.VolumeArgs(name="sockdir", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(medium="Memory"))],
        security_context=k8s.core.v1.PodSecurityContextArgs(
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault")),
        automount_service_account_token=False,
    )


def bearer(token: k8s.core.v1.Secret) -> dict:
    """A monitor endpoint's credentials: the token of a service-account token Secret beside the monitor."""
    return {"type": "Bearer", "credentials": {"name": token.metadata.name, "key": "token"}}


def chart_image(image: str) -> tuple[str, str]:
    """(repository, tag) for a chart that writes `repository:tag`; a digest rides on the tag (`v2.0.0@sha256:...`)."""
    name, _, digest = image.partition("@")
    repository, _, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", "")
    return repository, tag + (f"@{digest}" if digest else "")


def xpumd_values(exporter: GpuExporter, monitor_release: str) -> dict:
    repository, tag = chart_image(exporter.image)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "gpuAccess": "dra",
        **({"nodeSelector": dict(exporter.node_selector)} if exporter.node_selector else {}),
        "service": {"create": True},
        "prometheus": {"monitor": True, "release": monitor_release},
        # The chart's default pipeline leaves the Prometheus exporter out: nothing would listen on :8080.
        "config": {
            "service": {
                "pipelines": {
                    "metrics": {"receivers": ["intelxpu"], "processors": ["intelxpustatus"], "exporters": ["intelxpuinfo", "prometheus"]}
                }
            }
        },
    }


class Monitoring(pulumi.ComponentResource):
    prometheus_namespace: pulumi.Output[str]
    storage_claim: pulumi.Output[str] | None

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:monitoring:Monitoring", name, None, opts)
        prometheus = args.prometheus
        crds_ready: list[pulumi.Resource] = []
        self.storage_claim = None
        if isinstance(prometheus, InstallPrometheus):
            # It holds Prometheus' storage: deleting the namespace would delete the retained PVC with it.
            namespace = meta_namespace(f"{name}-namespace", prometheus.namespace, "monitoring", "baseline",
                                       pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True))
            in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
            if args.network is not None:
                fence_namespace(f"{name}-network", namespace.metadata.name, monitoring_flows(prometheus, args, args.network),
                                "monitoring", in_namespace)
            # Prometheus' data outlives `pulumi destroy` and refuses replacement: the StatefulSet adopts this
            # claim by name instead of creating one the chart would own.
            claim_spec = k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=["ReadWriteOnce"],
                storage_class_name=prometheus.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": prometheus.storage_size}),
            )
            claim = k8s.core.v1.PersistentVolumeClaim(
                f"{name}-prometheus-pvc",
                metadata=object_meta(prometheus_claim_name(prometheus.release), prometheus.namespace, "prometheus-storage"),
                spec=claim_spec,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace], protect=True, retain_on_delete=True),
            )
            self.storage_claim = claim.metadata.name
            admin_secret = None
            waits: list[pulumi.Resource] = [namespace, claim]
            if prometheus.grafana and prometheus.grafana_password is not None:
                secret = k8s.core.v1.Secret(
                    f"{name}-grafana-admin",
                    metadata=object_meta("grafana-admin", prometheus.namespace, "grafana"),
                    type="Opaque",
                    string_data={
                        "admin-user": "admin",
                        "admin-password": pulumi.Output.secret(prometheus.grafana_password),
                    },
                    opts=in_namespace,
                )
                admin_secret = secret.metadata.name
                waits.append(secret)
            if prometheus.grafana:
                waits.append(k8s.rbac.v1.Role(
                    f"{name}-grafana-role",
                    metadata=object_meta(grafana_role_name(prometheus.release), prometheus.namespace, "grafana"),
                    rules=[k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["configmaps"],
                                                      verbs=["get", "list", "watch"])],
                    opts=in_namespace,
                ))
            stack = helm.chart(
                f"{name}-kube-prometheus-stack", KUBE_PROMETHEUS_STACK, prometheus.chart_version, release=prometheus.release,
                namespace=prometheus.namespace,
                values=pulumi.Output.from_input(admin_secret).apply(lambda s: kube_prometheus_values(prometheus, s)),
                opts=pulumi.ResourceOptions(parent=self, depends_on=waits),
            )
            crds_ready = [stack]

        if args.exporter is not None:
            self._gpu_exporter(name, args, crds_ready)

        for target in args.targets:
            self._serving_monitors(name, args, target, crds_ready)
        if args.body_router is not None:
            router = args.body_router
            token = self._metrics_token(f"{name}-body-router", args, router.namespace, "body-based-router", router.waits_for)
            self._monitoring_object(
                f"{name}-body-router", "PodMonitor", "body-based-router", router.namespace, args.monitor_labels,
                {
                    "selector": {"matchLabels": router.pod_labels},
                    "namespaceSelector": {"matchNames": [router.namespace]},
                    "podMetricsEndpoints": [{
                        "port": "metrics", "path": "/metrics", "interval": "15s",
                        "authorization": bearer(token),
                    }],
                },
                [token, *crds_ready],
            )

        models = [ServedModel(t.model, t.served_name, args.serving_namespace, t.generation, t.pool_name, t.loads_model,
                              t.epp_ready_series)
                  for t in args.targets]
        exporter_generation = args.exporter.generation if args.exporter else None
        self._monitoring_object(
            f"{name}-alerts", "PrometheusRule", "llm-d-alerts", prometheus.namespace, args.monitor_labels,
            {"groups": rule_groups(models, exporter_generation)}, crds_ready,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-dashboard",
            metadata=object_meta("llm-d-serving-dashboard", prometheus.namespace, "dashboard",
                                 **{GRAFANA_DASHBOARD_LABEL: "1"}),
            data={"llm-d-serving.json": dashboard_json([t.generation for t in args.targets], exporter_generation)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=crds_ready),
        )
        self.prometheus_namespace = pulumi.Output.from_input(prometheus.namespace)
        self.register_outputs({"prometheus_namespace": self.prometheus_namespace, "storage_claim": self.storage_claim})

    def _monitoring_object(
        self, resource_name: str, kind: str, name: str, namespace: pulumi.Input[str], labels_: dict[str, str],
        spec: dict, depends_on: list[pulumi.Resource],
    ) -> k8s.apiextensions.CustomResource:
        """A PodMonitor, ServiceMonitor or PrometheusRule (their CRDs come with Prometheus)."""
        return k8s.apiextensions.CustomResource(
            resource_name,
            api_version=MONITORING_API,
            kind=kind,
            metadata=object_meta(name, namespace, "monitoring", **labels_),
            spec=spec,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    def _gpu_exporter(self, name: str, args: MonitoringArgs, crds_ready: list[pulumi.Resource]) -> None:
        exporter = args.exporter
        assert exporter is not None
        # root + SYS_ADMIN + a hostPath: `privileged`, and on the policy allow-list for it. The exporter watches
        # every GPU through a DRA admin-access claim.
        namespace = meta_namespace(
            f"{name}-exporter-namespace", exporter.namespace, "gpu-exporter", "privileged",
            pulumi.ResourceOptions(parent=self), admin_access=True,
        )
        # Only Prometheus reaches the exporter, on its metrics port; the exporter itself calls no one.
        exporter_labels, port = exporter_pods(exporter)
        if args.network is not None:
            fence_namespace(f"{name}-exporter-network", namespace.metadata.name,
                            [PodFlows("scrape-only", exporter_labels,
                                      ingress=(ingress_from([prometheus_peer(args.prometheus.namespace)], port),))],
                            "gpu-exporter", pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        if exporter.generation == "v2":
            helm.chart(
                f"{name}-xpumd", XPUMD, exporter.chart_version, release="xpumd", namespace=namespace.metadata.name,
                values=xpumd_values(exporter, args.monitor_labels.get("release", "")),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, *crds_ready]),
            )
            return
        app = {"app": "intel-xpumanager"}
        # Immutable spec: its hash is in the name, so a new device class makes a new template and rolls the pods.
        claim_name = pulumi.Output.from_input(exporter.device_class).apply(
            lambda device_class: f"xpum-all-gpus-{spec_hash({'class': device_class, 'allocationMode': 'All', 'adminAccess': True})}")
        claim_template = k8s.resource.v1.ResourceClaimTemplate(
            f"{name}-xpum-gpus",
            metadata=object_meta(claim_name, exporter.namespace, "gpu-exporter"),
            spec=k8s.resource.v1.ResourceClaimTemplateSpecArgs(
                spec=k8s.resource.v1.ResourceClaimSpecArgs(
                    devices=k8s.resource.v1.DeviceClaimArgs(
                        requests=[k8s.resource.v1.DeviceRequestArgs(
                            name="gpus",
                            exactly=k8s.resource.v1.ExactDeviceRequestArgs(
                                device_class_name=exporter.device_class, allocation_mode="All", admin_access=True
                            ),
                        )]
                    )
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        daemonset = k8s.apps.v1.DaemonSet(
            f"{name}-xpumanager",
            metadata=object_meta("intel-xpumanager", exporter.namespace, "gpu-exporter"),
            spec=k8s.apps.v1.DaemonSetSpecArgs(
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=app),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**labels("gpu-exporter"), **app}),
                    spec=xpum_v1_pod_spec(exporter, claim_template.metadata.name),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, claim_template]),
        )
        service = k8s.core.v1.Service(
            f"{name}-xpumanager-service",
            metadata=object_meta("intel-xpumanager", exporter.namespace, "gpu-exporter", **app),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=app,
                ports=[k8s.core.v1.ServicePortArgs(name="metrics", port=XPUM_V1_PORT, target_port="metrics")],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[daemonset]),
        )
        self._monitoring_object(
            f"{name}-xpumanager-monitor", "ServiceMonitor", "intel-xpumanager", exporter.namespace, args.monitor_labels,
            {
                "selector": {"matchLabels": app},
                "namespaceSelector": {"matchNames": [exporter.namespace]},
                "endpoints": [{
                    "port": "metrics", "path": "/metrics", "interval": "15s",
                    "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"}],
                }],
            },
            [service, *crds_ready],
        )

    def _serving_monitors(self, name: str, args: MonitoringArgs, t: ServingTarget, crds_ready: list[pulumi.Resource]) -> None:
        self._monitoring_object(
            f"{name}-{t.model}-vllm", "PodMonitor", f"{t.model}-vllm", t.namespace, args.monitor_labels,
            {
                "selector": {"matchLabels": t.pod_labels},
                "namespaceSelector": {"matchNames": [t.namespace]},
                "podMetricsEndpoints": [{"port": t.port_name, "path": "/metrics", "interval": "15s"}],
            },
            crds_ready,
        )
        epp_account = f"{t.pool_name}-epp"
        endpoint: dict = {"port": "http-metrics", "path": "/metrics", "interval": "15s"}
        waits = list(crds_ready)
        if t.epp_metrics_auth:
            token = self._metrics_token(f"{name}-{t.model}-epp", args, t.namespace, t.pool_name, t.waits_for)
            endpoint["authorization"] = bearer(token)
            waits.append(token)
        self._monitoring_object(
            f"{name}-{t.model}-epp", "ServiceMonitor", f"{t.model}-epp", t.namespace, args.monitor_labels,
            {
                # Both pool charts label the EPP Service `app.kubernetes.io/name: <release>-epp`.
                "selector": {"matchLabels": {"app.kubernetes.io/name": epp_account}},
                "namespaceSelector": {"matchNames": [t.namespace]},
                "endpoints": [endpoint],
            },
            waits,
        )

    def _metrics_token(self, key: str, args: MonitoringArgs, namespace: pulumi.Input[str], account: str,
                       waits_for: tuple[pulumi.Resource, ...]) -> k8s.core.v1.Secret:
        """For a /metrics endpoint that checks a token (TokenReview + SubjectAccessReview on `get /metrics`): a
        scraper account that may do nothing else, not the workload's own. A non-resource URL can only be granted by
        a ClusterRole; the token Secret lives beside the monitor that reads it."""
        scraper = k8s.core.v1.ServiceAccount(
            f"{key}-scraper",
            metadata=object_meta(f"{account}-metrics-scraper", namespace, "monitoring"),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(waits_for)),
        )
        token = k8s.core.v1.Secret(
            f"{key}-token",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=f"{account}-metrics-token",
                namespace=namespace,
                labels=labels("monitoring"),
                annotations={"kubernetes.io/service-account.name": scraper.metadata.name},
            ),
            type="kubernetes.io/service-account-token",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[scraper]),
        )
        reader = k8s.rbac.v1.ClusterRole(
            f"{key}-metrics-reader",
            metadata=object_meta(f"{args.serving_namespace}-{account}-metrics-reader", None, "monitoring"),
            rules=[k8s.rbac.v1.PolicyRuleArgs(non_resource_urls=["/metrics"], verbs=["get"])],
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{key}-metrics-reader",
            metadata=object_meta(f"{args.serving_namespace}-{account}-metrics-reader", None, "monitoring"),
            role_ref=k8s.rbac.v1.RoleRefArgs(api_group="rbac.authorization.k8s.io", kind="ClusterRole", name=reader.metadata.name),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=scraper.metadata.name, namespace=namespace)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return token
