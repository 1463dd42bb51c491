"""The security context every workload the program can shape gets, for images built on distroless/static:nonroot
(GAIE's and llm-d-router's EPPs, GAIE's body-based router): a non-root UID, the runtime's seccomp profile, no
privilege escalation, no capability, a read-only root filesystem."""

from __future__ import annotations

NONROOT_UID = 65532  # distroless/static:nonroot's user


def nonroot_pod() -> dict:
    return {"runAsNonRoot": True, "runAsUser": NONROOT_UID, "runAsGroup": NONROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def locked_container() -> dict:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
