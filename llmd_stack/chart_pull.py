"""`python -m llmd_stack charts pull`: fill the chart cache with every pinned chart and remote YAML file the stacks
use, so that renders never touch the network. Helm pulls charts (OCI or HTTP repositories); files come over HTTPS.
What is fetched (and what is already cached) must match `charts.lock.json`; `charts lock` writes that file from the
cache, after a person reviewed what changed."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

from components.chart_files import LOCK_FILE, ChartFileError, bytes_digest, file_digest, locked, staged_relative, verify

from .charts import CHART_TYPE, CONFIG_FILE_TYPE, ChartCache, archive_name, chart_name, is_url, source_name, url_path
from .config import ConfigError
from .offline import render_stack
from .stackfile import stack_names

TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class Wanted:
    """A chart (`chart`, `version`, `repo`) or a remote file (`chart` is its URL, no version)."""

    chart: str
    version: str = ""
    repo: str = ""

    @property
    def is_file(self) -> bool:
        return not self.version

    @property
    def cache_path(self) -> str:
        return url_path(self.chart) if self.is_file else archive_name(self.chart, self.version)

    @property
    def label(self) -> str:
        return self.chart if self.is_file else f"{self.chart} {self.version}"

    @property
    def short_label(self) -> str:
        """`inferencepool v1.2.1`, or a file's project, release and name (`gateway-api v1.4.0 standard-install.yaml`)."""
        if not self.is_file:
            return f"{chart_name(self.chart)} {self.version}"
        parts = urlparse(self.chart).path.strip("/").split("/")
        return " ".join([parts[1], *parts[-2:]]) if len(parts) >= 4 else self.chart


def wanted_by(project_dir: Path, stacks: list[str]) -> tuple[list[Wanted], list[str]]:
    """What every given stack's Charts and ConfigFiles need, and the stacks whose config could not be read.
    The program runs against an empty chart cache: what it declares is enough, Helm never runs."""
    found: set[Wanted] = set()
    skipped = []
    with tempfile.TemporaryDirectory() as nothing_cached:
        results = []
        for stack in stacks:
            try:
                results.append(render_stack(project_dir, stack, cache=ChartCache((Path(nothing_cached),))))
            except ConfigError as exc:
                skipped.append(f"Pulumi.{stack}.yaml: {exc.problems[0]}")
    for result in results:
        for r in result.resources:
            given = r.program_inputs or {}
            if r.type == CHART_TYPE:
                found.add(_chart_source(str(given.get("chart")), str(given.get("version")), source_name(r.type, given)))
            elif r.type == CONFIG_FILE_TYPE:
                file = str(given.get("file"))
                relative = staged_relative(file)
                if relative and relative.startswith("urls/"):
                    found.add(Wanted(f"https://{relative[len('urls/'):]}"))
                elif is_url(file):
                    found.add(Wanted(file))
    return sorted(found, key=lambda w: w.label), skipped


def _chart_source(chart: str, version: str, name: str) -> Wanted:
    """Where a chart the program hands the provider (a staged archive) is fetched from: its entry in chart_sources."""
    from components.chart_sources import catalogue

    for source in catalogue()[0]:
        if chart_name(source.chart) == name:
            return Wanted(source.chart, version, source.repo or "")
    return Wanted(chart, version)


def catalogue() -> list[Wanted]:
    """Every chart and file the program can render, each supported version (what the tests need)."""
    from components.chart_sources import catalogue as sources

    charts, files = sources()
    found = [Wanted(c.chart, v, c.repo or "") for c in charts for v in c.versions]
    found += [Wanted(f.at(v)) for f in files for v in f.versions]
    return sorted(set(found), key=lambda w: w.label)


def helm_pull(wanted: Wanted, destination: Path) -> Path:
    """Helm pull into `destination`; the archive Helm wrote."""
    import helm_python

    if wanted.chart.startswith("oci://"):
        helm_python.pull(wanted.chart, version=wanted.version, destination=destination)
    else:
        helm_python.pull(wanted.chart, repo_url=wanted.repo or None, version=wanted.version, destination=destination)
    archives = sorted(destination.glob("*.tgz"))
    if not archives:
        raise RuntimeError("helm pull wrote no archive")
    return archives[0]


def https_get(url: str, destination: Path) -> Path:
    target = destination / "file"
    with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response, target.open("wb") as out:  # noqa: S310
        shutil.copyfileobj(response, out)
    return target


def pull(
    wanted: list[Wanted],
    cache: ChartCache,
    *,
    fetch_chart: Callable[[Wanted, Path], Path] = helm_pull,
    fetch_file: Callable[[str, Path], Path] = https_get,
    lock_file: Path = LOCK_FILE,
) -> list[tuple[Wanted, str]]:
    """Fetch what is not cached yet into the cache's first folder; (item, 'cached' | 'pulled' | 'failed: ...' |
    'refused: ...'). What is cached or fetched must hold the bytes the lock pins: anything else is refused (and a
    fetched file is not kept)."""
    outcome = []
    target_root = cache.folders[0]
    for item in wanted:
        cached = cache.find(item.cache_path)
        if cached:
            try:
                verify(item.cache_path, cached, lock_file)
                outcome.append((item, "cached"))
            except ChartFileError as exc:
                outcome.append((item, f"refused: {exc}"))
            continue
        try:
            with tempfile.TemporaryDirectory() as scratch:
                fetched = fetch_file(item.chart, Path(scratch)) if item.is_file else fetch_chart(item, Path(scratch))
                try:
                    verify(item.cache_path, fetched, lock_file)
                except ChartFileError as exc:
                    outcome.append((item, f"refused: {exc}"))
                    continue
                target = target_root / item.cache_path
                target.parent.mkdir(parents=True, exist_ok=True)
                # Copied beside the target, then renamed: an interrupted pull never leaves a half file as `cached`.
                partial = target.with_name(target.name + ".part")
                shutil.copyfile(fetched, partial)
                os.replace(partial, target)
            outcome.append((item, "pulled"))
        except Exception as exc:  # noqa: BLE001 (network, registry, permissions: reported per item)
            outcome.append((item, f"failed: {' '.join(str(exc).split())[:300]}"))
    return outcome


def run(project_dir: Path, stacks: list[str] | None, cache: ChartCache, everything: bool = False) -> int:
    """Print one line per chart or file; 2 when one does not match the lock or a stack file is invalid (its charts
    are unknown: fetching cannot help, and `make` must not call that a fetch failure), 1 when one could not be
    fetched."""
    names = stacks or stack_names(project_dir)
    wanted, skipped = wanted_by(project_dir, names)
    if everything:
        wanted = sorted(set(wanted) | set(catalogue()), key=lambda w: w.label)
    for line in skipped:
        print(f"skipped {line}")
    results = pull(wanted, cache)
    for item, status in results:
        state, _, why = status.partition(": ")
        print(f"{state:7s} {item.label}{': ' + why if why else ''}")
    failed = [item for item, status in results if status.startswith("failed")]
    refused = [item for item, status in results if status.startswith("refused")]
    print(f"chart cache {cache.folders[0]}: {len(results) - len(failed) - len(refused)} of {len(results)} present"
          + (f"; {len(refused)} refused: not the bytes {LOCK_FILE.name} pins" if refused else ""))
    if skipped:
        print(f"error: {len(skipped)} stack file(s) invalid (skipped above), so their charts are unknown; "
              "`python -m llmd_stack render --stack <name>` shows every problem", file=sys.stderr)
    return 2 if refused or skipped else 1 if failed else 0


def lock(project_dir: Path, cache: ChartCache, lock_file: Path = LOCK_FILE) -> int:
    """Write the lock from the cache: the sha256 of every chart and file the program can deploy (each supported
    version, and whatever the stack files name). 1, writing nothing, when one is not in the cache."""
    wanted, skipped = wanted_by(project_dir, stack_names(project_dir))
    items = sorted(set(wanted) | set(catalogue()), key=lambda w: w.cache_path)
    missing = [item.label for item in items if cache.find(item.cache_path) is None]
    for line in skipped:
        print(f"skipped {line}")
    if missing:
        print(f"error: not in the chart cache ({cache.describe()}), so not locked: {', '.join(missing)}; "
              "run `python -m llmd_stack charts pull --all` first")
        return 1
    entries = {}
    previous = locked(lock_file)
    for item in items:
        path = cache.find(item.cache_path)
        digest = file_digest(path)  # type: ignore[arg-type]
        entries[item.cache_path] = {"source": item.label, "sha256": digest}
        if item.cache_path.endswith(".tgz"):
            entries[item.cache_path]["bytes"] = bytes_digest(path)  # type: ignore[arg-type]
        before = previous.get(item.cache_path, {}).get("sha256")
        print(f"{'same' if before == digest else 'new' if before is None else 'CHANGED':7s} {item.cache_path} {digest}")
    document = {"comment": "sha256 of every chart archive (its files: path and content, in path order; `bytes`: of "
                           "the archive this lock was written from, a shortcut) and remote file the program can deploy; "
                           "written by `python -m llmd_stack charts lock`",
                "files": entries}
    lock_file.write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {lock_file.name}: {len(entries)} files")
    return 0
