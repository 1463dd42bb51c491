"""Security of what the cluster gets: the API key, tight model-server containers, routes that expose the API only."""

from __future__ import annotations

import json

from conftest import PASSWORD, TOKEN, objects

API_KEY = "sk-homelab-api-key-0123456789abcdef"


def decode_pod(result) -> dict:
    (decode,) = [d for d in objects(result, "Deployment") if d["metadata"]["name"].endswith("-decode")]
    return decode["spec"]["template"]


def test_the_api_key_reaches_every_vllm_container_through_a_secret_ref(render, homelab):
    homelab["models"].append({**homelab["models"][0], "name": "qwen-7b", "servedName": "qwen2.5-7b",
                              "modelKit": {"repository": "qwen-7b", "tag": "2.0.0"},
                              "route": {"pathPrefix": "/qwen-7b"}})
    result = render(homelab, {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD, "apiKey": API_KEY})
    decodes = [d for d in objects(result, "Deployment") if d["metadata"]["name"].endswith("-decode")]
    assert len(decodes) == 2
    (secret,) = [s for s in objects(result, "Secret") if s["metadata"]["name"] == "llm-d-api-key"]
    assert secret["stringData"] == "[secret]" or secret["stringData"] == {"api-key": "[secret]"}
    for decode in decodes:
        container = decode["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["VLLM_API_KEY"] == {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {
            "name": "llm-d-api-key", "key": "api-key"}}}
        assert secret["metadata"]["namespace"] == decode["metadata"]["namespace"]
        assert "api-key" not in " ".join(container.get("args", []) + container.get("command", []))
    # Never in plain text: not in any input, output or chart value the engine records.
    assert API_KEY not in json.dumps([r.to_json() for r in result.resources]) + json.dumps(result.outputs)


def test_without_an_api_key_nothing_references_one(homelab_render):
    container = decode_pod(homelab_render)["spec"]["containers"][0]
    assert "VLLM_API_KEY" not in {e["name"] for e in container.get("env", [])}
    assert not [s for s in objects(homelab_render, "Secret") if s["metadata"]["name"] == "llm-d-api-key"]


def test_the_api_key_must_be_a_secret(homelab):
    from test_config import problems

    homelab["apiKey"] = API_KEY
    assert "must be a secret" in problems(homelab)["apiKey"]


def test_model_server_pods_run_without_privileges_or_an_api_token(homelab_render):
    pod = decode_pod(homelab_render)
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = spec["containers"][0]["securityContext"]
    assert context == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    # The RWO same-node affinity survives next to the security settings.
    assert spec["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
