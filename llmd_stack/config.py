"""Typed stack configuration: every key, its default (the reference homelab) and its checks.

Data flows one way: the stack file's `llmd-homelab:*` keys -> `parse_config` -> `StackConfig` -> component args.
Problems are collected and reported together as `<key path>: <message>` before any resource is registered.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Mapping

import pulumi
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from components.chart_sources import CERT_MANAGER, GPU_DRIVER, KUBE_PROMETHEUS_STACK, MODELSERVICE, XPUMD
from components.routing.body_routing import BODY_BASED_ROUTING
from components.routing.body_routing import CURRENT_VERSION as BODY_BASED_ROUTING_CURRENT
from components.routing.gaie_pool import INFERENCEPOOL
from components.routing.agentgateway import AGENTGATEWAY
from components.routing.agentgateway import GATEWAY_API_VERSION as GATEWAY_API_CURRENT
from components.routing.kgateway import GATEWAY_API_VERSION as KGATEWAY_GATEWAY_API
from components.routing.kgateway import KGATEWAY
from components.routing.llmd_router import LLMD_ROUTER

from .capacity import capacity_problems
from .compat import guard_problems
from .topology import (
    Problem,
    body_based_routing,
    gateway_service_ports,
    route_match_key,
    routed_by_body,
    serving,
    shared_groups,
    tls_secret,
)
from .types import (
    Digest,
    DnsLabel,
    Duration,
    Hostname,
    ImageRef,
    OciTag,
    Quantity,
    RegistryHost,
    Version,
    duration_ms,
    image_tag,
    version_tuple,
)

PROJECT = "llmd-homelab"
# Secret keys are top-level so `pulumi config set --secret KEY` keeps the rest of the config readable.
SECRET_KEYS = ("registryToken", "grafanaAdminPassword", "apiKey")
# Each secret: when a stack needs it, and the value `pulumi config set --secret KEY VALUE` takes.
SECRETS: dict[str, tuple[str, str]] = {
    "registryToken": ("a model loads a ModelKit (models[].modelKit)", "'<Harbor robot account token>'"),
    "grafanaAdminPassword": ("Grafana is installed (monitoring.grafana with prometheus.mode install)", "'<password>'"),
    "apiKey": ("a model runs on GPUs, unless gateway.openAccess acknowledges an API without a key",
               '"$(openssl rand -hex 32)"'),
}


class _Strict(BaseModel):
    """Base for every config section: camelCase keys only, unknown keys rejected, immutable."""

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        frozen=True,
        validate_default=True,
        use_attribute_docstrings=True,
    )


# --- cluster ---------------------------------------------------------------------------------------------------


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


def check_pem_certificates(text: str) -> None:
    """One or more PEM `CERTIFICATE` blocks whose bodies are base64 DER (an ASN.1 SEQUENCE), and nothing else."""
    import base64
    import binascii

    blocks = _PEM_BLOCK.findall(text)
    if not blocks:
        raise ValueError("not a PEM certificate (expected -----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----)")
    if _PEM_BLOCK.sub("", text).strip():
        raise ValueError("holds text outside its PEM blocks")
    for label, body in blocks:
        if label != "CERTIFICATE":
            raise ValueError(f"holds a {label} block; give only the CA's CERTIFICATE")
        try:
            der = base64.b64decode("".join(body.split()), validate=True)
        except binascii.Error:
            raise ValueError("a CERTIFICATE block is not valid base64") from None
        if der[:1] != b"\x30" or len(der) < 64:
            raise ValueError("a CERTIFICATE block does not hold a DER certificate")


def _check_cidrs(value: list[str]) -> list[str]:
    import ipaddress

    for cidr in value:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{cidr!r} is not a CIDR (e.g. 192.168.1.20/32)") from None
    return value


class ApiServerConfig(_Strict):
    """Where pods reach the Kubernetes API (after the `kubernetes` Service's NAT: the control-plane nodes)."""

    cidrs: list[str] = Field(
        default_factory=list,
        description="Control-plane addresses (CIDRs): the EPP may reach only these for the API. Empty: EPP egress open.",
    )
    port: int = Field(6443, ge=1, le=65535, description="API server port on those addresses (k3s: 6443).")

    _cidrs = field_validator("cidrs")(classmethod(lambda cls, value: _check_cidrs(value)))


class K3sConfig(_Strict):
    """What the stack must know of a k3s cluster's own add-ons."""

    traefik_disabled: bool = Field(
        False,
        description="k3s runs with `--disable=traefik`: Traefik's LoadBalancer no longer holds :80/:443 (ServiceLB), "
        "so the Gateway may take them.",
    )


class ClusterConfig(_Strict):
    """The target cluster: kubeconfig, context, namespace and version."""

    distribution: Literal["k3s", "generic"] = Field(
        "k3s",
        description="`k3s`: Traefik on :80/:443 unless disabled, control-plane components embedded (not scraped); "
        "`generic`: any other cluster (kind, kubeadm).",
    )
    k3s: K3sConfig = Field(default_factory=lambda: K3sConfig(), alias="k3s")

    kubeconfig: str | None = Field(None, description="Path to a kubeconfig file; unset uses the provider's default lookup.")
    context: str | None = Field(None, description="kubeconfig context; unset uses the current context.")
    namespace: DnsLabel = Field("llm-d", description="Namespace of the model servers, EPPs and routes.")
    kubernetes_version: Version = Field("1.34", description="Cluster version; DRA `resource.k8s.io/v1` needs >= 1.34.")
    network_policies: bool = Field(
        True, description="Admit only the gateway, EPP and Prometheus to model pods and EPPs (needs a CNI that enforces it)."
    )
    api_server: ApiServerConfig = Field(default_factory=lambda: ApiServerConfig())
    """The API server's addresses, for egress policies."""


# --- GPU / DRA ---------------------------------------------------------------------------------------------------


GPU_MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ./_-]*$"  # `/`: the driver publishes "A40/A50"


class GpuSelection(_Strict):
    """Which GPUs a model pod may claim; the component turns this into a CEL selector."""

    model: str = Field(
        "A770",
        pattern=GPU_MODEL_PATTERN,
        description="GPU model as the driver publishes it (`gpu.intel.com` attribute `model`, exact: `A770`, `B580`, "
        "`B60`, `Max 1550`; docs/deploy.md lists them). One the driver does not know is a warning.",
    )
    min_memory: Quantity | None = Field(None, description="Minimum device memory, e.g. `16Gi` (capacity `memory`).")


class GpuNode(_Strict):
    """A node with GPUs the stack may schedule model pods on, and its cards."""

    name: str = Field(..., pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", max_length=253,
                      description="Node name as `kubectl get nodes` prints it.")
    cards: int = Field(..., ge=1, le=64, description="Its GPUs of this model (`kubectl get resourceslices` lists "
                       "one device per card).")
    model: str = Field(
        ..., pattern=GPU_MODEL_PATTERN,
        description="The cards' model as the DRA driver reports it (`gpu.intel.com` attribute `model`), as in "
        "gpu.selection.model.")


class DraDriverConfig(_Strict):
    """The Intel GPU DRA driver chart."""

    chart_version: Version = Field(GPU_DRIVER.version, description="intel-gpu-resource-driver-chart version (0.11.x).")
    namespace: DnsLabel = "intel-gpu-resource-driver"
    """Namespace of the driver (Pod Security `privileged`)."""
    health_monitoring: Literal["disabled", "xpumd"] = Field(
        "disabled",
        description="`disabled`: privileged plugin without health checks; `xpumd`: health from XPU Manager v2. "
        "The chart default (health on, xpumd off) exits after ~5 minutes, so one of these is always set.",
    )


class GpuConfig(_Strict):
    """GPU allocation through the Intel GPU DRA driver (DeviceClass `gpu.intel.com`)."""

    enabled: bool = Field(True, description="Install the Intel GPU DRA driver; false for GPU-less clusters.")
    node_selector: dict[str, str] = Field(
        default_factory=dict,
        description="Labels of the GPU nodes; model loaders, model pods and the GPU exporter run there "
        "(a node-local model volume is bound where its loader runs). Empty: any node.",
    )
    driver: DraDriverConfig = DraDriverConfig()
    selection: GpuSelection = GpuSelection()
    nodes: list[GpuNode] | None = Field(
        None,
        description="The GPU inventory: the nodes gpu.nodeSelector selects, each with its cards. Every model's "
        "replicas x gpusPerReplica (a replica's GPUs on one node), and the pods a rollout adds, must fit on the cards "
        "of gpu.selection.model, or the config is refused. Unset on a GPU stack: a warning, and `check` exits 3 "
        "(capacity not verified).",
    )

    @field_validator("nodes")
    @classmethod
    def _unique_nodes(cls, value: list[GpuNode] | None) -> list[GpuNode] | None:
        # A node with cards of two models is listed once per model.
        keys = [(node.name, node.model) for node in value or []]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            name, model = repeated[0]
            raise ValueError(f"node {name!r} with {model} cards is listed twice; give all its {model} cards in one entry")
        return value


# --- registry and model loading ----------------------------------------------------------------------------------


class RegistryConfig(_Strict):
    """The Harbor registry holding the ModelKits, and the robot account that pulls them."""

    host: RegistryHost = Field("harbor.homelab.lan", description="Harbor registry host (and port).")
    project: DnsLabel = Field("llm", description="Harbor project that holds the ModelKits.")
    robot_account: str = Field(
        "robot$llm+kitops",
        pattern=r"^robot\$[a-z0-9][a-z0-9._-]*(\+[A-Za-z0-9._-]+)?$",
        description="Harbor robot account (`robot$<project>+<name>`); its token is the secret `registryToken`.",
    )
    cidrs: list[str] = Field(
        default_factory=list,
        description="Addresses of the registry (CIDRs): the loader may reach only these (on 443 and 80). Empty: any.",
    )
    ca_cert: str | None = Field(
        None,
        description="PEM certificate(s) of the private CA that signed the registry's TLS certificate (plain config): "
        "the loader trusts it besides the system roots.",
    )
    tls: Literal["verify", "skipVerify", "plainHttp"] = Field(
        "verify",
        description="`verify`: TLS checked against the system roots and `caCert`; `skipVerify`: TLS unchecked "
        "(kit `--tls-verify=false`); `plainHttp`: no TLS (kit `--plain-http`).",
    )

    _cidrs = field_validator("cidrs")(classmethod(lambda cls, value: _check_cidrs(value)))

    @field_validator("ca_cert")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None:
            check_pem_certificates(value)
        return value


class CosignConfig(_Strict):
    public_key: str | None = Field(None, description="PEM public key; the loader verifies the ModelKit signature.")
    cert_identity: str | None = Field(None, description="Keyless: expected certificate identity.")
    cert_oidc_issuer: str | None = Field(None, description="Keyless: expected OIDC issuer.")

    @model_validator(mode="after")
    def _one_mode(self) -> "CosignConfig":
        keyless = self.cert_identity is not None or self.cert_oidc_issuer is not None
        if self.public_key is not None and keyless:
            raise ValueError("set either publicKey or certIdentity + certOidcIssuer, not both")
        if keyless and (self.cert_identity is None or self.cert_oidc_issuer is None):
            raise ValueError("keyless verification needs both certIdentity and certOidcIssuer")
        if self.public_key is None and not keyless:
            raise ValueError("set publicKey, or certIdentity + certOidcIssuer")
        return self


class LoaderConfig(_Strict):
    """The `kitops-init` Job that unpacks a ModelKit into the model PVC once."""

    image: ImageRef = Field("ghcr.io/kitops-ml/kitops-init:v1.7.0", description="kitops-init image (pinned).")
    cosign: CosignConfig | None = Field(None, description="Verify ModelKit signatures before unpacking.")


class ModelKitRef(_Strict):
    project: DnsLabel | None = Field(None, description="Harbor project; defaults to `registry.project`.")
    repository: str = Field(..., pattern=r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")
    """Repository of the ModelKit inside the Harbor project."""
    tag: OciTag | None = None
    """ModelKit tag (exactly one of tag or digest)."""
    digest: Digest | None = None
    """ModelKit digest `sha256:...` (exactly one of tag or digest)."""
    model_path: str = Field(
        ".",
        pattern=r"^(\.|[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*)/?$",
        description="The Kitfile's `model.path` (`kit info <ref>` shows it): where the model lands inside the unpack "
        "folder; vLLM's `--model` is the unpack folder joined with it.",
    )

    @field_validator("repository", mode="before")
    @classmethod
    def _no_registry_host(cls, value: Any) -> Any:
        # Before the pattern: `harbor:8443/llm/x` would only be told it does not match a regex.
        first, _, rest = value.partition("/") if isinstance(value, str) else ("", "", "")
        if rest and ("." in first or ":" in first or first == "localhost"):
            raise ValueError(f"{value!r} starts with a registry host ({first}): give only the repository path inside "
                             f"the Harbor project (e.g. {rest.split('/', 1)[-1]!r}); the program prefixes "
                             "registry.host and the project (modelKit.project or registry.project)")
        return value

    @model_validator(mode="after")
    def _tag_or_digest(self) -> "ModelKitRef":
        if (self.tag is None) == (self.digest is None):
            raise ValueError("set exactly one of tag or digest")
        if self.tag == "latest":
            raise ValueError("tag 'latest' is not reproducible; pin a version tag or a digest")
        return self

    @property
    def version(self) -> str:
        """Tag or digest: what identifies the unpacked content."""
        return self.tag if self.tag is not None else self.digest  # type: ignore[return-value]


class ModelCacheConfig(_Strict):
    size: Quantity = Field("100Gi", description="PVC size; holds every unpacked ModelKit version of the model.")
    storage_class: str | None = Field("local-path", description="Storage class; null uses the cluster default.")
    access_mode: Literal["ReadWriteOnce", "ReadWriteOncePod", "ReadWriteMany"] = "ReadWriteOnce"
    """`ReadWriteOnce` (local-path) keeps all replicas on the PVC's node."""


# --- serving -------------------------------------------------------------------------------------------------------

EngineKind = Literal["ipex-llm", "vllm", "sim"]
# Pinned defaults. `vllm` has none on purpose: upstream vLLM XPU is broken on the A770 since 0.10, so a user
# choosing it names the XPU build they have tested.
ENGINE_DEFAULT_IMAGES: dict[str, str] = {
    "ipex-llm": "intelanalytics/ipex-llm-serving-xpu:0.8.3-b19",
    "sim": "ghcr.io/llm-d/llm-d-inference-sim:v0.10.2",
}
# An upstream vLLM XPU build (the b60 stack's), for fix lines; not a default (see above).
VLLM_XPU_EXAMPLE = "vllm/vllm-openai-xpu:v0.27.1"


def engine_image_problem(kind: str, image: str) -> str | None:
    """An engine image that contradicts its kind on this Intel GPU stack, told by the engine families and GPU
    backends the policy pack reads images with; None when they agree. Ends with the key to change and what fits."""
    from policies.rules.metric_names import engine_family, gpu_backend

    family, backend = engine_family(image), gpu_backend(image)
    families = {"sim": ("sim",), "ipex-llm": ("ipex-llm",), "vllm": ("vllm", "llm-d")}[kind]
    if family in families and backend in ("xpu", "none"):
        return None
    # What the image is; and, when it is a usable XPU engine of another kind, that kind.
    fits = {"ipex-llm": "ipex-llm", "sim": "sim"}.get(family, "vllm") if backend in ("xpu", "none") else None
    what = {"cuda": "a CUDA (NVIDIA) build", "rocm": "a ROCm (AMD) build", "cpu": "a CPU build"}.get(
        backend, {"sim": "the llm-d inference simulator", "ipex-llm": "IPEX-LLM's XPU image"}.get(family, "an XPU build of vLLM"))
    other_kind = f"engine.kind: {fits} (this image's kind)" if fits else None
    if kind == "vllm":
        fix = [f"engine.image to an XPU build of vLLM (e.g. {VLLM_XPU_EXAMPLE} or intel/vllm:<version>-xpu)"]
    else:
        fix = [f"engine.image: {ENGINE_DEFAULT_IMAGES[kind]} (or leave it unset)"]
        if kind == "ipex-llm" and not fits:
            fix.append(f"engine.kind: vllm with an XPU build of vLLM (e.g. {VLLM_XPU_EXAMPLE})")
    wanted = {"ipex-llm": "IPEX-LLM's XPU image", "vllm": "an XPU build of vLLM (Intel GPUs need one)",
              "sim": "the llm-d inference simulator"}[kind]
    return f"{image} is {what}, but kind {kind!r} runs {wanted}: set " + " or ".join(
        ([other_kind] if other_kind else []) + fix)


class RunAsConfig(_Strict):
    """Run the engine as a non-root user. IPEX-LLM's serving image and upstream vLLM's XPU image declare no `USER`
    (root); a non-root process opens the GPU only as a member of the group owning the node's render device."""

    user: int = Field(..., ge=1, description="UID (and primary GID) the engine runs as.")
    render_group: int = Field(
        ..., ge=1, description="GID owning the GPU's render node on the GPU nodes: `stat -c %g /dev/dri/renderD128` "
        "(a host's `render` group; it differs between distributions).")


class EngineConfig(_Strict):
    kind: EngineKind = Field("ipex-llm", description="`ipex-llm` (A770), `vllm` (upstream), `sim` (no GPU).")
    image: ImageRef | None = Field(None, description="Engine image; defaults per kind (pinned).")
    dtype: Literal["auto", "float16", "bfloat16", "float32"] = "float16"
    """`--dtype` of the engine."""
    prefix_caching: bool = Field(True, description="`--enable-prefix-caching`; the prefix-cache scorer relies on it.")
    max_model_len: int | None = Field(None, ge=128, le=1_048_576)
    """`--max-model-len`; unset uses the model's own."""
    extra_args: list[str] = Field(default_factory=list, description="Appended to the engine command line.")
    run_as: RunAsConfig | None = Field(
        None, description="Run as a non-root user (unset: the image's user, root for the XPU images; docs/security.md).")

    @field_validator("image")
    @classmethod
    def _image_matches_kind(cls, value: str | None, info: Any) -> str | None:
        kind = info.data.get("kind")  # absent when the kind itself was invalid
        problem = engine_image_problem(kind, value) if value and kind else None
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _image_for_vllm(self) -> "EngineConfig":
        if self.image is None and self.kind not in ENGINE_DEFAULT_IMAGES:
            raise ValueError(f"engine {self.kind!r} has no default image; set image to a pinned XPU build of vLLM")
        return self

    @property
    def resolved_image(self) -> str:
        return self.image or ENGINE_DEFAULT_IMAGES[self.kind]

    @property
    def metrics_generation(self) -> str:
        """Which vLLM metric names this engine emits (`v0` or `v1`)."""
        from policies.rules.metric_names import metrics_generation

        return metrics_generation(self.kind, self.resolved_image)


class ResourceAmounts(_Strict):
    cpu: Quantity
    """CPU quantity, e.g. `4` or `500m`."""
    memory: Quantity
    """Memory quantity, e.g. `24Gi`."""


class ResourcesConfig(_Strict):
    requests: ResourceAmounts = ResourceAmounts(cpu="4", memory="24Gi")
    """Requested CPU and memory."""
    limits: ResourceAmounts = ResourceAmounts(cpu="8", memory="32Gi")
    """CPU and memory limits."""


class RouteTimeouts(_Strict):
    request: Duration = Field("3600s", description="Whole request, client to response end (long generations).")
    backend_request: Duration = Field("3600s", description="One try to the backend; <= request unless request is 0s.")


class RouteConfig(_Strict):
    hostnames: list[Hostname] = Field(default_factory=list, description="Route only these Host headers.")
    path_prefix: str = "/"
    """HTTPRoute `PathPrefix` match (the route serves `<pathPrefix>/v1`)."""

    @field_validator("path_prefix")
    @classmethod
    def _path_prefix(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"must start with / (e.g. '/{value}'), got {value!r}")
        bad = sorted(set(re.sub(r"[A-Za-z0-9/._~%!$&'()*+,;=:@-]", "", value)))
        if bad:
            raise ValueError(f"may not contain {''.join(bad)!r} (a URL path), got {value!r}")
        return value
    match_model_header: bool = Field(
        False, description="Also match `X-Gateway-Model-Name: <servedName>` (set by GAIE body-based routing)."
    )
    timeouts: RouteTimeouts = RouteTimeouts()
    """HTTPRoute rule timeouts."""


class ModelConfig(_Strict):
    name: DnsLabel = Field(..., max_length=30, description="Short id; prefixes every object of this model.")
    served_name: str = Field(..., min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:-]*$")
    """Model name clients send in requests (`--served-model-name`)."""
    state: Literal["serving", "retired", "removed"] = Field(
        "serving", description="`serving`; `retired`: serves nothing and keeps its model cache PVC as it is; "
        "`removed`: its cache PVC leaves the stack (after `pulumi state unprotect`; the PVC stays in the cluster), "
        "then the entry can go. See docs/models.md.")
    model_kit: ModelKitRef | None = None
    """The ModelKit in Harbor: `<registry.host>/<project>/<repository>:<tag>` or `@<digest>`."""
    cache: ModelCacheConfig = ModelCacheConfig()
    """The PVC the ModelKit is unpacked into once."""
    engine: EngineConfig = EngineConfig()
    """The serving engine and its arguments."""
    replicas: int = Field(2, ge=1, le=64, description="Decode replicas.")
    gpus_per_replica: int = Field(1, ge=1, le=8, description="GPUs per replica = tensor parallel size.")
    resources: ResourcesConfig = ResourcesConfig()
    """CPU and memory of each model server container."""
    shm_size: Quantity = Field("16Gi", description="Memory-backed /dev/shm for the engine.")
    startup_timeout_seconds: int = Field(1800, ge=60, le=14_400, description="How long a pod may take to load.")
    route: RouteConfig = RouteConfig()
    """How the gateway routes requests to this model's pool."""
    extra_values: dict[str, Any] = Field(
        default_factory=dict, description="Escape hatch: deep-merged into the modelservice chart values."
    )

    @field_validator("extra_values")
    @classmethod
    def _accelerator_is_a_mapping(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Merged key by key into the accelerator this program computes (and read by the version guards).
        if "accelerator" in value and not isinstance(value["accelerator"], dict):
            raise ValueError(f"accelerator must be a mapping of keys to values, got {value['accelerator']!r}")
        return value


class ModelServiceConfig(_Strict):
    """The llm-d `modelservice` chart that runs the decode pods."""

    chart_version: Version = Field(MODELSERVICE.version, description="llm-d-modelservice chart version (v0.4.x layout).")


# --- scheduling (Endpoint Picker) ---------------------------------------------------------------------------------

PluginType = Literal[
    "queue-scorer",
    "kv-cache-utilization-scorer",
    "prefix-cache-scorer",
    "lora-affinity-scorer",
    "max-score-picker",
    "random-picker",
    "weighted-random-picker",
    "single-profile-handler",
]


# Parameters each EPP plugin accepts (the EPP decodes its config strictly: an unknown one stops it).
PLUGIN_PARAMETERS: dict[str, dict[str, type]] = {
    "prefix-cache-scorer": {"blockSize": int, "maxPrefixBlocksToMatch": int, "lruCapacityPerServer": int},
    "max-score-picker": {"maxNumOfEndpoints": int},
    "random-picker": {"maxNumOfEndpoints": int},
    "weighted-random-picker": {"maxNumOfEndpoints": int},
}


class EppPlugin(_Strict):
    type: PluginType
    """Plugin type, as the EPP registers it."""
    name: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    """Instance name; defaults to the type."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Plugin parameters (checked per type)."""

    @property
    def ref(self) -> str:
        return self.name or self.type


class ProfilePluginRef(_Strict):
    plugin_ref: str
    """Name (or type) of a plugin in `scheduling.plugins`."""
    weight: int | None = Field(None, ge=0, le=100)
    """Scorer weight; unset for pickers and handlers."""


class SchedulingProfile(_Strict):
    name: DnsLabel
    """Profile name."""
    plugins: list[ProfilePluginRef] = Field(..., min_length=1)
    """Plugins of this profile, in order."""


def _default_plugins() -> list[EppPlugin]:
    return [
        EppPlugin(type="queue-scorer"),
        EppPlugin(type="kv-cache-utilization-scorer"),
        EppPlugin(type="prefix-cache-scorer"),
        EppPlugin(type="max-score-picker"),
    ]


def _default_profiles() -> list[SchedulingProfile]:
    return [
        SchedulingProfile(
            name="default",
            plugins=[
                ProfilePluginRef(pluginRef="queue-scorer", weight=2),
                ProfilePluginRef(pluginRef="kv-cache-utilization-scorer", weight=2),
                ProfilePluginRef(pluginRef="prefix-cache-scorer", weight=3),
                ProfilePluginRef(pluginRef="max-score-picker"),
            ],
        )
    ]


class _SchedulingConfig(_Strict):
    """The InferencePool and its Endpoint Picker (EPP) per model, from the pool chart line `chart` names."""

    epp_replicas: int = Field(1, ge=1, le=10)
    """Endpoint Picker replicas per pool."""
    epp_resources: ResourcesConfig = Field(
        default_factory=lambda: ResourcesConfig(requests=ResourceAmounts(cpu="500m", memory="512Mi"),
                                                limits=ResourceAmounts(cpu="2", memory="2Gi")),
        description="EPP CPU and memory, where the chart takes them (GAIE >= v1.5, llm-d-router; their defaults "
        "request 4 to 8 CPUs, more than a homelab node spares).")
    plugins: list[EppPlugin] = Field(default_factory=_default_plugins)
    """EPP plugin instances (scorers, pickers, profile handlers) with parameters."""
    profiles: list[SchedulingProfile] = Field(default_factory=_default_profiles)
    """Scheduling profiles: which plugins score and pick, with weights."""
    extra_flags: dict[str, str | int | float | bool] = Field(
        default_factory=dict, description="Escape hatch: extra EPP flags (name without dashes -> value).")
    extra_values: dict[str, Any] = Field(default_factory=dict, description="Deep-merged into the pool chart's values.")


class GaieSchedulingConfig(_SchedulingConfig):
    """GAIE's `inferencepool` chart (its last release with charts is v1.5.0)."""

    chart: Literal["gaie"] = Field("gaie", description="Pool chart line: `gaie` (inferencepool) or `llm-d-router`.")
    chart_version: Version = Field(
        INFERENCEPOOL.version, description="inferencepool chart version (= GAIE release tag): v1.1.0, v1.2.1 or v1.5.0.")
    epp_image: ImageRef = f"registry.k8s.io/gateway-api-inference-extension/epp:{INFERENCEPOOL.version}"
    """Endpoint Picker image (pinned)."""

    @field_validator("extra_values")
    @classmethod
    def _flags_through_extra_flags(cls, value: dict[str, Any]) -> dict[str, Any]:
        # A flags list here would replace the program's metric flags wholesale and bypass the version guards.
        if isinstance(value.get("inferenceExtension"), dict) and "flags" in value["inferenceExtension"]:
            raise ValueError("set EPP flags with scheduling.extraFlags, not extraValues.inferenceExtension.flags")
        return value


class LlmdRouterSchedulingConfig(_SchedulingConfig):
    """llm-d-router's `llm-d-router-gateway` chart: where the EPP went after GAIE v1.5.0."""

    chart: Literal["llm-d-router"] = Field(..., description="Pool chart line: `gaie` (inferencepool) or `llm-d-router`.")
    chart_version: Version = Field(LLMD_ROUTER.version, description="llm-d-router-gateway chart version.")
    epp_image: ImageRef = f"ghcr.io/llm-d/llm-d-router-endpoint-picker:{LLMD_ROUTER.version}"
    """Endpoint Picker image (pinned)."""

    @field_validator("extra_values")
    @classmethod
    def _flags_through_extra_flags(cls, value: dict[str, Any]) -> dict[str, Any]:
        router = value.get("router")
        if isinstance(router, dict) and isinstance(router.get("epp"), dict) and "flags" in router["epp"]:
            raise ValueError("set EPP flags with scheduling.extraFlags, not extraValues.router.epp.flags")
        return value


class VariantTag:
    """A discriminated union's tag: the value of its `key`, `default` when the key is left out."""

    def __init__(self, key: str, default: str):
        self.key, self.default = key, default
        self.__name__ = f"{key} or {default!r}"  # pydantic names the discriminator by it

    def __call__(self, value: Any) -> str:
        found = value.get(self.key, self.default) if isinstance(value, Mapping) else getattr(value, self.key, self.default)
        return found if isinstance(found, str) else repr(found)


SchedulingConfig = Annotated[
    Annotated[GaieSchedulingConfig, Tag("gaie")] | Annotated[LlmdRouterSchedulingConfig, Tag("llm-d-router")],
    Discriminator(VariantTag("chart", "gaie")),
]


# --- gateway ---------------------------------------------------------------------------------------------------------


class GatewayTlsConfig(_Strict):
    secret_name: DnsLabel | None = Field(
        None, description="A `kubernetes.io/tls` Secret in cluster.namespace: adds an HTTPS listener with it.")
    port: int = Field(443, ge=1, le=65535, description="HTTPS listener port.")
    allow_http: bool = Field(
        False, description="Keep the plain HTTP listener next to HTTPS (the API key would cross the network in clear).")


class BodyBasedRouterConfig(_Strict):
    """GAIE's body-based router: an external processor that copies the request body's `model` into the
    `X-Gateway-Model-Name` header, so one URL serves every model."""

    chart_version: Version = Field(BODY_BASED_ROUTING.version, description="body-based-routing chart version (= GAIE release).")
    image: ImageRef = Field(f"registry.k8s.io/gateway-api-inference-extension/bbr:{BODY_BASED_ROUTING.version}",
                            description="Body-based router image (pinned).")
    replicas: int = Field(1, ge=1, le=10, description="Router replicas (every request passes through one).")
    resources: ResourcesConfig = ResourcesConfig(
        requests=ResourceAmounts(cpu="100m", memory="64Mi"), limits=ResourceAmounts(cpu="1", memory="256Mi"))
    """Router CPU and memory (the chart sets none: the program adds them)."""


class CurrentBodyBasedRouterConfig(BodyBasedRouterConfig):
    """The body-based router of GAIE's last release with charts (plugin-based)."""

    chart_version: Version = Field(BODY_BASED_ROUTING_CURRENT, description="body-based-routing chart version (= GAIE release).")
    image: ImageRef = Field(f"registry.k8s.io/gateway-api-inference-extension/bbr:{BODY_BASED_ROUTING_CURRENT}",
                            description="Body-based router image (pinned).")


class RateLimitConfig(_Strict):
    """A request rate for the whole proxy: both providers count per proxy (local rate limiting); a per-client
    limit needs an external rate-limit service, which neither ships."""

    requests: int = Field(..., ge=1, description="Requests allowed per `unit`; more get HTTP 429.")
    unit: Literal["Seconds", "Minutes", "Hours"] = Field("Minutes", description="The unit of `requests`.")
    burst: int = Field(0, ge=0, description="Requests allowed above the rate in a short burst.")


class ListenerLimitsConfig(_Strict):
    """Bounds on the listener clients reach: what one device on the network can hold open or send."""

    idle_timeout: Duration = Field(
        "300s", description="Close a client connection with no request in flight after this (Envoy's default: 1 hour; "
        "agentgateway's: 10 minutes, HTTP/1).")
    rate_limit: RateLimitConfig | None = Field(
        None, description="Requests per unit for the whole proxy (unset: none). Not per client: neither provider "
        "offers that without an external rate-limit service.")


class KgatewayListenerLimitsConfig(ListenerLimitsConfig):
    stream_idle_timeout: Duration | None = Field(
        None, description="Close a stream silent this long. Unset: the longest route `timeouts.request` (at least "
        "300s), since a non-streaming generation sends nothing until it is done; shorter cuts such generations.")


class _GatewayConfig(_Strict):
    """The gateway in front of the pools: Gateway API CRDs, a controller, a Gateway and the routes."""

    name: DnsLabel = Field("llm-d-gateway", description="Gateway object name (in cluster.namespace).")
    port: int = Field(80, ge=1, le=65535, description="HTTP listener port.")
    tls: GatewayTlsConfig = Field(default_factory=lambda: GatewayTlsConfig())
    """An HTTPS listener terminating TLS with a certificate from a Secret."""
    service_type: Literal["LoadBalancer", "NodePort", "ClusterIP"] = "LoadBalancer"
    """Service type of the Gateway's proxy (the only exposed service)."""
    open_access: bool = Field(
        False, description="Serve the inference API without an API key: anyone who reaches the gateway may use every "
        "model. Without it a stack with GPU models needs the secret `apiKey` (the simulator takes no key).")
    plain_http: bool = Field(
        False, description="Serve the API over plain HTTP, no TLS: the API key and every prompt cross the network in "
        "clear. Without it a stack with an API key serves HTTPS (certificates.enabled or gateway.tls.secretName).")
    body_based_routing: bool | None = Field(
        None, description="Route by the request body's `model` (GAIE body-based routing). Unset: on when two or more "
        "models share a route (same hostnames and pathPrefix).")
    default_model: DnsLabel | None = Field(
        None, description="With body-based routing: the model (`models[].name`) that serves requests naming no model "
        "(`GET /v1/models`, health checks) or an unknown one. Required when body-based routing is on.")


class KgatewayConfig(_GatewayConfig):
    """kgateway 2.1.x (Envoy): the seed's provider, the last line that routes to InferencePools."""

    provider: Literal["kgateway"] = Field("kgateway", description="Gateway implementation: `kgateway` or `agentgateway`.")
    kgateway_version: Version = Field(KGATEWAY.version, description="kgateway-crds and kgateway chart version.")
    gateway_api_version: Version = Field(KGATEWAY_GATEWAY_API, description="Gateway API standard CRDs release.")
    class_name: str = Field(
        "kgateway", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="GatewayClass the Gateway uses.")
    controller_namespace: DnsLabel = "kgateway-system"
    """Namespace of the gateway controller."""
    bbr: BodyBasedRouterConfig = Field(default_factory=lambda: BodyBasedRouterConfig())
    """The body-based router (deployed only with body-based routing)."""
    limits: KgatewayListenerLimitsConfig = Field(default_factory=lambda: KgatewayListenerLimitsConfig())
    """Bounds on the public listener: idle connections and streams, a request rate."""

    @property
    def controller_version(self) -> str:
        return self.kgateway_version


class AgentgatewayConfig(_GatewayConfig):
    """agentgateway: llm-d's preferred gateway today, its own project since v1.0.0."""

    provider: Literal["agentgateway"] = Field(..., description="Gateway implementation: `kgateway` or `agentgateway`.")
    agentgateway_version: Version = Field(AGENTGATEWAY.version, description="agentgateway-crds and agentgateway chart version.")
    gateway_api_version: Version = Field(GATEWAY_API_CURRENT, description="Gateway API standard CRDs release.")
    class_name: str = Field(
        "agentgateway", pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", description="GatewayClass the Gateway uses.")
    controller_namespace: DnsLabel = "agentgateway-system"
    """Namespace of the gateway controller."""
    bbr: CurrentBodyBasedRouterConfig = Field(default_factory=lambda: CurrentBodyBasedRouterConfig())
    """The body-based router (deployed only with body-based routing)."""
    limits: ListenerLimitsConfig = Field(default_factory=lambda: ListenerLimitsConfig())
    """Bounds on the public listener: idle connections, a request rate (agentgateway has no stream idle timeout)."""

    @property
    def controller_version(self) -> str:
        return self.agentgateway_version


GatewayConfig = Annotated[
    Annotated[KgatewayConfig, Tag("kgateway")] | Annotated[AgentgatewayConfig, Tag("agentgateway")],
    Discriminator(VariantTag("provider", "kgateway")),
]


# --- monitoring ------------------------------------------------------------------------------------------------------


EXPORTER_DEFAULT_IMAGES = {"v1": "intel/xpumanager:v1.3.4", "v2": "ghcr.io/intel/xpumanager/xpumd:v2.0.0"}


class ExporterConfig(_Strict):
    """The Intel XPU Manager GPU exporter (deployed only where gpu.enabled)."""

    enabled: bool = Field(True, description="Deploy the GPU exporter (needs gpu.enabled).")
    generation: Literal["v1", "v2"] = Field(
        "v1", description="`v1`: XPU Manager DaemonSet (`xpum_*`, :29999); `v2`: xpumd chart (`hw_*`, :8080)."
    )
    image: ImageRef | None = Field(None, description="Exporter image; defaults per generation (pinned).")
    chart_version: Version = Field(XPUMD.version, description="xpumd chart version (generation v2).")
    namespace: DnsLabel = Field("intel-xpu-manager", description="Namespace of the exporter (Pod Security `privileged`).")

    @property
    def resolved_image(self) -> str:
        return self.image or EXPORTER_DEFAULT_IMAGES[self.generation]


class PrometheusConfig(_Strict):
    mode: Literal["install", "existing"] = Field("install", description="Install kube-prometheus-stack or use one.")
    chart_version: Version = Field(KUBE_PROMETHEUS_STACK.version, description="kube-prometheus-stack chart version (88.x).")
    namespace: DnsLabel = "monitoring"
    """Namespace of kube-prometheus-stack (or of the existing Prometheus)."""
    release_name: DnsLabel = Field(
        "kube-prometheus-stack", max_length=26, description="Helm release name; monitors carry `release: <name>` for it."
    )
    retention: str = Field(
        "15d",
        pattern=r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
        description="Prometheus retention (Prometheus duration, e.g. `15d`).",
    )
    storage_size: Quantity = "50Gi"
    """Prometheus PVC size."""
    storage_class: str | None = "local-path"
    """Prometheus PVC storage class; null uses the cluster default."""
    monitor_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels monitors carry so an existing Prometheus selects them."
    )


class CertificateIssuerConfig(_Strict):
    kind: Literal["ClusterIssuer", "Issuer"] = Field("ClusterIssuer", description="`Issuer`: one in cluster.namespace.")
    name: DnsLabel = Field(..., description="The issuer's name.")


class CertificatesConfig(_Strict):
    """The Gateway's HTTPS certificate from cert-manager (installed by the program unless `install` is false), issued
    by an issuer you name or by a self-signed homelab CA the program sets up (clients then trust its `ca.crt`)."""

    enabled: bool = Field(False, description="Issue the Gateway's certificate with cert-manager (instead of "
                          "gateway.tls.secretName, a Secret you provide).")
    install: bool = Field(True, description="Install cert-manager; false when the cluster already runs it.")
    chart_version: Version = Field(CERT_MANAGER.version, description="cert-manager chart version.")
    namespace: DnsLabel = "cert-manager"
    """cert-manager's namespace (the homelab CA's Secret lives there too)."""
    issuer: CertificateIssuerConfig | None = Field(
        None, description="An issuer you run (ACME, Vault, your own CA); unset: the program's self-signed homelab CA.")
    dns_names: list[Hostname] = Field(
        default_factory=list, description="Names the certificate covers; default: every model's route hostnames.")
    ip_addresses: list[str] = Field(default_factory=list, description="IP addresses it covers (a node's LAN IP).")
    ca_common_name: str = Field("llmd-homelab CA", min_length=1, max_length=64, description="The homelab CA's name.")


class MonitoringConfig(_Strict):
    """GPU exporter, Prometheus, monitors, alerts and the serving dashboard."""

    enabled: bool = True
    """Deploy monitoring (exporter, monitors, rules, dashboard)."""
    exporter: ExporterConfig = ExporterConfig()
    """The GPU metrics exporter."""
    prometheus: PrometheusConfig = PrometheusConfig()
    """The Prometheus that scrapes the stack."""
    grafana: bool = Field(True, description="Install Grafana with kube-prometheus-stack and provision the dashboard.")


# --- the whole stack -------------------------------------------------------------------------------------------------


class CiConfig(_Strict):
    """Whether CI previews and deploys this stack: its runner must reach the stack's cluster."""

    preview: bool = Field(False, description="Pull requests run `pulumi preview` of this stack (needs secret KUBECONFIG_<STACK>).")
    deploy: bool = Field(False, description="Pushes to main run `pulumi up` of this stack (GitHub environment `<stack>`).")


class StackConfig(_Strict):
    cluster: ClusterConfig = ClusterConfig()
    gpu: GpuConfig = GpuConfig()
    registry: RegistryConfig = RegistryConfig()
    loader: LoaderConfig = LoaderConfig()
    model_service: ModelServiceConfig = ModelServiceConfig()
    models: list[ModelConfig] = Field(..., min_length=1, description="Models to serve (at least one).")
    scheduling: SchedulingConfig = Field(
        default_factory=GaieSchedulingConfig,
        description="The InferencePool and its EPP per model; `chart` picks the pool chart line (`gaie`: GAIE's "
        "inferencepool chart, the seed's; `llm-d-router`: llm-d-router-gateway, today's).")
    gateway: GatewayConfig = Field(
        default_factory=KgatewayConfig,
        description="The gateway in front of the pools; `provider` picks its implementation (`kgateway` 2.1, the "
        "seed's; `agentgateway`, today's).")
    certificates: CertificatesConfig = CertificatesConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    ci: CiConfig = CiConfig()


# --- errors ----------------------------------------------------------------------------------------------------------


class ConfigError(pulumi.RunError):
    """Every problem of a stack config at once; a RunError so `pulumi up` prints it without a traceback."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def model_class(annotation: Any) -> type[BaseModel] | None:
    """The config model behind a field annotation, through `Optional[...]` and `list[...]`; None for scalars (and
    for a union of sections: see `variants`)."""
    import typing

    if variants(annotation):
        return None
    for _ in range(3):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if not args:
            return None
        annotation = args[0]
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def variants(annotation: Any) -> dict[str, type[BaseModel]]:
    """A discriminated union's sections by tag (`gateway`: kgateway, agentgateway); {} for any other field."""
    import types
    import typing

    found: dict[str, type[BaseModel]] = {}

    def walk(node: Any) -> None:
        origin = typing.get_origin(node)
        if origin is Annotated:
            base, *meta = typing.get_args(node)
            tags = [m.tag for m in meta if isinstance(m, Tag)]
            if tags and isinstance(base, type) and issubclass(base, BaseModel):
                found[tags[0]] = base
            else:
                walk(base)
        elif origin in (typing.Union, types.UnionType):
            for member in typing.get_args(node):
                walk(member)

    walk(annotation)
    return found


def _variant_key(model: type[BaseModel], field_name: str) -> str | None:
    """The key that picks a union field's section (`provider` for `gateway`)."""
    field = model.model_fields[field_name]
    tag = next((m.discriminator for m in field.metadata if isinstance(m, Discriminator)), None)
    return tag.key if isinstance(tag, VariantTag) else None


def _walk(loc: tuple[Any, ...]) -> tuple[list[type[BaseModel]], tuple[Any, ...]]:
    """The config sections `loc` may lead to from StackConfig (all of a union's, unless `loc` names its tag, as
    pydantic's error locations do), and `loc` without the tags."""
    current: list[type[BaseModel]] = [StackConfig]
    clean: list[Any] = []
    pending_tags: dict[str, type[BaseModel]] = {}
    for part in loc:
        if part in pending_tags:
            current, pending_tags = [pending_tags[part]], {}
            continue
        pending_tags = {}
        clean.append(part)
        if isinstance(part, int):
            continue
        fields = [f for model in current for n, f in model.model_fields.items() if (f.alias or n) == part]
        if not fields:
            return [], tuple(clean)
        tagged = variants(fields[0].annotation)
        if tagged:
            current, pending_tags = list(tagged.values()), tagged
        else:
            nested = model_class(fields[0].annotation)
            current = [nested] if nested else []
    return current, tuple(clean)


def _model_at(loc: tuple[Any, ...]) -> list[type[BaseModel]]:
    """The config sections at `loc` (to suggest sibling keys)."""
    return _walk(loc)[0]


def _unknown_key_message(loc: tuple[Any, ...]) -> str:
    parents = _model_at(loc[:-1])
    if not parents:
        return "unknown key"
    known = sorted(f.alias or n for n, f in parents[0].model_fields.items())
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    clean = _walk(loc)[1]
    elsewhere = [path for path in _key_paths(StackConfig) if path.rsplit(".", 1)[-1] == clean[-1]]
    sibling = _sibling_variant(clean)
    if sibling:
        hint = f": it belongs to {sibling}"
    elif close:
        hint = f" (did you mean '{close[0]}'?)"
    elif elsewhere:
        hint = f" here: it belongs under {' or '.join(p.rsplit('.', 1)[0] for p in elsewhere)}"
    else:
        hint = f" (known keys: {', '.join(known)})"
    return "unknown key" + hint


def _sibling_variant(clean: tuple[Any, ...]) -> str | None:
    """`gateway.provider: kgateway` when the unknown key at `clean` is a key of another section of its union (at
    any depth: `gateway.limits.streamIdleTimeout`)."""
    if len(clean) < 2 or not all(isinstance(part, str) for part in clean):
        return None
    field_name = next((n for n, f in StackConfig.model_fields.items() if (f.alias or n) == clean[0]), None)
    if field_name is None:
        return None
    key = _variant_key(StackConfig, field_name)

    def has_key(model: type[BaseModel] | None, path: tuple[str, ...]) -> bool:
        field = next((f for n, f in (model.model_fields.items() if model else []) if (f.alias or n) == path[0]), None)
        return field is not None and (len(path) == 1 or has_key(model_class(field.annotation), path[1:]))

    owners = [tag for tag, model in variants(StackConfig.model_fields[field_name].annotation).items()
              if has_key(model, tuple(clean[1:]))]
    return f"{clean[0]}.{key}: {' or '.join(owners)}" if key and owners else None


def _key_paths(model: type[BaseModel], prefix: str = "", depth: int = 0) -> list[str]:
    """Every key path of the config (`models[].route.timeouts`), to say where a misplaced key belongs."""
    paths: list[str] = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{field.alias or name}"
        paths.append(key)
        nested = [model_class(field.annotation)] if model_class(field.annotation) else list(variants(field.annotation).values())
        for section in nested if depth < 6 else []:
            is_list = "list" in str(field.annotation)
            paths += [p for p in _key_paths(section, f"{key}{'[]' if is_list else ''}.", depth + 1) if p not in paths]
    return paths


def _message(error: Mapping[str, Any]) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    got = f", got {value!r}" if not isinstance(value, (dict, list)) else ""
    if kind == "extra_forbidden":
        return _unknown_key_message(tuple(error["loc"]))
    if kind == "missing":
        return "required key is missing"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number{got}"
    if kind in ("float_type", "float_parsing"):
        return f"must be a number{got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false{got}"
    if kind == "string_type":
        return f"must be a string{got}"
    if kind == "list_type":
        return f"must be a list{got}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping of keys to values{got}"
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}{got}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}{got}"
    if kind == "less_than_equal":
        return f"must be <= {ctx['le']}{got}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}{got}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}{got}"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}{got}"
    if kind == "too_short":
        return f"must have at least {ctx['min_length']} item(s)"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} item(s)"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters{got}"
    if kind == "string_too_short":
        return f"must be at least {ctx['min_length']} character(s){got}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return error["msg"]


def _pydantic_problems(exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = _walk(tuple(error["loc"]))[1]
        if error["type"] == "union_tag_invalid":
            field_name = next(n for n, f in StackConfig.model_fields.items() if (f.alias or n) == loc[-1])
            key, tags = _variant_key(StackConfig, field_name), list(variants(StackConfig.model_fields[field_name].annotation))
            problems.append(Problem(key_path((*loc, key)), f"must be one of {', '.join(map(repr, tags))}, got {error['ctx']['tag']}"))
            continue
        problems.append(Problem(key_path(loc), _message(error)))
    return problems


# --- cross-field checks ----------------------------------------------------------------------------------------------


def _cross_checks(cfg: StackConfig) -> list[Problem]:
    problems: list[Problem] = []
    by_body = body_based_routing(cfg)
    names = [m.name for _, m in serving(cfg)]
    if not names:
        problems.append(Problem("models", (
            "every model is retired or removed: nothing to serve, and the gateway, pools and monitoring would have "
            "nothing behind them; keep at least one model with state: serving (docs/models.md)")))
    idle = {m.name: (i, m.state) for i, m in enumerate(cfg.models) if m.state != "serving"}
    groups = shared_groups(cfg) if by_body else []
    if len(groups) > 1:
        second = groups[1][0]
        problems.append(Problem(f"models[{cfg.models.index(second)}].route", (
            f"a second group of models shares a route ({', '.join(m.name for m in groups[1])}, besides "
            f"{', '.join(m.name for m in groups[0])}): body-based routing serves one shared URL with one "
            "gateway.defaultModel; give these their own hostname or path prefix")))
    if groups and cfg.gateway.default_model in names and cfg.gateway.default_model not in [m.name for m in groups[0]]:
        problems.append(Problem("gateway.defaultModel", (
            f"{cfg.gateway.default_model!r} has a route of its own: the default must be one of the models sharing "
            f"the route ({', '.join(m.name for m in groups[0])}), which it serves requests naming no or an unknown model")))
    if by_body and cfg.gateway.default_model is None:
        problems.append(Problem("gateway.defaultModel", (
            f"required with body-based routing: the model that serves requests naming none (GET /v1/models, health "
            f"checks) or an unknown one; one of {', '.join(names)}")))
    elif cfg.gateway.default_model in idle:
        index, state = idle[cfg.gateway.default_model]
        problems.append(Problem("gateway.defaultModel", (
            f"{cfg.gateway.default_model!r} is {state} (models[{index}].state) and serves nothing: name a serving model"
            + (f" ({', '.join(names)})" if names else ""))))
    elif cfg.gateway.default_model is not None and cfg.gateway.default_model not in names:
        close = difflib.get_close_matches(cfg.gateway.default_model, names, n=1)
        problems.append(Problem("gateway.defaultModel", f"no model named {cfg.gateway.default_model!r} in models"
                                + (f" (did you mean {close[0]!r}?)" if close else f" (models: {', '.join(names)})")))
    elif cfg.gateway.default_model is not None and not by_body:
        problems.append(Problem("gateway.defaultModel", "only used with body-based routing (gateway.bodyBasedRouting)"))
    seen_names: dict[str, int] = {}
    seen_served: dict[str, int] = {}
    seen_routes: dict[tuple, int] = {}
    for i, model in enumerate(cfg.models):
        at = f"models[{i}]"
        if model.name in seen_names:
            problems.append(Problem(f"{at}.name", f"duplicate model name {model.name!r} (also models[{seen_names[model.name]}])"))
        seen_names.setdefault(model.name, i)
        if model.state != "serving":
            continue  # names its cache (URNs, object names); routes, serves and claims nothing
        if model.served_name in seen_served:
            problems.append(
                Problem(f"{at}.servedName", f"duplicate served name {model.served_name!r} (also models[{seen_served[model.served_name]}])")
            )
        seen_served.setdefault(model.served_name, i)
        route = route_match_key(model, routed_by_body(cfg, model))
        if route in seen_routes:
            problems.append(
                Problem(
                    f"{at}.route",
                    f"matches exactly what models[{seen_routes[route]}].route matches (hostnames, pathPrefix, model header); "
                    "give one of them its own hostname or path prefix, or leave gateway.bodyBasedRouting unset to route "
                    "them by the request's model",
                )
            )
        seen_routes.setdefault(route, i)
        timeouts = model.route.timeouts
        request_ms, backend_ms = duration_ms(timeouts.request), duration_ms(timeouts.backend_request)
        if request_ms != 0 and backend_ms > request_ms:
            problems.append(
                Problem(
                    f"{at}.route.timeouts.backendRequest",
                    f"{timeouts.backend_request} is longer than request {timeouts.request}; "
                    "Gateway API requires backendRequest <= request unless request is 0s",
                )
            )
        if model.engine.kind != "sim" and model.model_kit is None:
            problems.append(Problem(f"{at}.modelKit", f"required for engine {model.engine.kind!r} (only 'sim' loads no model)"))
        if model.model_kit is not None:
            problems += _repository_prefix(cfg, model.model_kit, at)
        if model.cache.access_mode == "ReadWriteOncePod" and model.replicas > 1:
            problems.append(
                Problem(f"{at}.cache.accessMode", "ReadWriteOncePod lets one pod mount the model; use ReadWriteOnce or ReadWriteMany")
            )
        if model.engine.kind != "sim" and not cfg.gpu.enabled:
            problems.append(
                Problem(f"{at}.engine.kind", f"engine {model.engine.kind!r} needs GPUs; set gpu.enabled: true or use 'sim'")
            )
    registry = cfg.registry
    if registry.ca_cert and registry.tls != "verify":
        problems.append(Problem("registry.caCert", f"is not used with registry.tls {registry.tls!r}; drop one of them"))
    if registry.tls != "verify" and cfg.loader.cosign:
        problems.append(Problem(
            "registry.tls", f"{registry.tls!r} with loader.cosign: kitops-init runs cosign without "
            "--allow-insecure-registry, so verification would fail; give the registry's CA as registry.caCert instead"))
    if image_tag(cfg.scheduling.epp_image) is None:
        problems.append(Problem("scheduling.eppImage", "the pool chart takes the image as repository and tag; pin a tag "
                                "(a digest may follow it), not only a digest"))
    plugin_refs: dict[str, int] = {}
    for i, plugin in enumerate(cfg.scheduling.plugins):
        known = PLUGIN_PARAMETERS.get(plugin.type, {})
        for key, value in plugin.parameters.items():
            if key not in known:
                hint = f"known: {', '.join(sorted(known))}" if known else "this plugin takes none"
                problems.append(Problem(f"scheduling.plugins[{i}].parameters.{key}", f"unknown parameter for {plugin.type} ({hint})"))
            elif not isinstance(value, known[key]) or isinstance(value, bool):
                problems.append(
                    Problem(f"scheduling.plugins[{i}].parameters.{key}", f"must be {known[key].__name__}, got {value!r}")
                )
        if plugin.ref in plugin_refs:
            problems.append(Problem(f"scheduling.plugins[{i}]", f"duplicate plugin {plugin.ref!r}; give it a distinct name"))
        plugin_refs.setdefault(plugin.ref, i)
    for i, profile in enumerate(cfg.scheduling.profiles):
        for j, ref in enumerate(profile.plugins):
            if ref.plugin_ref not in plugin_refs:
                problems.append(
                    Problem(
                        f"scheduling.profiles[{i}].plugins[{j}].pluginRef",
                        f"no plugin {ref.plugin_ref!r} in scheduling.plugins (known: {', '.join(plugin_refs)})",
                    )
                )
    monitoring = cfg.monitoring
    if (monitoring.enabled and monitoring.exporter.enabled and monitoring.exporter.generation == "v2"
            and monitoring.prometheus.mode == "existing" and "release" not in monitoring.prometheus.monitor_labels):
        problems.append(Problem(
            "monitoring.prometheus.monitorLabels",
            "the xpumd chart (exporter v2) labels its ServiceMonitor only with `release`: include the `release` "
            "label your Prometheus selects, or use exporter generation v1",
        ))
    problems += _placement_problems(cfg) + _tls_problems(cfg)
    exporter = cfg.monitoring.exporter
    if exporter.generation == "v2" and exporter.image and image_tag(exporter.image.split("@")[0]) is None:
        problems.append(Problem("monitoring.exporter.image", "the xpumd chart writes repository:tag: give the tag, "
                                "a digest may follow it (ghcr.io/intel/xpumanager/xpumd:v2.0.0@sha256:...)"))
    if cfg.gpu.enabled and _minor(cfg.cluster.kubernetes_version) < (1, 34):
        problems.append(
            Problem("cluster.kubernetesVersion", "the Intel GPU DRA driver 0.11 needs Kubernetes >= 1.34 (resource.k8s.io/v1)")
        )
    return problems + capacity_problems(cfg)


def _repository_prefix(cfg: StackConfig, kit: ModelKitRef, at: str) -> list[Problem]:
    """A repository written with what the program puts in front of it (Harbor's UI shows `<project>/<name>`):
    `<host>/<project>/<project>/<name>` would be pulled, and fail only in the loader Job."""
    project = kit.project or cfg.registry.project
    segments = kit.repository.split("/")
    for prefix, what in ((cfg.registry.host, "registry.host"), (project, "the Harbor project")):
        if len(segments) > 1 and segments[0] == prefix:
            rest = segments[2:] if segments[1] == project and len(segments) > 2 else segments[1:]
            return [Problem(f"{at}.modelKit.repository", (
                f"{kit.repository!r} starts with {what} ({prefix}): give only the repository path inside the project "
                f"({'/'.join(rest)!r}); the program prefixes registry.host/{project} itself"))]
    return []


def _tls_problems(cfg: StackConfig) -> list[Problem]:
    """HTTPS wherever a key is sent: a stack whose models need the API key serves HTTPS unless plain HTTP is
    acknowledged; a certificate comes from one place."""
    gateway, certificates = cfg.gateway, cfg.certificates
    problems = []
    if certificates.enabled and gateway.tls.secret_name:
        problems.append(Problem("gateway.tls.secretName", "contradicts certificates.enabled: the certificate comes "
                                "either from your Secret or from cert-manager; drop one"))
    covered = [*certificates.dns_names, *certificates.ip_addresses,
               *(host for _, model in serving(cfg) for host in model.route.hostnames)]
    if certificates.enabled and not covered:
        problems.append(Problem("certificates.dnsNames", "required: the names (or certificates.ipAddresses) clients "
                                "reach the gateway by; the models' route hostnames count too, and there are none"))
    has_tls = bool(tls_secret(cfg))
    if gateway.plain_http and has_tls:
        problems.append(Problem("gateway.plainHttp", "contradicts the HTTPS listener (certificates.enabled or "
                                "gateway.tls.secretName); to keep HTTP beside HTTPS set gateway.tls.allowHttp"))
    needs_key = not gateway.open_access and any(m.engine.kind != "sim" for _, m in serving(cfg))
    if needs_key and not has_tls and not gateway.plain_http:
        problems.append(Problem("gateway.tls", (
            "the API key and every prompt would cross the network in clear: serve HTTPS with certificates.enabled: "
            "true (cert-manager and a homelab CA) or gateway.tls.secretName (your kubernetes.io/tls Secret), or "
            "acknowledge plain HTTP with gateway.plainHttp: true")))
    return problems


def _placement_problems(cfg: StackConfig) -> list[Problem]:
    """What would deploy fine and then not work: a Gateway behind Traefik's ports, an exporter pod Pending."""
    problems = []
    gateway = cfg.gateway
    taken = sorted({80, 443} & set(gateway_service_ports(cfg)))
    if (cfg.cluster.distribution == "k3s" and not cfg.cluster.k3s.traefik_disabled
            and gateway.service_type == "LoadBalancer" and taken):
        key = "gateway.port" if gateway.port in taken else "gateway.tls.port"
        problems.append(Problem(key, (
            f"k3s' Traefik holds {' and '.join(f':{p}' for p in taken)} through ServiceLB, so the Gateway's LoadBalancer "
            "would stay <pending> and clients could not connect: start k3s with --disable=traefik and set "
            "cluster.k3s.traefikDisabled: true, or pick another port, or set gateway.serviceType: NodePort")))
    exporter = cfg.monitoring.exporter
    if cfg.gpu.enabled and cfg.monitoring.enabled and exporter.enabled and not cfg.gpu.node_selector:
        problems.append(Problem("gpu.nodeSelector", (
            "required with the GPU exporter: its DRA claim takes every GPU of its node (allocationMode: All), so on a "
            "node without one its DaemonSet pod stays Pending and pulumi up times out; label the GPU nodes (e.g. "
            "kubectl label node <node> intel.feature.node.kubernetes.io/gpu=true) and select that label, or set "
            "monitoring.exporter.enabled: false")))
    return problems


def _minor(version: str) -> tuple[int, int]:
    major, minor, _ = version_tuple(version)
    return major, minor


def _secret_problems(
    cfg: StackConfig | None, raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str]
) -> list[Problem]:
    """Secrets given in plain text; with a valid config (`cfg`), also missing or non-string ones."""
    problems = []
    if cfg is not None and cfg.gateway.open_access and "apiKey" in raw:
        problems.append(Problem("gateway.openAccess", "contradicts the secret apiKey, which the model servers would "
                                "still require: drop one of them"))
    for key in SECRET_KEYS:
        if key in raw and key not in secret_keys:
            problems.append(Problem(key, f"must be a secret: pulumi config set --secret {key} <value>"))
        elif cfg is None:
            continue  # what is required depends on the rest of the config, which is invalid
        elif key not in raw and _secret_needed(cfg, key):
            problems.append(Problem(key, f"required secret is missing (needed when {SECRETS[key][0]}): "
                                         f"pulumi config set --secret {key} {SECRETS[key][1]}"))
        elif key in raw and not isinstance(raw[key], str):
            problems.append(Problem(key, "must be a string"))
    return problems


def _secret_needed(cfg: StackConfig, key: str) -> bool:
    if key == "registryToken":
        return any(m.model_kit is not None for _, m in serving(cfg))  # a retired cache loads nothing
    if key == "apiKey":
        return not cfg.gateway.open_access and any(m.engine.kind != "sim" for _, m in serving(cfg))
    return cfg.monitoring.enabled and cfg.monitoring.prometheus.mode == "install" and cfg.monitoring.grafana


def needed_secrets(cfg: StackConfig) -> list[str]:
    """The secret config keys a deploy of this stack needs, in SECRET_KEYS order."""
    return [key for key in SECRET_KEYS if _secret_needed(cfg, key)]


def set_secret_command(key: str, stack: str) -> str:
    return f"pulumi config set --secret {key} {SECRETS[key][1]} --stack {stack}"


# --- entry points ----------------------------------------------------------------------------------------------------


def parse_config(raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str] = frozenset()) -> StackConfig:
    """Validate the `llmd-homelab:*` keys (unqualified) of one stack; raise ConfigError with every problem."""
    plain = {k: v for k, v in raw.items() if k not in SECRET_KEYS}
    try:
        cfg = StackConfig.model_validate(plain)
    except ValidationError as exc:
        problems = _pydantic_problems(exc)
        problems += _secret_problems(None, raw, secret_keys)
        raise ConfigError(_hide_secret_values(problems, raw, secret_keys)) from None
    problems = _cross_checks(cfg) + guard_problems(cfg) + _secret_problems(cfg, raw, secret_keys)
    if problems:
        raise ConfigError(_hide_secret_values(problems, raw, secret_keys))
    return cfg


def _strings(value: Any) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return {s for v in value.values() for s in _strings(v)}
    if isinstance(value, list):
        return {s for v in value for s in _strings(v)}
    return set()


def _hide_secret_values(problems: list[Problem], raw: Mapping[str, Any], secret_keys: set[str] | frozenset[str]) -> list[Problem]:
    """Problems with every string a secret key holds (>= 4 characters) replaced by [secret]: messages echo bad
    values, and `pulumi up` prints and logs them in plaintext (secure config arrives decrypted)."""
    hidden = sorted({s for key in secret_keys if key in raw for s in _strings(raw[key]) if len(s) >= 4}, key=len, reverse=True)
    if not hidden:
        return problems

    def hide(text: str) -> str:
        for value in hidden:
            text = text.replace(repr(value), "'[secret]'").replace(value, "[secret]")
        return text

    return [Problem(p.path, hide(p.message)) for p in problems]


@dataclass(frozen=True)
class StackSecrets:
    """Secret config values as secret Outputs: they never exist as plain Python strings in the program."""

    registry_token: pulumi.Output[str] | None
    grafana_admin_password: pulumi.Output[str] | None
    api_key: pulumi.Output[str] | None = None


@dataclass(frozen=True)
class LoadedStack:
    config: StackConfig
    secrets: StackSecrets


def config_value(key: str, value: Any) -> Any:
    """A config value as the CLI hands it (objects as JSON text) made plain; a secret stays the string it is."""
    if key not in SECRET_KEYS and isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            pass
    return value


def read_raw_config() -> tuple[dict[str, Any], set[str]]:
    """This stack's `llmd-homelab:*` config as plain values, and which of those keys are secret."""
    from pulumi.runtime import config as runtime_config

    keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
    raw: dict[str, Any] = {}
    secret: set[str] = set()
    for full_key in sorted(keys):
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        value = config_value(key, runtime_config.get_config(full_key))
        raw[key] = value
        if runtime_config.is_config_secret(full_key):
            secret.add(key)
    return raw, secret


def load_config() -> LoadedStack:
    """Read and validate this stack's config (raises ConfigError before anything is registered)."""
    raw, secret_keys = read_raw_config()
    cfg = parse_config(raw, secret_keys)
    project_config = pulumi.Config(PROJECT)
    token = project_config.get_secret("registryToken")
    password = project_config.get_secret("grafanaAdminPassword")
    api_key = project_config.get_secret("apiKey")
    return LoadedStack(cfg, StackSecrets(registry_token=token, grafana_admin_password=password, api_key=api_key))
