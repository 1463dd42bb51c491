"""ModelService: the modelservice v0.4 values layout, wired to the GPU driver and the ModelKit cache."""

from __future__ import annotations

import re

import pytest
from conftest import chart_values, model_pvcs, second_model

RELEASE = "ds-r1-llama-8b-release"


def container(values) -> dict:
    return values["decode"]["containers"][0]


def command_line(values) -> str:
    c = container(values)
    return " ".join(c.get("command", []) + c.get("args", []))


def test_homelab_reproduces_the_reference_serving_setup(homelab_render):
    values = chart_values(homelab_render, RELEASE)
    assert values["decode"]["replicas"] == 2
    assert values["prefill"] == {"create": False}
    claim = values["accelerator"]
    assert (claim["type"], claim["dra"]) == ("intel", True)
    template = claim["resourceClaimTemplates"]["intel"]
    assert template["class"] == "gpu.intel.com" and template["match"] == "exactly"
    assert template["selectors"] == [{"cel": {"expression": 'device.attributes["gpu.intel.com"].model == "A770"'}}]
    assert "count" not in template  # the chart computes it; an explicit count is rejected by its schema
    assert values["decode"]["parallelism"] == {"tensor": 1, "dataLocal": 1}
    line = command_line(values)
    assert line.startswith("/bin/bash -c source /opt/intel/1ccl-wks/setvars.sh && exec python -m "
                           "ipex_llm.vllm.xpu.entrypoints.openai.api_server")
    for flag in ("--served-model-name deepseek-r1-distill-llama-8b", "--port 8000", "--device xpu",
                 "--dtype float16", "--tensor-parallel-size 1", "--enable-prefix-caching"):
        assert flag in line
    assert container(values)["ports"] == [{"containerPort": 8000, "name": "vllm", "protocol": "TCP"}]
    assert values["routing"] == {"servicePort": 8000, "proxy": {"enabled": False}}


def test_model_pvc_is_mounted_and_passed_as_the_model_path(homelab_render):
    values = chart_values(homelab_render, RELEASE)
    pvc = model_pvcs(homelab_render)[0].inputs["metadata"]["name"]
    artifacts = values["modelArtifacts"]
    assert artifacts["uri"] == f"pvc://{pvc}/ds-r1-llama-8b/1.0.0"
    assert (artifacts["mountPath"], artifacts["readOnly"]) == ("/data", True)
    assert container(values)["mountModelVolume"] is True
    assert "--model /data/ds-r1-llama-8b/1.0.0" in command_line(values)


def test_no_legacy_dra_block_and_pinned_images(homelab_render):
    values = chart_values(homelab_render, RELEASE)
    assert "dra" not in values
    for r in homelab_render.resources:
        for image in re.findall(r"'image': '([^']+)'", str(r.inputs)):
            assert re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", image) and not image.endswith(":latest"), image


@pytest.mark.parametrize("gpus", [1, 2, 4])
def test_claim_count_follows_gpus_per_replica(render, homelab, gpus):
    homelab["models"][0]["gpusPerReplica"] = gpus
    values = chart_values(render(homelab), RELEASE)
    assert values["decode"]["parallelism"]["tensor"] == gpus  # chart: count = tensor x dataLocal
    assert f"--tensor-parallel-size {gpus}" in command_line(values)


def test_gpu_count_zero_is_a_config_error(homelab):
    from test_config import problems

    homelab["models"][0]["gpusPerReplica"] = 0
    assert problems(homelab)["models[0].gpusPerReplica"] == "must be >= 1, got 0"


def test_shm_probes_and_resources(homelab_render):
    values = chart_values(homelab_render, RELEASE)
    assert values["decode"]["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}}]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container(values)["volumeMounts"]
    startup = container(values)["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1800  # minutes to load an 8B model
    assert container(values)["resources"] == {"requests": {"cpu": "4", "memory": "24Gi"},
                                              "limits": {"cpu": "8", "memory": "32Gi"}}


def test_prefix_caching_can_be_turned_off_and_extra_args_are_appended(render, homelab):
    homelab["models"][0]["engine"].update(prefixCaching=False, extraArgs=["--max-num-seqs", "8"])
    line = command_line(chart_values(render(homelab), RELEASE))
    assert "--enable-prefix-caching" not in line and line.endswith("--max-num-seqs 8")


def test_pods_wait_for_the_model_download_and_the_gpu_driver_only(homelab_render):
    release = homelab_render.one("kubernetes:helm.sh/v4:Chart", RELEASE)
    job = homelab_render.one("kubernetes:batch/v1:Job")
    driver = homelab_render.one("kubernetes:helm.sh/v4:Chart", "gpu-driver")
    assert job.urn in release.depends_on and driver.urn in release.depends_on
    # ...and the download does not wait for the driver: it starts at once.
    assert driver.urn not in job.depends_on


def test_replicas_share_a_node_for_a_readwriteonce_model_pvc(homelab_render, render, homelab):
    affinity = chart_values(homelab_render, RELEASE)["decode"]["extraConfig"]["affinity"]["podAffinity"]
    term = affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"]["llm-d.ai/model"] == "ds-r1-llama-8b"
    homelab["models"][0]["cache"]["accessMode"] = "ReadWriteMany"
    assert "affinity" not in chart_values(render(homelab), RELEASE)["decode"]["extraConfig"]


def test_chart_monitors_are_off_because_monitoring_owns_them(homelab_render):
    # The chart's PodMonitor would need the Prometheus CRDs before the model pods could start.
    assert chart_values(homelab_render, RELEASE)["decode"]["monitoring"]["podmonitor"] == {"enabled": False}


def test_simulator_has_no_gpu_claim_and_no_model_download(render, homelab):
    homelab["gpu"] = {"enabled": False}
    homelab["models"][0]["engine"] = {"kind": "sim"}
    del homelab["models"][0]["modelKit"]
    result = render(homelab)
    values = chart_values(result, RELEASE)
    assert values["accelerator"] == {"type": "cpu", "dra": False}
    assert container(values)["image"] == "ghcr.io/llm-d/llm-d-inference-sim:v0.10.2"
    assert container(values)["modelCommand"] == "imageDefault" and container(values)["mountModelVolume"] is False
    assert not model_pvcs(result)
    assert not result.of_type("kubernetes:batch/v1:Job")


def test_vllm_engine_needs_an_explicit_image(homelab):
    from test_config import problems

    homelab["models"][0]["engine"] = {"kind": "vllm"}
    assert "has no default image" in problems(homelab)["models[0].engine"]


def test_upstream_vllm_uses_vllm_serve(render, homelab):
    homelab["models"][0]["engine"] = {"kind": "vllm", "image": "intel/vllm:0.10.1-xpu"}
    values = chart_values(render(homelab), RELEASE)
    assert container(values)["command"] == ["vllm", "serve"]


def test_outputs_carry_labels_port_served_name_and_metrics_generation(homelab_render):
    exported = homelab_render.outputs["models"]["ds-r1-llama-8b"]
    assert exported == {
        "servedName": "deepseek-r1-distill-llama-8b",
        "podLabels": {"llm-d.ai/inference-serving": "true", "llm-d.ai/model": "ds-r1-llama-8b", "llm-d.ai/role": "decode"},
        "port": 8000,
        "metricsGeneration": "v0",
        "baseUrl": "https://llm.homelab.lan/v1",  # the name its certificate covers (tests/test_program.py)
    }


def test_metrics_generation_follows_the_engine():
    from components.modelservice import Engine

    assert Engine("ipex-llm", "intelanalytics/ipex-llm-serving-xpu:0.8.3-b19").metrics_generation == "v0"
    assert Engine("sim", "ghcr.io/llm-d/llm-d-inference-sim:v0.10.2").metrics_generation == "v1"
    assert Engine("vllm", "intel/vllm:0.10.1-xpu").metrics_generation == "v1"
    assert Engine("vllm", "intel/vllm:0.9.2-xpu").metrics_generation == "v0"


def test_second_model_gets_its_own_release_and_claim_template(render, homelab):
    homelab["models"].append(second_model(homelab))
    result = render(homelab)
    first, second = chart_values(result, RELEASE), chart_values(result, "qwen-7b-release")
    assert first["fullnameOverride"] != second["fullnameOverride"]
    names = [v["accelerator"]["resourceClaimTemplates"]["intel"]["name"] for v in (first, second)]
    assert len(set(names)) == 2  # claim templates are not release-prefixed by the chart
    assert second["modelArtifacts"]["uri"].startswith("pvc://qwen-7b-model-cache/qwen-7b/2.0.0")


def test_extra_values_are_deep_merged(render, homelab):
    homelab["models"][0]["extraValues"] = {"decode": {"tolerations": [{"key": "gpu", "operator": "Exists"}]}}
    values = chart_values(render(homelab), RELEASE)
    assert values["decode"]["tolerations"] == [{"key": "gpu", "operator": "Exists"}]
    assert values["decode"]["replicas"] == 2


def test_gpu_replicas_roll_one_at_a_time_because_no_spare_gpu_exists(homelab_render, render, homelab):
    decode = chart_values(homelab_render, RELEASE)["decode"]
    assert decode["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    homelab["gpu"] = {"enabled": False}
    homelab["models"][0]["engine"] = {"kind": "sim"}
    del homelab["models"][0]["modelKit"]
    assert "strategy" not in chart_values(render(homelab), RELEASE)["decode"]


def test_pulumi_waits_for_the_deployment_at_least_as_long_as_the_model_may_load(homelab_render):
    decode = chart_values(homelab_render, RELEASE)["decode"]
    startup = decode["containers"][0]["startupProbe"]
    wait = int(decode["annotations"]["pulumi.com/timeoutSeconds"])
    assert wait > startup["periodSeconds"] * startup["failureThreshold"]


def test_gpu_node_selector_places_loader_and_model_pods(render, homelab):
    homelab["gpu"] = {"nodeSelector": {"intel.feature.node.kubernetes.io/gpu": "true"}}
    result = render(homelab)
    assert chart_values(result, RELEASE)["decode"]["nodeSelector"] == {"intel.feature.node.kubernetes.io/gpu": "true"}
    job = result.one("kubernetes:batch/v1:Job").inputs
    assert job["spec"]["template"]["spec"]["nodeSelector"] == {"intel.feature.node.kubernetes.io/gpu": "true"}
