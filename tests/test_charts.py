"""Charts and YAML files rendered offline as pulumi-kubernetes registers them (REFERENCE section 5).

A small chart made here exercises each provider behaviour: hooks dropped, CRDs first (unless skipCrds), the
default namespace, Helm's kind order and dependency waves, child names `<prefix>:<namespace>/<name>`, Secret
data secret, `helm.sh/resource-policy: keep`, NOTES.txt skipped, a chart missing from the cache left opaque.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from llmd_stack.charts import (
    CHART_TYPE,
    ChartCache,
    ChartNotCached,
    ChartRenderError,
    offline_archive,
    render_chart,
    render_config_file,
    type_token,
    url_path,
)
from llmd_stack.engine import ChartFailed, run_program

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "listKind": "WidgetList"},
             "versions": [{"name": "v1", "served": True, "storage": True,
                           "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]},
}
TEMPLATES = {
    # Written in an order Helm does not keep: Helm sorts by kind (Deployment after Service after Secret...).
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
spec:
  replicas: {{ .Values.replicas }}
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers: [{name: app, image: "busybox:1.37.0"}]
""",
    "templates/hook.yaml": """apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations: {"helm.sh/hook": pre-install}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: m, image: "busybox:1.37.0"}]
""",
    "templates/secret.yaml": """apiVersion: v1
kind: Secret
metadata: {name: {{ .Release.Name }}-creds}
stringData: {password: {{ .Values.password | quote }}}
""",
    "templates/kept.yaml": """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-kept
  annotations: {"helm.sh/resource-policy": keep}
data: {a: b}
""",
    "templates/service.yaml": """apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}-svc, namespace: elsewhere}
spec: {ports: [{port: 80}], selector: {app: demo}}
""",
    "templates/clusterrole.yaml": """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: {{ .Release.Name }}-reader}
rules: []
""",
    "templates/widget.yaml": """apiVersion: example.com/v1
kind: Widget
metadata: {name: {{ .Release.Name }}-widget}
spec: {size: 1}
""",
    "templates/NOTES.txt": "Installed {{ .Release.Name }}.\n",
}


def make_chart(folder: Path, name: str = "demo", version: str = "1.2.3", schema: dict | None = None) -> Path:
    """A chart archive laid out as the cache expects: `<name>-<version>.tgz`."""
    files = {
        "Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version}),
        "values.yaml": "replicas: 1\npassword: changeme\n",
        "crds/widgets.yaml": yaml.safe_dump(CRD),
        **TEMPLATES,
    }
    if schema is not None:
        files["values.schema.json"] = json.dumps(schema)
    path = folder / f"{name}-{version}.tgz"
    with tarfile.open(path, "w:gz") as archive:
        for relative, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{relative}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def cache(tmp_path) -> ChartCache:
    make_chart(tmp_path)
    return ChartCache((tmp_path,))


def rendered(cache: ChartCache, **inputs):
    children, label = render_chart({"chart": "oci://example.com/charts/demo", "version": "1.2.3", **inputs}, "web", cache)
    return children, label


def test_hooks_and_notes_are_dropped_crds_come_first_and_objects_follow_helms_kind_order(cache):
    children, label = rendered(cache, namespace="apps", values={"replicas": 3})
    assert label == "demo 1.2.3"
    kinds = [c.object["kind"] for c in children]
    assert "Job" not in kinds  # the pre-install hook
    assert kinds[0] == "CustomResourceDefinition"
    # Helm's InstallOrder: Secret, ConfigMap, ClusterRole, Service, Deployment; unknown kinds (Widget) last.
    assert kinds == ["CustomResourceDefinition", "Secret", "ConfigMap", "ClusterRole", "Service", "Deployment", "Widget"]
    deployment = next(c.object for c in children if c.object["kind"] == "Deployment")
    assert deployment["spec"]["replicas"] == 3 and deployment["metadata"]["name"] == "web-app"


def test_names_types_namespaces_and_dependencies_are_the_providers(cache):
    children, _ = rendered(cache, namespace="apps", name="rel")
    by_kind = {c.object["kind"]: c for c in children}
    assert by_kind["Deployment"].name == "web:apps/rel-app"  # prefix = resource name, default namespace applied
    assert by_kind["Deployment"].type == "kubernetes:apps/v1:Deployment"
    assert by_kind["Service"].name == "web:elsewhere/rel-svc"  # a namespace the chart sets is kept
    assert by_kind["ClusterRole"].name == "web:rel-reader"  # cluster-scoped: no namespace added
    assert "namespace" not in by_kind["ClusterRole"].object["metadata"]
    assert by_kind["Secret"].type == "kubernetes:core/v1:Secret"
    assert by_kind["Widget"].type == "kubernetes:example.com/v1:Widget"
    widget = by_kind["Widget"]
    assert [children[i].object["kind"] for i in widget.depends_on] == ["CustomResourceDefinition"]
    assert by_kind["ConfigMap"].retain_on_delete and not by_kind["Deployment"].retain_on_delete


def test_resource_prefix_and_skip_crds(cache):
    children, _ = rendered(cache, namespace="apps", resourcePrefix="", skipCrds=True)
    assert "CustomResourceDefinition" not in [c.object["kind"] for c in children]
    assert next(c.name for c in children if c.object["kind"] == "Deployment") == "apps/web-app"


def test_values_that_break_the_schema_are_refused_by_helm(tmp_path):
    make_chart(tmp_path, schema={"type": "object", "properties": {"replicas": {"type": "integer"}}})
    with pytest.raises(ChartRenderError, match="replicas"):
        rendered(ChartCache((tmp_path,)), values={"replicas": "three"})


def test_remote_schema_refs_are_opened_and_the_rest_still_enforced(tmp_path):
    schema = {"type": "object", "properties": {
        "replicas": {"type": "integer"},
        "nodeSelector": {"$ref": "https://example.com/_definitions.json#/definitions/nodeSelector"}}}
    path = make_chart(tmp_path, schema=schema)
    data, opened = offline_archive(path.read_bytes())
    assert opened == 1 and data != path.read_bytes()
    children, _ = rendered(ChartCache((tmp_path,)), values={"nodeSelector": {"gpu": "true"}})
    assert children
    with pytest.raises(ChartRenderError):
        rendered(ChartCache((tmp_path,)), values={"replicas": "three"})


def test_a_chart_missing_from_every_cache_folder_is_reported(tmp_path, cache):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ChartNotCached) as missing:
        render_chart({"chart": "oci://example.com/charts/other", "version": "0.1.0"}, "x", ChartCache((empty,)))
    assert missing.value.label == "other 0.1.0" and str(empty) in str(missing.value)
    # The cache is a list of folders: the second one holds it.
    assert ChartCache((empty, cache.folders[0])).find("demo-1.2.3.tgz").name == "demo-1.2.3.tgz"


def test_cache_folders_come_from_the_environment(tmp_path):
    assert ChartCache.from_env({"LLMD_CHART_CACHE": f"{tmp_path}/a:{tmp_path}/b"}).folders == (tmp_path / "a", tmp_path / "b")
    assert ChartCache.from_env({}).folders[0].parts[-3:] == (".cache", "llmd-homelab", "charts")


def test_a_config_file_from_a_url_is_read_from_the_cache(tmp_path):
    url = "https://github.com/example/project/releases/download/v1.0.0/install.yaml"
    target = tmp_path / url_path(url)
    target.parent.mkdir(parents=True)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "demo-system"}}
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "ctl", "namespace": "demo-system"}}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"}}
    target.write_text(yaml.safe_dump_all([sa, CRD, cm, ns]))
    children, label = render_config_file({"file": url}, "bundle", ChartCache((tmp_path,)))
    assert label == url
    names = [c.name for c in children]
    # Dependency waves: the CRD and the Namespace before what depends on them; file order inside a wave.
    assert names == ["bundle:widgets.example.com", "bundle:default/plain", "bundle:demo-system", "bundle:demo-system/ctl"]
    assert children[3].depends_on == [2]


def test_type_tokens():
    assert type_token({"apiVersion": "v1", "kind": "Service"}) == "kubernetes:core/v1:Service"
    assert type_token({"apiVersion": "inference.networking.k8s.io/v1", "kind": "InferencePool"}) == (
        "kubernetes:inference.networking.k8s.io/v1:InferencePool")


# --- through the engine: what `pulumi preview` registers ---------------------------------------------------------------


def _program(**chart_args):
    def program():
        provider = k8s.Provider("k8s")
        k8s.helm.v4.Chart("web", chart="oci://example.com/charts/demo", version="1.2.3", namespace="apps",
                          values={"password": pulumi.Output.secret("hunter2-secret")}, **chart_args,
                          opts=pulumi.ResourceOptions(provider=provider))
    return program


def test_the_engine_registers_the_chart_without_inputs_and_each_object_as_its_child(cache):
    result = run_program(_program(), project="demo", stack="t", config={}, secret_keys=[], cache=cache)
    chart = result.one(CHART_TYPE, "web")
    assert chart.inputs == {}
    assert chart.program_inputs["version"] == "1.2.3" and chart.program_inputs["values"] == {"password": "[secret]"}
    children = [r for r in result.resources if r.rendered_by == chart.urn]
    assert [r.parent for r in children] == [chart.urn] * len(children) and len(children) == 7
    # Registered right after the chart, in the provider's order; every child uses the chart's provider.
    index = result.resources.index(chart)
    assert result.resources[index + 1:index + 8] == children
    assert {r.provider for r in children} == {chart.provider}
    secret = next(r for r in children if r.type == "kubernetes:core/v1:Secret")
    assert secret.inputs["stringData"] == {"password": "[secret]"}
    assert "hunter2-secret" not in json.dumps([r.to_json() for r in result.resources])
    # The chart was given a secret: every object keeps only its identity readable, whatever a template did with it.
    deployment = next(r for r in children if r.inputs["kind"] == "Deployment")
    assert deployment.inputs["metadata"] == {"name": "web-app", "namespace": "apps"}
    assert deployment.inputs["spec"]["replicas"] == "[secret]"
    widget = next(r for r in children if r.inputs["kind"] == "Widget")
    crd = next(r for r in children if r.inputs["kind"] == "CustomResourceDefinition")
    assert widget.depends_on == [crd.urn]
    assert [c for c in result.charts if c.urn == chart.urn][0].objects == 7
    document = chart.to_json()
    assert document["inputs"] == {} and document["programInputs"]["chart"].endswith("/demo")


def test_the_engine_runs_the_transforms_of_a_chart_and_its_ancestors_on_its_objects(cache):
    """Pulumi runs a resource's `transforms` on all its children, a packaged component's included: so does the
    offline engine, the chart's own first, then its parents'."""
    seen = []

    def label(tag):
        def transform(args):
            seen.append((tag, args.type_))
            props = {**args.props, "metadata": {**args.props["metadata"], "labels": {"by": tag}}}
            return pulumi.ResourceTransformResult(props, args.opts)
        return transform

    def keep_widgets(args):
        if args.type_ != "kubernetes:example.com/v1:Widget":
            return None
        return pulumi.ResourceTransformResult(args.props, pulumi.ResourceOptions.merge(
            args.opts, pulumi.ResourceOptions(retain_on_delete=True)))

    class Outer(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("demo:index:Outer", name, None, opts)
            k8s.helm.v4.Chart("web", chart="oci://example.com/charts/demo", version="1.2.3", namespace="apps",
                              opts=pulumi.ResourceOptions(parent=self, transforms=[label("chart"), keep_widgets]))

    def program():
        provider = k8s.Provider("k8s")
        Outer("outer", pulumi.ResourceOptions(providers={"kubernetes": provider}, transforms=[label("outer")]))

    result = run_program(program, project="demo", stack="t", config={}, secret_keys=[], cache=cache)
    children = [r for r in result.resources if r.rendered_by]
    assert len(children) == 7
    assert {r.inputs["metadata"]["labels"]["by"] for r in children} == {"outer"}  # the outer one ran last
    assert [tag for tag, type_ in seen if type_.endswith(":Deployment")] == ["chart", "outer"]
    assert [r.retain_on_delete for r in children if r.inputs["kind"] == "Widget"] == [True]
    assert not [r for r in children if r.inputs["kind"] == "Deployment" and r.retain_on_delete]


def test_a_secret_a_template_transforms_never_reaches_the_render(tmp_path):
    template = TEMPLATES["templates/kept.yaml"].replace("data: {a: b}", "data: {a: {{ .Values.password | b64enc }}}")
    path = make_chart(tmp_path)
    with tarfile.open(path) as archive:
        members = {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}
    members["demo/templates/kept.yaml"] = template.encode()
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    result = run_program(_program(), project="demo", stack="t", config={}, secret_keys=[], cache=ChartCache((tmp_path,)))
    import base64

    text = json.dumps([r.to_json() for r in result.resources])
    assert base64.b64encode(b"hunter2-secret").decode() not in text and "hunter2-secret" not in text
    from llmd_stack.config_checks import config_violations

    # (This bare program's chart also renders a CRD it does not retain on delete.)
    assert [c.id for c, _, _ in config_violations(result)] == ["no-secrets-in-chart-values", "retained-on-delete"]


def test_a_chart_not_in_the_cache_stays_opaque_and_is_listed(tmp_path):
    result = run_program(_program(), project="demo", stack="t", config={}, secret_keys=[], cache=ChartCache((tmp_path,)))
    chart = result.one(CHART_TYPE, "web")
    assert not [r for r in result.resources if r.rendered_by]
    assert [(c.label, c.rendered) for c in result.unrendered] == [("demo 1.2.3", False)]
    assert chart.inputs == {} and chart.program_inputs["version"] == "1.2.3"


def test_helm_errors_fail_the_render_with_the_charts_name(tmp_path):
    make_chart(tmp_path, schema={"type": "object", "properties": {"password": {"type": "integer"}}})
    with pytest.raises(ChartFailed) as failed:
        run_program(_program(), project="demo", stack="t", config={}, secret_keys=[], cache=ChartCache((tmp_path,)))
    assert failed.value.problems[0].startswith("web: chart demo 1.2.3:")


def test_helm_schema_reports_are_one_line(tmp_path):
    make_chart(tmp_path, schema={"type": "object", "additionalProperties": False,
                                 "properties": {"replicas": {"type": "integer"}, "password": {"type": "string"}}})
    with pytest.raises(ChartRenderError) as refused:
        rendered(ChartCache((tmp_path,)), values={"replicas": "three", "NUL": 1})
    assert "\n" not in str(refused.value) and "NUL" in str(refused.value)


@pytest.mark.parametrize("damage", ["truncated archive", "bad yaml file"])
def test_a_damaged_cache_entry_is_a_render_error_naming_it(tmp_path, damage):
    from llmd_stack.charts import CONFIG_FILE_TYPE, render_provider_component

    if damage == "truncated archive":
        path = make_chart(tmp_path)
        path.write_bytes(path.read_bytes()[:200])
        type_, inputs, name = CHART_TYPE, {"chart": "oci://example.com/charts/demo", "version": "1.2.3"}, "chart demo 1.2.3"
    else:
        url = "https://example.com/releases/download/v1.0.0/bad.yaml"
        (tmp_path / url_path(url)).parent.mkdir(parents=True)
        (tmp_path / url_path(url)).write_text("kind: [unclosed\n")
        type_, inputs, name = CONFIG_FILE_TYPE, {"file": url}, url
    with pytest.raises(ChartRenderError, match="cannot be read") as failed:
        render_provider_component(type_, inputs, "x", ChartCache((tmp_path,)))
    assert str(failed.value).startswith(name)
