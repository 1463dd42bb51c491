"""ServingNetworkPolicies: model pods and the EPP accept traffic only from the gateway, the EPP and Prometheus."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from .meta import object_meta


@dataclass(frozen=True)
class ServingNetworkPoliciesArgs:
    namespace: pulumi.Input[str]
    model: str
    model_pod_labels: pulumi.Input[dict[str, str]]  # from the model service
    model_port: pulumi.Input[int]
    epp_pod_labels: dict[str, str]  # from the inference pool
    epp_ports: tuple[int, int]  # (ext-proc, metrics)
    gateway_pod_labels: dict[str, str]  # from the gateway provider
    prometheus_namespace: str | None  # None: nothing scrapes


def _pods(labels: pulumi.Input[dict[str, str]]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=labels))


def _namespace(name: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": name})
    )


def _rule(peers, port) -> k8s.networking.v1.NetworkPolicyIngressRuleArgs:
    return k8s.networking.v1.NetworkPolicyIngressRuleArgs(
        from_=peers, ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")]
    )


class ServingNetworkPolicies(pulumi.ComponentResource):
    def __init__(self, name: str, args: ServingNetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llmd:network:ServingNetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = {"llm-d.ai/model": args.model}
        ext_proc, metrics = args.epp_ports
        scrapers = [_namespace(args.prometheus_namespace)] if args.prometheus_namespace else []
        model_rules = [_rule([_pods(args.gateway_pod_labels), _pods(args.epp_pod_labels)], args.model_port)]
        epp_rules = [_rule([_pods(args.gateway_pod_labels)], ext_proc)]
        if scrapers:
            model_rules.append(_rule(scrapers, args.model_port))
            epp_rules.append(_rule(scrapers, metrics))
        for suffix, selector, rules in (("model-pods", args.model_pod_labels, model_rules), ("epp", args.epp_pod_labels, epp_rules)):
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{suffix}",
                metadata=object_meta(f"{args.model}-{suffix}", args.namespace, "network-policy", **labels),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                    policy_types=["Ingress"],
                    ingress=rules,
                ),
                opts=child,
            )
        self.register_outputs({})
