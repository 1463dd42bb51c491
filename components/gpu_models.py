"""The GPU model strings the Intel GPU DRA driver publishes: the `model` attribute of each device in its
ResourceSlices, which `gpu.selection.model` is compared with (CEL `==`, exact and case-sensitive).

Taken from intel/intel-resource-drivers-for-kubernetes, tag gpu-v0.11.0 (commit 7a4d31b5),
pkg/gpu/device/models.go (`ModelDetails`, PCI device ID -> model, family, kernel driver); the kubelet plugin
publishes them in cmd/kubelet-gpu-plugin/node_state.go, and a device whose ID the table lacks as "Unknown".
Update this table with the driver chart (gpu.driver.chartVersion).
"""

from __future__ import annotations

from dataclasses import dataclass

DRIVER_SOURCE = "intel-resource-drivers-for-kubernetes gpu-v0.11.0, pkg/gpu/device/models.go"
UNKNOWN_MODEL = "Unknown"  # what the driver publishes for a PCI ID its table lacks


@dataclass(frozen=True)
class IntelGpuModel:
    model: str  # the `model` attribute, as gpu.selection.model must spell it
    family: str  # the `family` attribute
    pci_ids: tuple[str, ...]  # the `pciId` attribute(s) that map to it
    kernel_driver: str  # i915 or xe (the `driver` attribute)


KNOWN_MODELS: tuple[IntelGpuModel, ...] = (
    IntelGpuModel("A770", "Arc A-Series", ("0x56a0",), "i915"),
    IntelGpuModel("A750", "Arc A-Series", ("0x56a1",), "i915"),
    IntelGpuModel("A580", "Arc A-Series", ("0x56a2",), "i915"),
    IntelGpuModel("A380", "Arc A-Series", ("0x56a5",), "i915"),
    IntelGpuModel("A310", "Arc A-Series", ("0x56a6",), "i915"),
    IntelGpuModel("A30M", "Arc Pro A-Series", ("0x56b0",), "i915"),
    IntelGpuModel("A40/A50", "Arc Pro A-Series", ("0x56b1",), "i915"),
    IntelGpuModel("A60M", "Arc Pro A-Series", ("0x56b2",), "i915"),
    IntelGpuModel("A60", "Arc Pro A-Series", ("0x56b3",), "i915"),
    IntelGpuModel("B580", "Arc B-Series", ("0xe20b",), "xe"),
    IntelGpuModel("B570", "Arc B-Series", ("0xe20c",), "xe"),
    IntelGpuModel("B390", "Arc B-Series", ("0xb080", "0xb082", "0xb084", "0xb086"), "xe"),
    IntelGpuModel("B370", "Arc B-Series", ("0xb081", "0xb083", "0xb085", "0xb087"), "xe"),
    IntelGpuModel("B60", "Arc Pro B-Series", ("0xe211",), "xe"),
    IntelGpuModel("B50", "Arc Pro B-Series", ("0xe212",), "xe"),
    IntelGpuModel("B65", "Arc Pro B-Series", ("0xe222",), "xe"),
    IntelGpuModel("B70", "Arc Pro B-Series", ("0xe223",), "xe"),
    IntelGpuModel("Flex 170", "Data Center Flex", ("0x56c0",), "i915"),
    IntelGpuModel("Flex 140", "Data Center Flex", ("0x56c1",), "i915"),
    IntelGpuModel("Max 1550", "Data Center Max", ("0x0b69", "0x0bd0", "0x0bd5"), "i915"),
    IntelGpuModel("Max 1450", "Data Center Max", ("0x0bd6",), "i915"),
    IntelGpuModel("Max 1100", "Data Center Max", ("0x0bd9", "0x0bda", "0x0bdb"), "i915"),
    IntelGpuModel("Alder Lake-P", "Iris Xe", ("0x4626",), "i915"),
    IntelGpuModel("Raptor Lake-P", "Iris Xe", ("0xa7a0",), "i915"),
    IntelGpuModel("Arrow Lake-S", "Intel Graphics", ("0x7d67",), "i915"),
)

MODEL_NAMES: tuple[str, ...] = tuple(m.model for m in KNOWN_MODELS)

# What a node's driver really publishes, per device: `kubectl get resourceslices -o yaml` shows the same under
# spec.devices[].attributes (model, family, pciId).
RESOURCE_SLICE_COMMAND = (
    "kubectl get resourceslices --field-selector spec.driver=gpu.intel.com "
    "-o jsonpath='{range .items[*]}{.spec.nodeName}{\": \"}{.spec.devices[*].attributes.model.string}{\"\\n\"}{end}'"
)


def model_warning(model: str) -> str | None:
    """Why a `gpu.selection.model` may match no device (None when the driver publishes it): new cards appear before
    this table knows them, so this is a warning, not an error."""
    if model in MODEL_NAMES:
        return None
    import difflib

    if model == UNKNOWN_MODEL:
        lead = (f"{model!r} is what the driver publishes for a card its table lacks: it selects every such card, "
                "whatever it is")
    else:
        lead = f"{model!r} is not a model string the Intel GPU DRA driver publishes ({DRIVER_SOURCE})"
        by_case = [name for name in MODEL_NAMES if name.lower() == model.lower()]
        close = by_case or difflib.get_close_matches(model, MODEL_NAMES, n=1)
        if close:
            lead += f"; did you mean {close[0]!r}? (the CEL selector compares exactly)"
    return (f"{lead}. Known: {', '.join(MODEL_NAMES)}. A claim with a model no device has stays Pending; read what "
            f"your nodes publish with: {RESOURCE_SLICE_COMMAND}")
