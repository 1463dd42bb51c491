"""ModelService: the llm-d `modelservice` chart (v0.4 layout) running vLLM decode pods for one model.

Uses `helm.v4.Chart`: the chart has no Helm hooks, and v4 lets `pulumi preview` and CrossGuard see each object.
The chart is given intent (model, GPUs, engine); the values layout is this module's business:
- `accelerator: {type: intel, dra: true, resourceClaimTemplates: {intel: ...}}` (the v0.3 `dra:` block is gone);
- `modelArtifacts.uri: pvc://<claim>/<path>` mounts the ModelKit PVC read-only;
- `modelCommand: custom` injects nothing, so the engine command carries `--model <mountPath>/<path>` itself;
- the routing sidecar is off (decode-only), so vLLM listens on `routing.servicePort`.
"""

from __future__ import annotations

import copy
import math
import shlex
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_kubernetes as k8s

from . import helm
from .chart_sources import MODELSERVICE
from .meta import child_options, spec_hash
from policies.rules.metric_names import metrics_generation
from .values import deep_merge

MODEL_MOUNT = "/data"
VLLM_PORT = 8000
CONTAINER = "vllm"
# A GPU model's rollout: every GPU is held by a running replica, so a surge pod could never get one. Replace one pod
# at a time (llmd_stack/capacity.py counts the cards a rollout needs from this, after a model's extraValues).
GPU_ROLLOUT: dict[str, Any] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
ROLE_LABEL = "llm-d.ai/role"

EngineKind = Literal["ipex-llm", "vllm", "sim"]
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@dataclass(frozen=True)
class ApiKeyRef:
    """Where the model servers' API key lives: a Secret in their namespace, one key."""

    secret_name: pulumi.Input[str]
    key: str = "api-key"
# Which vLLM metric names the engine emits: IPEX-LLM is vLLM 0.8.3 (V0 names); the simulator emits V1 names.
MetricsGeneration = Literal["v0", "v1"]


@dataclass(frozen=True)
class Engine:
    kind: EngineKind
    image: str
    dtype: str = "float16"
    prefix_caching: bool = True
    max_model_len: int | None = None
    extra_args: tuple[str, ...] = ()
    run_as: tuple[int, int] | None = None  # (uid, render group gid); None: the image's user

    @property
    def metrics_generation(self) -> MetricsGeneration:
        return metrics_generation(self.kind, self.image)  # type: ignore[return-value]

    @property
    def needs_gpu(self) -> bool:
        return self.kind != "sim"

    def command(self, served_name: str, model_dir: str, tensor_parallel: int) -> dict[str, Any]:
        """The chart's container keys that start the engine (`modelCommand`, `command`, `args`)."""
        if self.kind == "sim":
            # imageDefault: the chart passes --model/--port/--served-model-name to the image's own entrypoint.
            return {"modelCommand": "imageDefault", "args": ["--mode", "random", "--force-dummy-tokenizer", *self.extra_args]}
        engine_args = [
            "--served-model-name", served_name, "--port", str(VLLM_PORT), "--model", model_dir,
            "--dtype", self.dtype, "--tensor-parallel-size", str(tensor_parallel),
        ]
        if self.max_model_len:
            engine_args += ["--max-model-len", str(self.max_model_len)]
        if self.prefix_caching:
            engine_args.append("--enable-prefix-caching")
        engine_args += list(self.extra_args)
        if self.kind == "ipex-llm":
            server = ["python", "-m", "ipex_llm.vllm.xpu.entrypoints.openai.api_server", "--device", "xpu"]
            script = "source /opt/intel/1ccl-wks/setvars.sh && exec " + shlex.join([*server, *engine_args])
            return {"modelCommand": "custom", "command": ["/bin/bash", "-c"], "args": [script]}
        return {"modelCommand": "custom", "command": ["vllm", "serve"], "args": engine_args}


@dataclass(frozen=True)
class Resources:
    requests: dict[str, str]
    limits: dict[str, str]


@dataclass(frozen=True)
class ModelServiceArgs:
    namespace: pulumi.Input[str]
    model: str
    served_name: str
    chart_version: str
    engine: Engine
    replicas: int
    gpus_per_replica: int
    resources: Resources
    shm_size: str
    startup_timeout_seconds: int
    # From the GPU driver component (None for engines without GPUs).
    device_class: pulumi.Input[str] | None = None
    device_selectors: pulumi.Input[list[str]] | None = None
    # From the ModelKit cache component (None for the simulator, which loads nothing).
    claim_name: pulumi.Input[str] | None = None
    model_path: pulumi.Input[str] | None = None
    same_node: bool = False  # RWO model PVC shared by several replicas
    node_selector: dict[str, str] = field(default_factory=dict)  # e.g. nodes with the GPUs
    api_key: ApiKeyRef | None = None  # the API key clients must send; None leaves the API open to the network
    pod_monitor_labels: dict[str, str] | None = None  # None: no PodMonitor
    extra_values: dict[str, Any] = field(default_factory=dict)


def pod_labels(model: str) -> dict[str, str]:
    """Labels of the decode pods: the chart applies `modelArtifacts.labels` plus `llm-d.ai/role: decode`."""
    return {"llm-d.ai/inference-serving": "true", "llm-d.ai/model": model, ROLE_LABEL: "decode"}


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": CONTAINER}, "periodSeconds": period, "failureThreshold": failures}


def chart_values(
    args: ModelServiceArgs,
    device_class: str | None,
    selectors: list[str] | None,
    claim_name: str | None,
    model_path: str | None,
) -> dict[str, Any]:
    """The modelservice v0.4.x values for one model: what `values.schema.json` validates."""
    engine = args.engine
    labels = {k: v for k, v in pod_labels(args.model).items() if k != ROLE_LABEL}
    if engine.kind == "sim":
        artifacts = {"name": args.served_name, "uri": f"hf://{args.served_name}", "labels": labels}
        accelerator: dict[str, Any] = {"type": "cpu", "dra": False}
    else:
        artifacts = {
            "name": args.served_name,
            "uri": f"pvc://{claim_name}/{model_path}",
            "mountPath": MODEL_MOUNT,
            "readOnly": True,
            "labels": labels,
        }
        claim_template: dict[str, Any] = {"class": device_class, "match": "exactly"}
        if selectors:
            claim_template["selectors"] = [{"cel": {"expression": expression}} for expression in selectors]
        # A ResourceClaimTemplate's spec is immutable: a new selection or GPU count gets a new template (and rolls
        # the pods), not an update the API server rejects. The chart derives the count from the parallelism.
        identity = spec_hash({**claim_template, "count": args.gpus_per_replica})
        claim_template = {"name": f"{args.model}-gpu-{identity}", **claim_template}
        accelerator = {"type": "intel", "dra": True, "resourceClaimTemplates": {"intel": claim_template}}
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": engine.image,
        "imagePullPolicy": "IfNotPresent",
        **engine.command(args.served_name, f"{MODEL_MOUNT}/{model_path}", args.gpus_per_replica),
        "ports": [{"name": CONTAINER, "containerPort": VLLM_PORT, "protocol": "TCP"}],
        "resources": {"requests": dict(args.resources.requests), "limits": dict(args.resources.limits)},
        "mountModelVolume": engine.kind != "sim",
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
        # Loading an 8B model from disk onto an A770 takes minutes: give it the configured budget, not the default.
        "startupProbe": _probe("/health", 10, math.ceil(args.startup_timeout_seconds / 10)),
        "readinessProbe": _probe("/health", 5, 3),
        "livenessProbe": _probe("/health", 10, 6),
        # The engine needs no privilege: the GPU arrives as a DRA-injected device node, not through capabilities.
        "extraConfig": {"securityContext": CONTAINER_SECURITY},
    }
    env: list[dict[str, Any]] = []
    if args.api_key is not None:
        # vLLM reads VLLM_API_KEY and then requires `Authorization: Bearer <key>` on /v1 (not on /health, /metrics).
        env.append({"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {
            "name": args.api_key.secret_name, "key": args.api_key.key}}})
    if engine.kind == "vllm":
        # vLLM >= 0.20 (torch >= 2.11) asks getpass.getuser() for torch's cache folder at import and dies when the
        # UID has no passwd entry; USER answers it first (vllm-project/vllm#44548; llm-d's XPU vLLM recipe sets it).
        env.append({"name": "USER", "value": "vllm"})
    if engine.run_as is not None:
        # The images' home (/root) is root's only: torch's and Triton's caches go to a writable one.
        env.append({"name": "HOME", "value": "/tmp"})
    if env:
        container["env"] = env
    pod_monitor = {"enabled": args.pod_monitor_labels is not None}
    if args.pod_monitor_labels is not None:
        pod_monitor.update(portName=CONTAINER, path="/metrics", interval="30s", labels=dict(args.pod_monitor_labels))
    decode: dict[str, Any] = {
        "create": True,
        "replicas": args.replicas,
        # Pulumi waits for the Deployment: give it the model's load budget plus image pull time, not 10 minutes.
        "annotations": {"pulumi.com/timeoutSeconds": str(args.startup_timeout_seconds + 900)},
        "parallelism": {"tensor": args.gpus_per_replica, "dataLocal": 1},
        "containers": [container],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": args.shm_size}}],
        "monitoring": {"podmonitor": pod_monitor},
    }
    if engine.needs_gpu:
        decode["strategy"] = copy.deepcopy(GPU_ROLLOUT)
    if args.node_selector:
        decode["nodeSelector"] = dict(args.node_selector)
    # Pod-level: the runtime's default seccomp profile, and no API token: vLLM never calls the Kubernetes API.
    decode["extraConfig"] = {"securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                             "automountServiceAccountToken": False}
    if engine.run_as is not None:
        uid, render_group = engine.run_as
        container["extraConfig"]["securityContext"] = {**CONTAINER_SECURITY, "runAsNonRoot": True, "runAsUser": uid,
                                                       "runAsGroup": uid}
        # The DRA-injected render node keeps the host's owner group: membership opens the GPU.
        decode["extraConfig"]["securityContext"]["supplementalGroups"] = [render_group]
    if args.same_node:
        # A ReadWriteOnce model PVC can only be mounted on one node: keep every replica on the same one.
        decode["extraConfig"] |= {
            "affinity": {
                "podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [
                        {"labelSelector": {"matchLabels": pod_labels(args.model)}, "topologyKey": "kubernetes.io/hostname"}
                    ]
                }
            }
        }
    values = {
        "fullnameOverride": args.model,
        "multinode": False,
        "modelArtifacts": artifacts,
        "accelerator": accelerator,
        "routing": {"servicePort": VLLM_PORT, "proxy": {"enabled": False}},
        "decode": decode,
        "prefill": {"create": False},
    }
    return with_valid_strategy(deep_merge(values, args.extra_values))


def with_valid_strategy(values: dict[str, Any]) -> dict[str, Any]:
    """`extraValues.decode.strategy: {type: Recreate}` merged over the program's rolling update would keep its
    `rollingUpdate`, which the API server refuses with Recreate: drop it."""
    strategy = (values.get("decode") or {}).get("strategy")
    if isinstance(strategy, dict) and strategy.get("type") == "Recreate":
        strategy.pop("rollingUpdate", None)
    return values


class ModelService(pulumi.ComponentResource):
    pod_labels: pulumi.Output[dict[str, str]]
    port: pulumi.Output[int]
    served_name: pulumi.Output[str]
    metrics_generation: pulumi.Output[str]
    deployment_name: pulumi.Output[str]

    def __init__(self, name: str, args: ModelServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:serving:ModelService", name, None, opts)
        values = pulumi.Output.all(
            args.device_class, args.device_selectors, args.claim_name, args.model_path
        ).apply(lambda resolved: chart_values(args, *resolved))
        chart = helm.chart(f"{name}-release", MODELSERVICE, args.chart_version, namespace=args.namespace, values=values,
                           opts=child_options(self, opts))
        ready = chart.urn
        self.pod_labels = ready.apply(lambda _: pod_labels(args.model))
        self.port = ready.apply(lambda _: VLLM_PORT)
        self.served_name = ready.apply(lambda _: args.served_name)
        self.metrics_generation = pulumi.Output.from_input(args.engine.metrics_generation)
        self.deployment_name = ready.apply(lambda _: f"{args.model}-decode")
        self.register_outputs(
            {
                "pod_labels": self.pod_labels,
                "port": self.port,
                "served_name": self.served_name,
                "metrics_generation": self.metrics_generation,
            }
        )
