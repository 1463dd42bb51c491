"""Charts and CRD bundles pinned by digest: the lock file, its checks in `charts pull` and every render, and the files
the program hands the provider (the same checked bytes, at a path that is the same on every machine)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import ROOT, TEST_CACHE

from components.chart_files import (
    LOCK_FILE,
    ChartCache,
    ChartFileError,
    ChartMissing,
    Staging,
    bundle,
    chart_archive,
    content_digest,
    locked,
    verify,
)
from components.chart_sources import GATEWAY_API_CRDS
from components.routing.gaie_pool import INFERENCEPOOL
from llmd_stack.chart_pull import Wanted, catalogue, lock, pull, run
from llmd_stack.offline import render_stack

POOL_ARCHIVE = "inferencepool-v1.2.1.tgz"


def repack(data: bytes, change: dict[str, bytes] | None = None, mtime: int = 0) -> bytes:
    """The archive's files in a new .tgz (another order, other timestamps), with `change` replacing some."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as source:
        files = {m.name: source.extractfile(m).read() for m in source.getmembers() if m.isfile()}
    files.update(change or {})
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as target:
        for name in sorted(files, reverse=True):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(files[name]), mtime
            target.addfile(info, io.BytesIO(files[name]))
    return out.getvalue()


def cache_with(tmp_path: Path, replaced: dict[str, bytes]) -> Path:
    """A chart cache holding the tests' files, with some replaced by other bytes."""
    cache = tmp_path / "cache"
    for folder in TEST_CACHE.folders:
        for path in folder.rglob("*"):
            relative = path.relative_to(folder)
            target = cache / relative
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                if str(relative) in replaced:
                    target.write_bytes(replaced[str(relative)])
                else:
                    target.symlink_to(path.resolve())
    return cache


# --- the lock ---------------------------------------------------------------------------------------------------------


def test_the_lock_pins_every_chart_and_file_the_program_can_deploy_and_matches_the_mirror(tmp_path, capsys):
    assert set(locked()) == {w.cache_path for w in catalogue()}
    written = tmp_path / "charts.lock.json"
    assert lock(ROOT, TEST_CACHE, written) == 0
    assert json.loads(written.read_text()) == json.loads(LOCK_FILE.read_text())
    assert all(line.startswith("new ") for line in capsys.readouterr().out.splitlines()[:-1])


def test_a_chart_digest_ignores_packaging_but_not_content():
    data = TEST_CACHE.find(POOL_ARCHIVE).read_bytes()
    assert content_digest(repack(data, mtime=1_700_000_000), POOL_ARCHIVE) == content_digest(data, POOL_ARCHIVE)
    changed = repack(data, {"inferencepool/values.yaml": b"inferenceExtension: {replicas: 9}\n"})
    assert content_digest(changed, POOL_ARCHIVE) != content_digest(data, POOL_ARCHIVE)
    assert content_digest(b"kind: X\n", "a.yaml") == "sha256:" + __import__("hashlib").sha256(b"kind: X\n").hexdigest()


def test_a_file_the_lock_does_not_know_or_pins_otherwise_is_refused(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("kind: X\n")
    lock_file = tmp_path / "lock.json"
    lock_file.write_text(json.dumps({"files": {"urls/h/x.yaml": {"source": "h", "sha256": content_digest(b"kind: Y\n", "x")}}}))
    with pytest.raises(ChartFileError, match="sha256 .* is not the .* lock.json pins for urls/h/x.yaml"):
        verify("urls/h/x.yaml", path, lock_file)
    with pytest.raises(ChartFileError, match="other.yaml is not in lock.json: review it, then pin it with"):
        verify("other.yaml", path, lock_file)


# --- every render checks what it reads ----------------------------------------------------------------------------------


def run_render(cache: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LLMD_CHART_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "llmd_stack", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_a_chart_or_bundle_with_other_bytes_stops_the_render_naming_it(tmp_path):
    original = TEST_CACHE.find(POOL_ARCHIVE).read_bytes()
    tampered = repack(original, {"inferencepool/templates/extra.yaml": b"kind: ConfigMap\n"})
    out = tmp_path / "out"
    proc = run_render(cache_with(tmp_path, {POOL_ARCHIVE: tampered}), "check", "--stack", "homelab", "--out", str(out))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"{POOL_ARCHIVE}: sha256" in proc.stderr and "charts.lock.json pins" in proc.stderr
    assert not (out / "resources.json").exists()
    crds = GATEWAY_API_CRDS.at("v1.4.0").replace("https://", "urls/")
    proc = run_render(cache_with(tmp_path / "b", {crds: b"kind: Namespace\n"}), "render", "--stack", "homelab",
                      "--out", str(tmp_path / "out-b"))
    assert proc.returncode == 2 and "standard-install.yaml: sha256" in proc.stderr, proc.stderr


# --- charts pull checks what it fetches and what is cached -------------------------------------------------------------


def test_charts_pull_keeps_only_what_the_lock_pins(tmp_path, capsys):
    wanted = [Wanted(INFERENCEPOOL.chart, "v1.2.1")]
    original = TEST_CACHE.find(POOL_ARCHIVE)

    def registry(bytes_: bytes):
        def fetch(item: Wanted, scratch: Path) -> Path:
            (scratch / POOL_ARCHIVE).write_bytes(bytes_)
            return scratch / POOL_ARCHIVE
        return fetch

    target = ChartCache((tmp_path / "cache",))
    # Re-packaged with the same files (another registry's gzip): accepted.
    (outcome,) = pull(wanted, target, fetch_chart=registry(repack(original.read_bytes(), mtime=5)))
    assert outcome[1] == "pulled" and (tmp_path / "cache" / POOL_ARCHIVE).is_file()
    # Other content: refused, and not kept.
    (tmp_path / "cache" / POOL_ARCHIVE).unlink()
    bad = repack(original.read_bytes(), {"inferencepool/values.yaml": b"x: 1\n"})
    (outcome,) = pull(wanted, target, fetch_chart=registry(bad))
    assert outcome[1].startswith("refused: ") and not (tmp_path / "cache" / POOL_ARCHIVE).exists()
    # Already cached with other content: refused too, exit 2 from the command.
    (tmp_path / "cache" / POOL_ARCHIVE).write_bytes(bad)
    (outcome,) = pull(wanted, target)
    assert outcome[1].startswith("refused: ")
    everything = ChartCache((tmp_path / "cache", *TEST_CACHE.folders))
    assert run(ROOT, ["homelab"], everything) == 2
    assert "refused" in capsys.readouterr().out


# --- what the provider is handed ----------------------------------------------------------------------------------------


def test_the_provider_gets_staged_files_at_paths_the_same_on_every_machine(tmp_path, monkeypatch):
    result = render_stack(ROOT, "homelab")
    charts = [r.program_inputs for r in result.resources if r.type == "kubernetes:helm.sh/v4:Chart"]
    files = [r.program_inputs for r in result.resources if r.type == "kubernetes:yaml/v2:ConfigFile"]
    assert charts and all(c["chart"].startswith(".charts/") and c["chart"].endswith(f"-{c['version']}.tgz") for c in charts)
    assert all("repositoryOpts" not in c for c in charts)
    assert files and all(f["file"].startswith(".charts/urls/github.com/") for f in files)
    # Another chart cache folder renders the same inputs: nothing machine-specific reaches the engine.
    monkeypatch.setenv("LLMD_CHART_CACHE", str(cache_with(tmp_path, {})))
    again = render_stack(ROOT, "homelab")
    assert [r.to_json() for r in again.resources] == [r.to_json() for r in result.resources]
    assert str(tmp_path) not in json.dumps([r.to_json() for r in again.resources])


@pytest.fixture
def staging(tmp_path, monkeypatch):
    """The staging `pulumi up` does: on, into a folder of the test's."""
    monkeypatch.setattr(Staging, "copy", True)
    monkeypatch.setattr(Staging, "folder", tmp_path / "project" / ".charts")
    return Staging.folder


def test_under_the_engine_the_program_stages_checked_copies(staging, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMD_CHART_CACHE", ":".join(str(f) for f in TEST_CACHE.folders))
    assert chart_archive(INFERENCEPOOL.chart, "v1.2.1") == f".charts/{POOL_ARCHIVE}"
    assert (staging / POOL_ARCHIVE).read_bytes() == TEST_CACHE.find(POOL_ARCHIVE).read_bytes()
    url = GATEWAY_API_CRDS.at("v1.4.0")
    assert bundle(url) == ".charts/" + url.replace("https://", "urls/")
    # A stale copy (another lock's) is replaced from the cache.
    (staging / POOL_ARCHIVE).write_bytes(b"stale")
    chart_archive(INFERENCEPOOL.chart, "v1.2.1")
    assert (staging / POOL_ARCHIVE).read_bytes() == TEST_CACHE.find(POOL_ARCHIVE).read_bytes()


def test_under_the_engine_a_missing_or_other_chart_stops_the_program_saying_why(staging, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("LLMD_CHART_CACHE", str(empty))
    with pytest.raises(ChartMissing) as missing:
        chart_archive(INFERENCEPOOL.chart, "v1.2.1")
    assert "inferencepool v1.2.1 is not in the chart cache" in str(missing.value)
    assert "python -m llmd_stack charts pull" in str(missing.value)
    tampered = repack(TEST_CACHE.find(POOL_ARCHIVE).read_bytes(), {"inferencepool/values.yaml": b"x: 1\n"})
    monkeypatch.setenv("LLMD_CHART_CACHE", str(cache_with(tmp_path, {POOL_ARCHIVE: tampered})))
    with pytest.raises(ChartFileError, match=POOL_ARCHIVE):
        chart_archive(INFERENCEPOOL.chart, "v1.2.1")
    assert not (staging / POOL_ARCHIVE).exists()


def test_the_suite_stops_before_it_starts_when_a_chart_is_missing(tmp_path):
    """A pull that failed used to leave a partial cache and the suite ran on: a test looking for xpumd's DaemonSet
    then failed with a StopIteration, once in three runs. Now the suite stops first, with one line naming what is
    missing and how to get it."""
    cache = tmp_path / "cache"
    for folder in TEST_CACHE.folders:
        for path in folder.rglob("*"):
            target = cache / path.relative_to(folder)
            if path.is_file() and not path.name.startswith("xpumd") and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.symlink_to(path.resolve())
    env = {**os.environ, "LLMD_CHART_CACHE": str(cache)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "error: the tests render these charts and files: xpumd 2.0.0 (not in the chart cache" in proc.stdout
    assert "python -m llmd_stack charts pull" in proc.stdout and " passed" not in proc.stdout
