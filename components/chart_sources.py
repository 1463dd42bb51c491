"""Every chart and remote YAML bundle the program deploys: where it comes from and the version it pins.

The one place for both: components take the reference from here, the config defaults take the version from here,
and `python -m llmd_stack charts pull --all` fetches exactly this list (each pinned version and each other version
the program supports, for the tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartSource:
    chart: str  # oci://<registry>/<path>/<name>, or a chart name in `repo`
    version: str  # the pinned default
    repo: str | None = None  # an HTTP chart repository
    supported: tuple[str, ...] = ()  # other versions the program renders (the guard table says what each lacks)

    @property
    def versions(self) -> tuple[str, ...]:
        return (self.version, *self.supported)


@dataclass(frozen=True)
class FileSource:
    url: str  # with `{version}`
    version: str
    supported: tuple[str, ...] = ()

    def at(self, version: str) -> str:
        return self.url.format(version=version)

    @property
    def versions(self) -> tuple[str, ...]:
        return (self.version, *self.supported)


GPU_DRIVER = ChartSource("oci://ghcr.io/intel/intel-resource-drivers-for-kubernetes/intel-gpu-resource-driver-chart", "0.11.0")
MODELSERVICE = ChartSource("llm-d-modelservice", "v0.4.12", repo="https://llm-d-incubation.github.io/llm-d-modelservice/")
# The chart version equals the GAIE release tag; v1.1.0 stays selectable (it renders boolean flags as two args).
INFERENCEPOOL = ChartSource("oci://registry.k8s.io/gateway-api-inference-extension/charts/inferencepool", "v1.2.1",
                            supported=("v1.1.0",))
# GAIE's body-based router, at the pool chart's release (the GAIE charts are released together).
BODY_BASED_ROUTING = ChartSource("oci://registry.k8s.io/gateway-api-inference-extension/charts/body-based-routing",
                                 INFERENCEPOOL.version)
KGATEWAY_CRDS = ChartSource("oci://cr.kgateway.dev/kgateway-dev/charts/kgateway-crds", "v2.1.2")
KGATEWAY = ChartSource("oci://cr.kgateway.dev/kgateway-dev/charts/kgateway", "v2.1.2")
XPUMD = ChartSource("oci://ghcr.io/intel/xpumanager/charts/xpumd", "2.0.0")
KUBE_PROMETHEUS_STACK = ChartSource("kube-prometheus-stack", "88.5.3",
                                    repo="https://prometheus-community.github.io/helm-charts")
GATEWAY_API_CRDS = FileSource(
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/{version}/standard-install.yaml", "v1.4.0")
# Every GAIE CRD at the pool chart's release (not only the v1 pool CRD).
GAIE_CRDS = FileSource(
    "https://github.com/kubernetes-sigs/gateway-api-inference-extension/releases/download/{version}/manifests.yaml",
    INFERENCEPOOL.version, INFERENCEPOOL.supported)

CHARTS = (GPU_DRIVER, MODELSERVICE, INFERENCEPOOL, BODY_BASED_ROUTING, KGATEWAY_CRDS, KGATEWAY, XPUMD, KUBE_PROMETHEUS_STACK)
FILES = (GATEWAY_API_CRDS, GAIE_CRDS)
