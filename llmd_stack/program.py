"""Composition: one provider, the namespaces, every component in dependency order, the stack exports.

This is the program `pulumi up` runs (through `__main__.py`) and the offline engine runs under mocks.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from .config import LoadedStack, StackConfig


def kubernetes_provider(cfg: StackConfig) -> k8s.Provider:
    """The one explicit provider: default providers are disabled in every stack file."""
    return k8s.Provider(
        "k8s",
        kubeconfig=cfg.cluster.kubeconfig,
        context=cfg.cluster.context,
        # Server-side apply lets kgateway/charts and this program co-own fields without conflicts.
        enable_server_side_apply=True,
    )


def build(loaded: LoadedStack) -> None:
    cfg = loaded.config
    provider = kubernetes_provider(cfg)
    opts = pulumi.ResourceOptions(provider=provider)

    namespace = k8s.core.v1.Namespace(
        "serving-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=cfg.cluster.namespace,
            labels={"app.kubernetes.io/part-of": "llm-d", "pod-security.kubernetes.io/enforce": "baseline"},
        ),
        opts=opts,
    )

    pulumi.export("namespace", namespace.metadata.name)
    pulumi.export("models", [m.served_name for m in cfg.models])
