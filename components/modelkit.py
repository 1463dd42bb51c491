"""ModelKitCache: a PVC filled once from a Harbor ModelKit by a `kitops-init` Job, with a real pull secret.

Each ModelKit version unpacks into its own folder (`<model>/<version>`), so a new version lands next to the old
one; the model pods move to the new path, nothing is deleted and scaling out never downloads again.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .meta import labels, object_meta

MOUNT_PATH = "/data"
LOADER_UID = 1001  # kitops-init runs as UID 1001 with HOME=/home/user
LOADER_TEMPLATE_REVISION = 2  # bump when the loader pod template changes (2: its own account, no API token)
DOCKER_CONFIG_DIR = "/home/user/.docker"
COSIGN_KEY_DIR = "/etc/cosign"
# Go (kit, cosign) reads SSL_CERT_DIR's folders besides its default bundle file: the CA is added, not substituted.
REGISTRY_CA_DIR = "/etc/registry-ca"
TLS_FLAGS = {"verify": [], "skipVerify": ["--tls-verify=false"], "plainHttp": ["--plain-http"]}  # kit's own flags


@dataclass(frozen=True)
class RegistryAccess:
    host: str
    robot_account: str
    token: pulumi.Input[str]  # a secret Output from `registryToken`
    ca_cert: str | None = None  # PEM of a private CA the loader trusts besides the system roots
    tls: str = "verify"  # verify | skipVerify | plainHttp


@dataclass(frozen=True)
class Cosign:
    public_key: str | None = None
    cert_identity: str | None = None
    cert_oidc_issuer: str | None = None


@dataclass(frozen=True)
class ModelKitCacheArgs:
    namespace: pulumi.Input[str]
    model: str
    modelkit_ref: str  # harbor.homelab.lan/llm/ds-r1-llama-8b:1.0.0 or ...@sha256:...
    version: str  # tag or digest: names the folder the version unpacks into
    size: str
    storage_class: str | None
    access_mode: str
    loader_image: str
    registry: RegistryAccess | None  # None only when retired: nothing is pulled
    cosign: Cosign | None = None
    # Where the loader runs decides where a node-local volume (k3s local-path) lives: with the GPUs.
    node_selector: dict[str, str] | None = None
    path_in_kit: str = "."  # the Kitfile's model.path: where the model lands inside the unpack folder
    # A retired model: only the PVC, registered exactly as when serving (same URN, same inputs), so the update
    # leaves the cache alone while the loader, its account and pull secret go.
    retired: bool = False


def served_path(folder: str, path_in_kit: str) -> str:
    """The unpack folder joined with the Kitfile's model path (`.` is the folder itself)."""
    inner = path_in_kit.strip("/")
    return folder if inner in ("", ".") else f"{folder}/{inner}"


def version_folder(version: str) -> str:
    """A path-safe folder name for a tag (`1.0.0`) or digest (`sha256-0123456789ab`)."""
    if version.startswith("sha256:"):
        return "sha256-" + version.split(":", 1)[1][:12]
    return re.sub(r"[^A-Za-z0-9_.-]", "-", version)


def docker_config_json(host: str, username: str, token: str) -> str:
    auth = base64.b64encode(f"{username}:{token}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": token, "auth": auth}}}, sort_keys=True)


class ModelKitCache(pulumi.ComponentResource):
    claim: k8s.core.v1.PersistentVolumeClaim
    claim_name: pulumi.Output[str]
    model_path: pulumi.Output[str]
    loader_job: k8s.batch.v1.Job

    def __init__(self, name: str, args: ModelKitCacheArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:model:ModelKitCache", name, None, opts)
        component = "model-cache"
        model_labels = {"llm-d.ai/model": args.model}

        # The PVC outlives `pulumi destroy` and refuses replacement: re-downloading a model is hours, not seconds.
        # Its name depends only on the model name, never on a value that changes with the ModelKit version.
        claim = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-pvc",
            metadata=object_meta(f"{args.model}-model-cache", args.namespace, component, **model_labels),
            spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                access_modes=[args.access_mode],
                storage_class_name=args.storage_class,
                resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": args.size}),
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True),
        )
        self.claim = claim
        self.claim_name = claim.metadata.name
        if args.retired:
            self.register_outputs({"claim_name": self.claim_name})
            return

        registry = args.registry
        assert registry is not None, "a serving cache pulls its ModelKit"
        config_json = pulumi.Output.secret(registry.token).apply(
            lambda token: docker_config_json(registry.host, registry.robot_account, token)
        )
        pull_secret = k8s.core.v1.Secret(
            f"{name}-pull-secret",
            metadata=object_meta(f"{args.model}-modelkit-pull", args.namespace, component, **model_labels),
            type="kubernetes.io/dockerconfigjson",
            string_data={".dockerconfigjson": pulumi.Output.secret(config_json)},
            opts=pulumi.ResourceOptions(parent=self),
        )

        folder = f"{args.model}/{version_folder(args.version)}"
        volumes = [
            k8s.core.v1.VolumeArgs(
                name="model-cache",
                persistent_volume_claim=k8s.core.v1.PersistentVolumeClaimVolumeSourceArgs(claim_name=claim.metadata.name),
            ),
            k8s.core.v1.VolumeArgs(
                name="registry-auth",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=pull_secret.metadata.name,
                    items=[k8s.core.v1.KeyToPathArgs(key=".dockerconfigjson", path="config.json")],
                ),
            ),
        ]
        mounts = [
            k8s.core.v1.VolumeMountArgs(name="model-cache", mount_path=MOUNT_PATH),
            k8s.core.v1.VolumeMountArgs(name="registry-auth", mount_path=DOCKER_CONFIG_DIR, read_only=True),
        ]
        env = {
            "MODELKIT_REF": args.modelkit_ref,
            "UNPACK_PATH": f"{MOUNT_PATH}/{folder}",
            "UNPACK_FILTER": "model",
            # Setting EXTRA_FLAGS replaces the image default; keep --ignore-existing so re-runs skip what is there.
            "EXTRA_FLAGS": " ".join(["--ignore-existing", *TLS_FLAGS[registry.tls]]),
            "DOCKER_CONFIG": DOCKER_CONFIG_DIR,
        }
        extra_children: list[pulumi.Resource] = []

        def mount_file(key: str, file_name: str, content: str, folder: str) -> None:
            """A file the loader reads, from a ConfigMap of this model, mounted read-only in `folder`."""
            config_map = k8s.core.v1.ConfigMap(
                f"{name}-{key}",
                metadata=object_meta(f"{args.model}-{key}", args.namespace, component, **model_labels),
                data={file_name: content},
                opts=pulumi.ResourceOptions(parent=self),
            )
            extra_children.append(config_map)
            volumes.append(k8s.core.v1.VolumeArgs(
                name=key, config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=config_map.metadata.name)))
            mounts.append(k8s.core.v1.VolumeMountArgs(name=key, mount_path=folder, read_only=True))

        if registry.ca_cert:
            mount_file("registry-ca", "ca.crt", registry.ca_cert, REGISTRY_CA_DIR)
            env["SSL_CERT_DIR"] = REGISTRY_CA_DIR
        if args.cosign and args.cosign.public_key:
            mount_file("cosign-key", "cosign.pub", args.cosign.public_key, COSIGN_KEY_DIR)
            env["COSIGN_KEY"] = f"{COSIGN_KEY_DIR}/cosign.pub"
        elif args.cosign:
            env["COSIGN_CERT_IDENTITY"] = args.cosign.cert_identity or ""
            env["COSIGN_CERT_OIDC_ISSUER"] = args.cosign.cert_oidc_issuer or ""

        # One Job per ModelKit version (the name carries a hash of it): Job pod templates are immutable, and a
        # finished Job for the old version must not be rerun or deleted first.
        # How the registry is reached is part of it (only when set, so existing Jobs keep their names).
        identity = args.modelkit_ref
        if registry.tls != "verify" or registry.ca_cert:
            identity += f"|{registry.tls}|{hashlib.sha256((registry.ca_cert or '').encode()).hexdigest()}"
        # The pod template's revision too: a template change gets a new Job, created (and run: --ignore-existing
        # skips what is there) before the old one is deleted, instead of the old one deleted first.
        identity += f"|template-{LOADER_TEMPLATE_REVISION}"
        job_name = f"{args.model}-load-{hashlib.sha256(identity.encode()).hexdigest()[:8]}"
        # Its own account, with no API token: the loader never calls the Kubernetes API (the registry's credentials
        # come from the mounted pull secret).
        account = k8s.core.v1.ServiceAccount(
            f"{name}-loader-account",
            metadata=object_meta(f"{args.model}-loader", args.namespace, "model-loader", **model_labels),
            automount_service_account_token=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.loader_job = k8s.batch.v1.Job(
            f"{name}-loader",
            metadata=object_meta(
                job_name, args.namespace, "model-loader", **model_labels, **{"llm-d.ai/modelkit-version": version_folder(args.version)}
            ),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=4,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels("model-loader", **model_labels)),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="OnFailure",
                        service_account_name=account.metadata.name,
                        automount_service_account_token=False,
                        node_selector=args.node_selector or None,
                        security_context=k8s.core.v1.PodSecurityContextArgs(
                            run_as_non_root=True,
                            run_as_user=LOADER_UID,
                            run_as_group=LOADER_UID,
                            fs_group=LOADER_UID,  # so UID 1001 can write the freshly provisioned volume
                            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                        ),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="kitops-init",
                                image=args.loader_image,
                                env=[k8s.core.v1.EnvVarArgs(name=k, value=v) for k, v in env.items()],
                                volume_mounts=mounts,
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "2", "memory": "2Gi"}
                                ),
                                security_context=k8s.core.v1.SecurityContextArgs(
                                    allow_privilege_escalation=False,
                                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                                ),
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            # Pulumi waits for the Job to complete: whatever depends on this component starts after the download.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[claim, pull_secret, account, *extra_children],
                custom_timeouts=pulumi.CustomTimeouts(create="3h", update="3h"),
            ),
        )

        self.loader_pod_labels = labels("model-loader", **model_labels)
        self.model_path = self.loader_job.metadata.apply(lambda _: served_path(folder, args.path_in_kit))
        self.register_outputs({"claim_name": self.claim_name, "model_path": self.model_path})
