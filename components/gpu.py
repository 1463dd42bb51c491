"""IntelGpuDra: the Intel GPU DRA driver (chart), its privileged namespace, and typed GPU selection as CEL.

Uses `helm.v4.Chart`: the driver chart has no Helm hooks, and v4 shows every rendered object in `pulumi preview`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from . import helm
from .chart_sources import GPU_DRIVER
from .meta import namespace as meta_namespace
from .network import ClusterNetwork, PodFlows, fence_namespace

# The DeviceClass the driver chart creates; pods claim GPUs through it.
DEVICE_CLASS = "gpu.intel.com"
ATTRIBUTE_DOMAIN = "gpu.intel.com"


@dataclass(frozen=True)
class GpuSelector:
    """Which devices of the class a claim may get: model name and optional minimum memory."""

    model: str
    min_memory: str | None = None

    def cel(self) -> list[str]:
        expressions = [f'device.attributes["{ATTRIBUTE_DOMAIN}"].model == "{self.model}"']
        if self.min_memory:
            expressions.append(
                f'device.capacity["{ATTRIBUTE_DOMAIN}"].memory.compareTo(quantity("{self.min_memory}")) >= 0'
            )
        return expressions


@dataclass(frozen=True)
class IntelGpuDraArgs:
    namespace: str
    chart_version: str
    health_monitoring: Literal["disabled", "xpumd"]
    selector: GpuSelector
    node_selector: dict[str, str] = field(default_factory=dict)  # the GPU nodes: the kubelet plugin runs only there
    network: ClusterNetwork | None = None  # None: no NetworkPolicies in the driver's namespace


# The chart's kubelet plugin pods: they publish ResourceSlices and read claims through the API server, and take no
# connections (kubelet reaches them over a Unix socket; its health probes come from the node, always admitted).
KUBELET_PLUGIN_PODS = {"app": "intel-gpu-resource-driver"}


def driver_values(health_monitoring: str, node_selector: dict[str, str] | None = None) -> dict:
    """One explicit, working mode: the chart's defaults (health on, xpumd off) make the plugin exit after ~5 min.
    A node selector keeps the privileged plugin off nodes without GPUs (the chart reads `kubeletPlugin.nodeSelector`
    only with `nodeFeatureRules.enabled: false`, its default, which this program keeps)."""
    if health_monitoring == "xpumd":
        values = {
            "kubeletPlugin": {"privileged": False, "healthMonitoring": {"enabled": True}},
            "xpumdEnabled": True,
            "xpumd": {"gpuAccess": "dra"},
        }
    else:
        values = {"kubeletPlugin": {"privileged": True, "healthMonitoring": {"enabled": False}}, "xpumdEnabled": False}
    if node_selector:
        values["kubeletPlugin"]["nodeSelector"] = dict(node_selector)
        values["nodeFeatureRules"] = {"enabled": False}
    return values


class IntelGpuDra(pulumi.ComponentResource):
    device_class: pulumi.Output[str]
    selectors: pulumi.Output[list[str]]

    def __init__(self, name: str, args: IntelGpuDraArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:gpu:IntelGpuDra", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # hostPath mounts (/var/lib/kubelet, /etc/cdi, /var/run/cdi, /sys) and a privileged plugin.
        namespace = meta_namespace(
            f"{name}-namespace", args.namespace, "gpu-driver", "privileged", child,
            admin_access=args.health_monitoring == "xpumd",
        )
        if args.network is not None:
            fence_namespace(f"{name}-network", namespace.metadata.name,
                            [PodFlows("kubelet-plugin", KUBELET_PLUGIN_PODS, egress=(args.network.api_egress(),))],
                            "gpu-driver", pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        chart = helm.chart(f"{name}-driver", GPU_DRIVER, args.chart_version, namespace=namespace.metadata.name,
                           values=driver_values(args.health_monitoring, args.node_selector),
                           opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]))
        # Consumers get the class only once the driver is installed: reading it orders them after the chart.
        self.device_class = chart.urn.apply(lambda _: DEVICE_CLASS)
        self.selectors = pulumi.Output.from_input(args.selector.cel())
        self.register_outputs({"device_class": self.device_class, "selectors": self.selectors})
