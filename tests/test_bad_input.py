"""Bad input never crashes: every invalid stack config ends in exit code 2 with one line per problem, naming its key.

`configs/invalid/*.yaml` is a corpus of full stack files derived from the homelab, each with one kind of mistake.
Each names what `render` must report in its header: `# expect: <key path> | <message fragment>` (one line per
problem). Add a file to add a case; the stack name is the file name without `.yaml`.

The property-based tests mutate the homelab config at random (random values of random types at existing and new key
paths, deletions, typos, duplicated models) and check the same contract: a valid config or a ConfigError, never any
other exception.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import API_KEY, PASSWORD, ROOT, TOKEN, objects, stack_config
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from llmd_stack.__main__ import main
from llmd_stack.config import ConfigError, StackConfig, parse_config
from llmd_stack.engine import ChartFailed
from llmd_stack.offline import render_config

INVALID = Path(__file__).parent / "configs" / "invalid"
CORPUS = sorted(INVALID.glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (?P<path>\S+)(?: \| (?P<fragment>.+))?$")
SECRETS = {"registryToken": TOKEN, "grafanaAdminPassword": PASSWORD, "apiKey": API_KEY}
SUBPROCESS_CASES = ("many-problems", "secret-plaintext-registry-token", "guard-kgateway-2-2")
# Hypothesis budget; raise it for a deeper local search: LLMD_FUZZ_EXAMPLES=5000 pytest tests/test_bad_input.py
EXAMPLES = int(os.environ.get("LLMD_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def expectations(path: Path) -> list[tuple[str, str | None]]:
    found = [EXPECT.match(line) for line in path.read_text().splitlines() if line.startswith("# expect:")]
    assert all(found), f"{path.name}: malformed '# expect:' line"
    return [(m["path"], m["fragment"]) for m in found if m]


def project(tmp: Path, stack: str, text: str) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp / "Pulumi.yaml")
    (tmp / f"Pulumi.{stack}.yaml").write_text(text)
    return tmp


PROBLEM_LINE = r"^Pulumi\.{stack}\.yaml(?::(?P<line>\d+):(?P<column>\d+))?: (?P<problem>.*)$"
EXCERPT_LINE = re.compile(r"^ *(?P<line>\d+)? \| (?P<source>.*)$")


def assert_reported(stack: str, code: int, stderr: str, expected: list[tuple[str, str | None]], out: Path,
                    text: str | None = None) -> None:
    """Every stderr line is a problem (`Pulumi.x.yaml[:LINE:COL]: key: message`) or the excerpt under one, whose
    numbered line is that line of the file."""
    assert code == 2, stderr
    assert "Traceback" not in stderr
    problem_line = re.compile(PROBLEM_LINE.format(stack=re.escape(stack)))
    problems = []
    for line in stderr.strip().splitlines():
        found = problem_line.match(line)
        if found:
            problems.append(found["problem"])
            continue
        excerpt = EXCERPT_LINE.match(line)
        assert excerpt, f"neither a problem nor an excerpt: {line!r}"
        if excerpt["line"] and text is not None and "<redacted>" not in line:
            assert text.splitlines()[int(excerpt["line"]) - 1].replace("\t", " ") == excerpt["source"], line
    assert problems, stderr
    for path, fragment in expected:
        matching = [p for p in problems if p.startswith(f"{path}: ")]
        assert matching, f"no problem reported for {path}: {problems}"
        if fragment:
            assert any(fragment in p for p in matching), f"{path}: {fragment!r} not in {matching}"
    assert not out.exists(), "a failed render must not write anything"


# --- the corpus -------------------------------------------------------------------------------------------------------


def test_corpus_has_at_least_40_full_stack_files_each_with_an_expectation():
    assert len(CORPUS) >= 40
    for path in CORPUS:
        assert expectations(path), f"{path.name} names no expected key path"
        config = yaml.safe_load(path.read_text())["config"]
        assert any(key.startswith("llmd-homelab:") for key in config), path.name
        if not path.stem.startswith("stack-"):
            assert "kubernetes" in config["pulumi:disable-default-providers"], path.name
        if not path.stem.startswith("secret-"):
            for key in ("llmd-homelab:registryToken", "llmd-homelab:grafanaAdminPassword"):
                assert set(config[key]) == {"secure"}, f"{path.name}: {key} must stay a secure placeholder"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_invalid_config_exits_2_naming_every_key(path, tmp_path, capsys):
    stack = path.stem
    proj = tmp_path / "project"
    proj.mkdir()
    project(proj, stack, path.read_text())
    out = tmp_path / "out"
    code = main(["render", "--stack", stack, "--project-dir", str(proj), "--out", str(out)])
    captured = capsys.readouterr()
    assert_reported(stack, code, captured.err, expectations(path), out, path.read_text())
    assert captured.out == ""
    assert not (proj / "build").exists()


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_invalid_config_through_the_real_cli(name, tmp_path):
    path = INVALID / f"{name}.yaml"
    proj = tmp_path / "project"
    proj.mkdir()
    project(proj, name, path.read_text())
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "llmd_stack", "render", "--stack", name, "--out", str(out)],
        cwd=proj, env=env, capture_output=True, text=True, timeout=120,
    )
    assert_reported(name, proc.returncode, proc.stderr, expectations(path), out, path.read_text())
    assert not (proj / "build").exists()


# --- crashes this suite found (fixed) ------------------------------------------------------------------------------------


def _epp_image(result) -> str:
    """The image of the EPP container the inferencepool chart renders."""
    (epp,) = [d for d in objects(result, "Deployment") if d["metadata"]["name"] == "ds-r1-llama-8b-pool-epp"]
    return epp["spec"]["template"]["spec"]["containers"][0]["image"]


def test_epp_image_without_registry_path_renders_as_a_docker_hub_image(render, homelab):
    homelab["scheduling"] = {"chartVersion": "v1.1.0", "eppImage": "epp:v1.1.0"}
    assert _epp_image(render(homelab)) == "docker.io/library/epp:v1.1.0"


def test_epp_image_with_tag_and_digest_keeps_both(render, homelab):
    digest = "sha256:" + "ab" * 32
    homelab["scheduling"] = {"eppImage": f"registry.k8s.io/gateway-api-inference-extension/epp:v1.2.1@{digest}"}
    # The chart renders `{hub}/{name}:{tag}`: the digest stays pinned.
    assert _epp_image(render(homelab)) == homelab["scheduling"]["eppImage"]


def test_a_version_the_lock_does_not_pin_stops_the_render_naming_its_file(render, homelab, monkeypatch):
    """A lock without an entry the render needs (here GAIE v1.6.0's manifests) stops it, naming the file."""
    from components import chart_files
    from components.chart_files import ChartFileError

    pinned = chart_files.locked()
    trimmed = {k: v for k, v in pinned.items() if "inference-extension/releases/download/v1.6.0/" not in k}
    assert len(trimmed) == len(pinned) - 1, "the lock no longer pins GAIE v1.6.0 once: update this case"
    monkeypatch.setattr(chart_files, "locked", lambda *args, **kwargs: trimmed)
    homelab["scheduling"] = {"chart": "llm-d-router"}
    with pytest.raises(ChartFileError, match="v1.6.0/manifests.yaml is not in charts.lock.json"):
        render(homelab)


def test_values_of_secret_keys_are_not_echoed_in_problems(homelab):
    """`pulumi up` hands secure config decrypted and prints ConfigError messages: a bad secret value stays hidden."""
    homelab["registry"]["host"] = "Harbor.Private-Host.example"
    raw = {**homelab, **SECRETS}
    with pytest.raises(ConfigError) as info:
        parse_config(raw, {*SECRETS, "registry"})
    text = str(info.value)
    assert "registry.host" in text and "Harbor.Private-Host.example" not in text and "[secret]" in text


# --- stack-file reader crashes (llmd_stack/stackfile.py, not fixed here) ----------------------------------------------

def _with_unquoted_date_tag() -> str:
    text = (ROOT / "Pulumi.homelab.yaml").read_text()
    assert 'tag: "1.0.0"' in text, "the homelab's ModelKit tag moved: update this case"
    return text.replace('tag: "1.0.0"', "tag: 2025-01-15")  # YAML reads an unquoted date as a date, not a string


MALFORMED_STACK_FILES = {
    "top-level-list": "- config\n- llmd-homelab:models\n",
    "non-string-config-key": "config:\n  pulumi:disable-default-providers: [kubernetes]\n  42: answer\n",
    "disable-default-providers-number": "config:\n  pulumi:disable-default-providers: 5\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED_STACK_FILES))
def test_malformed_stack_file_is_a_config_error(case, tmp_path, capsys):
    proj = project(tmp_path, "bad", MALFORMED_STACK_FILES[case])
    code = main(["render", "--stack", "bad", "--project-dir", str(proj), "--out", str(tmp_path / "out")])
    assert code == 2 and "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_unquoted_date_tag_is_read_as_the_string_written(tmp_path, capsys):
    proj = project(tmp_path, "date", _with_unquoted_date_tag())
    assert main(["render", "--stack", "date", "--project-dir", str(proj), "--out", str(tmp_path / "out")]) == 0
    job = next((tmp_path / "out" / "manifests").glob("*-job-*.yaml")).read_text()
    assert "harbor.homelab.lan/llm/ds-r1-llama-8b:2025-01-15" in job


# --- property-based: random mutations of the homelab -------------------------------------------------------------------

HOMELAB = stack_config("homelab")
# Keys under the free-form mappings that the program or the version guards read.
FREE_FORM = {
    ("models", 0, "extraValues"): [("dra",), ("accelerator",), ("accelerator", "resourceClaimTemplates"),
                                   ("accelerator", "resourceClaimTemplates", "intel", "count"), ("decode", "replicas")],
    ("scheduling", "extraValues"): [("inferencePool",), ("inferencePool", "targetPortNumber"), ("inferencePool", "apiVersion"),
                                    ("inferenceExtension", "flags")],
    ("scheduling", "extraFlags"): [("secure-serving",), ("kv-cache-usage-percentage-metric",), ("total-queued-requests-metric",)],
    ("scheduling", "plugins", 0, "parameters"): [("blockSize",), ("maxNumOfEndpoints",), ("blockSzie",)],
    ("monitoring", "prometheus", "monitorLabels"): [("release",)],
}


def _model_class(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The config model inside an annotation (Optional and list unwrapped), and whether it is a list."""
    is_list = False
    for _ in range(3):
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return annotation, is_list
        if typing.get_origin(annotation) is list:
            is_list = True
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if not args:
            break
        annotation = args[0]
    return None, is_list


def schema_paths(model: type[BaseModel] = StackConfig, prefix: tuple = ()) -> list[tuple]:
    """Every key path the config knows (list items as index 0), plus the free-form keys the program reads."""
    found = []
    for name, field in model.model_fields.items():
        path = (*prefix, field.alias or name)
        found.append(path)
        inner, is_list = _model_class(field.annotation)
        if inner is not None:
            found += schema_paths(inner, (*path, 0) if is_list else path)
        found += [(*path, *rest) for rest in FREE_FORM.get(path, [])]
    return found


SCHEMA_PATHS = schema_paths()
TRICKY = [
    "", " ", "0", "-1", "1.5", "true", "null", "{", "[1", "latest", "v2.2.0", "v1.5.1", "v0.3.1", "v1.6.0", "1.33", "two.one",
    "sha256:abc", "sha256:" + "a" * 64, "100Gi", "0Gi", "-1Gi", "16 GB", "3600s", "0s", "1.5h", "99999h", "360000s",
    'A770" || true', "UPPER", "has space", "x" * 70, "img:latest", "img", "ghcr.io/x/y:v1@sha256:" + "b" * 64, "epp:v1.1.0",
    "ReadWriteOncePod", "sim", "vllm", "NodePort", "robot$x", "/", "/a", "*.lan", "vllm:kv_cache_usage_perc", "ds-r1-llama-8b",
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.sampled_from([0, 1, 2, 64, 65, 65536]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=10), st.sampled_from(TRICKY),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["name", "tag", "count", "dra", "intel", "x"]) | st.text(max_size=6), inner, max_size=3),
    ),
    max_leaves=6,
)


def _existing_paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        found.append((*prefix, key))
        found += _existing_paths(value, (*prefix, key))
    return found


def _set(config: dict, path: tuple, value: Any) -> None:
    node: Any = config
    for key, nxt in zip(path, path[1:]):
        want: type = list if isinstance(nxt, int) else dict
        if isinstance(node, list):
            while len(node) <= key:
                node.append({})
            if not isinstance(node[key], want):
                node[key] = want()
            node = node[key]
        else:
            if not isinstance(node.get(key), want):
                node[key] = want()
            node = node[key]
    if isinstance(node, list):
        while len(node) <= path[-1]:
            node.append({})
    node[path[-1]] = value


def _delete(config: dict, path: tuple) -> None:
    node: Any = config
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


@st.composite
def mutated_configs(draw) -> dict[str, Any]:
    """The homelab config with 1-4 random edits."""
    config = copy.deepcopy(HOMELAB)
    for _ in range(draw(st.integers(1, 4))):
        existing = _existing_paths(config)
        op = draw(st.sampled_from(["set", "set", "set-new", "delete", "typo", "unknown", "second-model"]))
        if op == "set" and existing:
            _set(config, draw(st.sampled_from(existing)), draw(values))
        elif op == "set-new":
            _set(config, draw(st.sampled_from(SCHEMA_PATHS)), draw(values))
        elif op == "delete" and existing:
            _delete(config, draw(st.sampled_from(existing)))
        elif op in ("typo", "unknown"):
            mappings = [p for p in [(), *existing] if isinstance(_get(config, p), dict)]
            path = draw(st.sampled_from(mappings))
            node = _get(config, path)
            if op == "typo" and node:
                key = draw(st.sampled_from(sorted(node)))
                node[draw(st.sampled_from([key + "s", key[:-1], key.lower(), key.upper(), re.sub(r"([A-Z])", r"_\1", key).lower()]))] = node.pop(key)
            else:
                node[draw(st.text(min_size=1, max_size=8))] = draw(values)
        elif op == "second-model" and isinstance(config.get("models"), list) and config["models"]:
            config["models"].append(copy.deepcopy(config["models"][0]))
    return config


def _get(config: Any, path: tuple) -> Any:
    for key in path:
        config = config[key]
    return config


DIGEST = "sha256:" + "0123456789abcdef" * 4
# Edits that are mostly valid, so that a good share of the rendered examples gets through validation.
PLAUSIBLE: list[tuple[tuple, st.SearchStrategy]] = [
    (("models", 0, "replicas"), st.integers(1, 8)),
    (("models", 0, "gpusPerReplica"), st.integers(1, 2)),
    (("models", 0, "modelKit"), st.sampled_from([{"repository": "ds-r1-llama-8b", "tag": "1.1.0"},
                                                 {"repository": "team/ds-r1", "digest": DIGEST, "project": "models"}])),
    (("models", 0, "engine"), st.sampled_from([{"kind": "sim"}, {"kind": "vllm", "image": "intel/vllm:0.11.0-xpu"},
                                               {"kind": "ipex-llm", "maxModelLen": 8192, "extraArgs": ["--max-num-seqs", "8"]}])),
    (("models", 0, "cache"), st.sampled_from([{"size": "200Gi"}, {"storageClass": None, "accessMode": "ReadWriteMany"}])),
    (("models", 0, "route"), st.sampled_from([{"hostnames": ["llm.homelab.lan"], "matchModelHeader": True},
                                              {"pathPrefix": "/v1", "timeouts": {"request": "0s", "backendRequest": "1h"}}])),
    (("models", 0, "extraValues"), st.sampled_from([{"decode": {"replicas": 3}}, {"accelerator": {"type": "intel"}},
                                                    {"accelerator": "intel"}])),
    (("models", 1), st.just({"name": "qwen-7b", "servedName": "qwen2.5-7b", "modelKit": {"repository": "qwen", "tag": "2"},
                             "route": {"pathPrefix": "/qwen"}})),
    (("gpu",), st.sampled_from([{"selection": {"model": "B580", "minMemory": "12Gi"}}, {"driver": {"healthMonitoring": "xpumd"}},
                                {"enabled": False}])),
    (("gateway",), st.sampled_from([{"serviceType": "NodePort", "port": 8080}, {"serviceType": "ClusterIP"}])),
    (("monitoring",), st.sampled_from([{"enabled": False}, {"grafana": False},
                                       {"prometheus": {"mode": "existing", "monitorLabels": {"release": "prom"}}}])),
    (("scheduling",), st.sampled_from([
        {"eppReplicas": 2, "extraFlags": {"kv-cache-usage-percentage-metric": "vllm:gpu_cache_usage_perc"}},
        {"chartVersion": "v1.6.0", "eppImage": "registry.k8s.io/gateway-api-inference-extension/epp:v1.6.0",
         "extraFlags": {"secure-serving": False}},
        {"eppImage": "epp:v1.1.0"},
        {"plugins": [{"type": "queue-scorer"}, {"type": "random-picker", "parameters": {"maxNumOfEndpoints": 1}}],
         "profiles": [{"name": "default", "plugins": [{"pluginRef": "queue-scorer", "weight": 1}, {"pluginRef": "random-picker"}]}]},
    ])),
    (("cluster",), st.sampled_from([{"networkPolicies": False}, {"kubeconfig": "/etc/rancher/k3s/k3s.yaml", "context": "homelab"}])),
    (("loader",), st.sampled_from([{"cosign": {"publicKey": "-----BEGIN PUBLIC KEY-----"}},
                                   {"cosign": {"certIdentity": "ci@homelab.lan", "certOidcIssuer": "https://token.actions.example"}}])),
]


@st.composite
def plausible_configs(draw) -> dict[str, Any]:
    """The homelab config with 1-3 mostly valid edits (and now and then a random one)."""
    config = copy.deepcopy(HOMELAB)
    for path, strategy in draw(st.lists(st.sampled_from(PLAUSIBLE), min_size=1, max_size=3, unique_by=lambda e: e[0])):
        value = draw(strategy)
        _set(config, path, {**_get(config, path), **value} if isinstance(value, dict) and _has(config, path) else value)
    if draw(st.integers(0, 4)) == 0:
        _set(config, draw(st.sampled_from(SCHEMA_PATHS)), draw(values))
    return config


def _has(config: Any, path: tuple) -> bool:
    try:
        return isinstance(_get(config, path), dict)
    except (KeyError, IndexError, TypeError):
        return False


def assert_config_error_is_well_formed(error: ConfigError) -> None:
    assert error.problems, "a ConfigError without problems"
    for problem in error.problems:
        assert isinstance(problem.path, str) and isinstance(problem.message, str)
        assert problem.path or problem.message
        assert problem.message, f"{problem.path}: empty message"
        assert "Traceback" not in str(problem)


@FUZZ
@given(config=mutated_configs(), secret_keys=st.sets(st.sampled_from(sorted(SECRETS))), drop=st.sets(st.sampled_from(sorted(SECRETS))))
def test_any_mutated_config_parses_or_is_a_config_error(config, secret_keys, drop):
    raw = {**config, **{k: v for k, v in SECRETS.items() if k not in drop}}
    try:
        parse_config(raw, secret_keys)
    except ConfigError as error:
        assert_config_error_is_well_formed(error)


@settings(FUZZ, max_examples=max(10, EXAMPLES // 4))
@given(config=st.one_of(plausible_configs(), plausible_configs(), mutated_configs()))
def test_any_mutated_config_renders_or_is_a_config_error(config):
    try:
        result = render_config(config, SECRETS)
    except ConfigError as error:
        assert_config_error_is_well_formed(error)
        return
    except ChartFailed as error:
        # Values the escape hatches (extraValues) pass through and the chart's own schema refuses: the CLI prints
        # each as `Helm refused <chart resource>: chart <name> <version>: ...` and exits 2.
        assert error.problems and all(": chart " in p and "\n" not in p for p in error.problems), error.problems
        event("refused by Helm")
        return
    event("rendered")
    document = json.dumps([r.to_json() for r in result.resources])
    assert TOKEN not in document and PASSWORD not in document
    for pvc in result.of_type("kubernetes:core/v1:PersistentVolumeClaim"):
        assert pvc.protect and pvc.retain_on_delete, pvc.urn


@settings(FUZZ, max_examples=max(6, EXAMPLES // 12))
@given(config=st.one_of(plausible_configs(), mutated_configs()))
def test_any_mutated_stack_file_exits_0_or_2_without_a_traceback(config):
    stack_file = yaml.safe_load((ROOT / "Pulumi.homelab.yaml").read_text())
    stack_file["config"] = {k: v for k, v in stack_file["config"].items() if not k.startswith("llmd-homelab:") or
                            k[len("llmd-homelab:"):] in ("registryToken", "grafanaAdminPassword")}
    stack_file["config"].update({f"llmd-homelab:{k}": v for k, v in config.items()})
    with tempfile.TemporaryDirectory() as tmp:
        text = yaml.safe_dump(stack_file)
        proj = project(Path(tmp), "fuzz", text)
        out = Path(tmp) / "out"
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(["render", "--stack", "fuzz", "--project-dir", str(proj), "--out", str(out)])
        err = stderr.getvalue()
        assert code in (0, 2) and "Traceback" not in err
        if code == 2:
            assert_reported("fuzz", code, err, [], out, text)
        else:
            assert (out / "resources.json").is_file()
            assert all(line.startswith("warning: Pulumi.fuzz.yaml: ") for line in err.splitlines()), err
