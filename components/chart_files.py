"""The chart archives and YAML bundles the program hands the provider: from the chart cache, checked against the lock
file, staged at a path that is the same on every machine.

`pulumi up` deploys exactly the bytes the offline check judged: the program never hands the provider a chart
reference or a URL to fetch (unchecked, on every preview), but `.charts/<archive>` or `.charts/urls/<host>/<path>`,
relative to the program's directory (the provider runs there, and reads the same path in CI and on a laptop). Each is
copied there from the chart cache after its sha256 matched `charts.lock.json`; a mismatch or a file missing from the
lock stops the program naming the file.

The offline engine resolves the same `.charts/...` paths against the chart cache itself (checking the same lock), so
a render never writes into the project; `charts pull` and `charts lock` use the digests and the lock from here.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

import pulumi

PROGRAM_DIR = Path(__file__).resolve().parent.parent
LOCK_FILE = PROGRAM_DIR / "charts.lock.json"
STAGING = ".charts"  # relative to the program's directory; not committed
CACHE_ENV = "LLMD_CHART_CACHE"
DEFAULT_CACHE = Path.home() / ".cache" / "llmd-homelab" / "charts"
PULL_COMMAND = "python -m llmd_stack charts pull"


class ChartFileError(pulumi.RunError):
    """A chart or file whose bytes are not the ones the lock file pins, or that the lock does not know (a RunError:
    `pulumi up` prints it without a traceback)."""


class ChartMissing(LookupError, pulumi.RunError):
    """A chart or remote file the program deploys is not in any chart cache folder."""

    def __init__(self, what: str, version: str | None, cache: ChartCache):
        self.what, self.version = what, version
        super().__init__(f"{self.label} is not in the chart cache ({cache.describe()}): fetch it with "
                         f"`{PULL_COMMAND}`, or set {CACHE_ENV} to a folder that holds it")

    @property
    def label(self) -> str:
        return f"{self.what} {self.version}" if self.version else self.what


def chart_name(chart: str) -> str:
    """`oci://host/path/name`, `repo/name` or `name` -> `name` (the archive's base name)."""
    return chart.rstrip("/").rsplit("/", 1)[-1]


def archive_name(chart: str, version: str) -> str:
    return f"{chart_name(chart)}-{version}.tgz"


def url_path(url: str) -> str:
    """Where a remote file sits in a cache folder: `urls/<host>/<path>`."""
    parsed = urlparse(url)
    return f"urls/{parsed.netloc}/{parsed.path.lstrip('/')}"


@dataclass(frozen=True)
class ChartCache:
    """Folders holding `<chart>-<version>.tgz` and `urls/<host>/<path>`: LLMD_CHART_CACHE (colon-separated), else
    ~/.cache/llmd-homelab/charts."""

    folders: tuple[Path, ...]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChartCache:
        value = (os.environ if env is None else env).get(CACHE_ENV, "")
        folders = tuple(Path(p).expanduser() for p in value.split(":") if p)
        return cls(folders or (DEFAULT_CACHE,))

    def describe(self) -> str:
        return ":".join(str(f) for f in self.folders)

    def find(self, relative: Path | str) -> Path | None:
        for folder in self.folders:
            candidate = folder / relative
            if candidate.is_file():
                return candidate
        return None


# --- digests and the lock file ---------------------------------------------------------------------------------------


def content_digest(data: bytes, name: str) -> str:
    """`sha256:<hex>` of a file; for a chart archive, of its files (each path and the sha256 of its bytes, in path
    order), so that re-packaging the same chart (tar headers, gzip timestamp) does not change it."""
    if not name.endswith(".tgz"):
        return "sha256:" + hashlib.sha256(data).hexdigest()
    entries = []
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                if member.isfile():
                    entries.append(f"{member.name}\0{hashlib.sha256(archive.extractfile(member).read()).hexdigest()}")  # type: ignore[union-attr]
    except (tarfile.TarError, OSError, EOFError) as exc:
        return f"unreadable archive ({exc})"  # never a digest the lock holds
    return "sha256:" + hashlib.sha256("\n".join(sorted(entries)).encode()).hexdigest()


@functools.lru_cache(maxsize=128)
def _file_digests(path: str, mtime: float, size: int) -> tuple[str, str]:
    data = Path(path).read_bytes()
    return "sha256:" + hashlib.sha256(data).hexdigest(), content_digest(data, path)


def file_digest(path: Path) -> str:
    """The digest the lock holds for a file (for an archive, over its files)."""
    stat = path.stat()
    return _file_digests(str(path), stat.st_mtime, stat.st_size)[1]


def bytes_digest(path: Path) -> str:
    """The sha256 of the file's bytes."""
    data = path.read_bytes()
    return "sha256:" + hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=4)
def _lock(path: str, mtime: float) -> dict[str, dict[str, str]]:
    return json.loads(Path(path).read_text())["files"]


def locked(lock_file: Path = LOCK_FILE) -> dict[str, dict[str, str]]:
    """`charts.lock.json`'s files: cache path -> {"source", "sha256"}; empty without a lock file."""
    if not lock_file.is_file():
        return {}
    return _lock(str(lock_file), lock_file.stat().st_mtime)


def verify(relative: str, path: Path, lock_file: Path = LOCK_FILE) -> None:
    """ChartFileError unless `path` holds the bytes the lock pins for `relative`."""
    entry = locked(lock_file).get(relative)
    if entry is None:
        raise ChartFileError(f"{relative} is not in {lock_file.name}: review it, then pin it with "
                             "`python -m llmd_stack charts lock`")
    if entry.get("bytes") and bytes_digest(path) == entry["bytes"]:
        return  # the very archive the lock was written from: no need to unpack it
    found = file_digest(path)
    if found != entry["sha256"]:
        raise ChartFileError(f"{path}: sha256 {found} is not the {entry['sha256']} {lock_file.name} pins for "
                             f"{relative}; remove it and run `{PULL_COMMAND}`, or review the change and run "
                             "`python -m llmd_stack charts lock`")


# --- what the provider reads -----------------------------------------------------------------------------------------


class Staging:
    """Where staged files go. `copy` is off in the offline engine, which reads each staged path's file from the chart
    cache itself (checked against the same lock) and so never writes into the project."""

    copy = True
    folder = PROGRAM_DIR / STAGING


def staged(relative: str, what: str, version: str | None) -> str:
    """The path (relative to the program's directory) the provider reads `relative` from, after checking the bytes
    there, or those copied there from the chart cache, against the lock."""
    if not Staging.copy:
        return f"{STAGING}/{relative}"
    target = Staging.folder / relative
    if target.is_file():
        try:
            verify(relative, target)
            return f"{STAGING}/{relative}"
        except ChartFileError:
            target.unlink()  # a stale copy (an older lock): fetched again from the cache below
    cache = ChartCache.from_env()
    source = cache.find(relative)
    if source is None:
        raise ChartMissing(what, version, cache)
    verify(relative, source)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Copied beside the target, then renamed: a reader never sees half a file.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        with source.open("rb") as original:
            shutil.copyfileobj(original, partial)
    os.replace(partial.name, target)
    return f"{STAGING}/{relative}"


def chart_archive(chart: str, version: str) -> str:
    """The staged archive of a chart (`oci://...`, or a name in an HTTP repository) at a version."""
    return staged(archive_name(chart, version), chart_name(chart), version)


def bundle(url: str) -> str:
    """The staged copy of a remote YAML bundle."""
    return staged(url_path(url), url, None)


def staged_relative(path: str) -> str | None:
    """`inferencepool-v1.2.1.tgz` or `urls/<host>/<path>` for a staged path (`.charts/...`); None for another path."""
    prefix = f"{STAGING}/"
    return path[len(prefix):] if path.startswith(prefix) else None
