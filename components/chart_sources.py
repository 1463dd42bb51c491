"""Where a chart or remote YAML bundle comes from and the versions the program renders, and the pins of the parts
every stack shares. Routing variants own their pins (components/routing/*.py); `catalogue()` is all of them, what
`python -m llmd_stack charts pull --all` fetches and `charts.lock.json` pins (each supported version, for the tests).
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
XPUMD = ChartSource("oci://ghcr.io/intel/xpumanager/charts/xpumd", "2.0.0")
KUBE_PROMETHEUS_STACK = ChartSource("kube-prometheus-stack", "88.5.3",
                                    repo="https://prometheus-community.github.io/helm-charts")
CERT_MANAGER = ChartSource("cert-manager", "v1.21.1", repo="https://charts.jetstack.io")
# The Gateway API standard install; each gateway provider pins the release it pairs with.
GATEWAY_API_CRDS = FileSource(
    "https://github.com/kubernetes-sigs/gateway-api/releases/download/{version}/standard-install.yaml", "v1.4.0",
    supported=("v1.6.1",))

CHARTS = (GPU_DRIVER, MODELSERVICE, XPUMD, KUBE_PROMETHEUS_STACK, CERT_MANAGER)
FILES = (GATEWAY_API_CRDS,)


def catalogue() -> tuple[tuple[ChartSource, ...], tuple[FileSource, ...]]:
    """Every chart and file the program can deploy: the shared ones and each routing variant's."""
    from .routing import CHARTS as ROUTING_CHARTS
    from .routing import FILES as ROUTING_FILES

    return (*CHARTS, *ROUTING_CHARTS), (*FILES, *ROUTING_FILES)
