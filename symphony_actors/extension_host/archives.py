"""Unpack or copy an extension safely: no path traversal, no links, no bombs.

Every member name is checked (no absolute paths, no ``..``, no backslashes or
NUL, bounded length); only regular files and directories are accepted (no
symlinks, hard links, devices or FIFOs); sizes are counted on the bytes
actually written, not on what the archive header claims, against a per-file
limit, a total limit, a member count and (for zip) a compression ratio.
"""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from symphony_actors.domain.errors import StorageError, UsageError

__all__ = ["ArchiveLimits", "UnsafeArchive", "copy_tree", "extract_archive", "find_root", "is_archive"]

_CHUNK = 64 * 1024
_SKIP = frozenset({"__pycache__", ".git", ".hg", ".svn", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_files: int = 2000
    max_file_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024
    max_ratio: float = 100.0          # uncompressed/compressed per zip member above 1 MiB
    max_path_length: int = 512
    max_depth: int = 32


class UnsafeArchive(UsageError):
    """An archive or folder that could escape its destination or exhaust the disk; nothing was installed."""

    code = "unsafe_archive"


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".zip", ".tar.gz", ".tgz", ".tar"))


def _safe_name(raw: str, limits: ArchiveLimits) -> PurePosixPath | None:
    """The relative path of a member, or None for the archive root itself; raises on anything unsafe."""
    if "\x00" in raw or "\\" in raw:
        raise UnsafeArchive(f"member {raw!r} has a NUL or backslash in its name", member=raw)
    if len(raw) > limits.max_path_length:
        raise UnsafeArchive(f"member name is {len(raw)} characters long (limit {limits.max_path_length})",
                            member=raw[:100])
    if raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchive(f"member {raw!r} has an absolute path", member=raw)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafeArchive(f"member {raw!r} climbs out of the archive with '..'", member=raw)
    if len(parts) > limits.max_depth:
        raise UnsafeArchive(f"member {raw!r} is nested deeper than {limits.max_depth} folders", member=raw)
    if any(len(p.encode()) > 255 for p in parts):
        raise UnsafeArchive(f"member {raw!r} has a name segment longer than 255 bytes", member=raw[:100])
    return PurePosixPath(*parts) if parts else None


class _Budget:
    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits = limits
        self.files = 0
        self.total = 0

    def member(self, name: str) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise UnsafeArchive(f"more than {self.limits.max_files} files", member=name)

    def copy(self, src: IO[bytes], dest: Path, name: str, declared: int | None = None) -> int:
        written = 0
        if dest.exists():
            raise UnsafeArchive(f"{name} appears twice", member=name)
        with dest.open("xb") as out:
            while True:
                chunk = src.read(_CHUNK)
                if not chunk:
                    break
                written += len(chunk)
                self.total += len(chunk)
                if written > self.limits.max_file_bytes:
                    raise UnsafeArchive(f"{name} is larger than {self.limits.max_file_bytes} bytes", member=name)
                if self.total > self.limits.max_total_bytes:
                    raise UnsafeArchive(f"contents exceed {self.limits.max_total_bytes} bytes in total", member=name)
                if declared is not None and written > declared:
                    raise UnsafeArchive(f"{name} holds more bytes than its header declares", member=name)
                out.write(chunk)
        return written


def _target(dest: Path, rel: PurePosixPath) -> Path:
    target = dest.joinpath(*rel.parts)
    # Defence in depth: the resolved parent must stay inside dest (no symlink was ever created, but check).
    if not str(target.parent.resolve()).startswith(str(dest.resolve())):
        raise UnsafeArchive(f"member {rel} resolves outside the destination", member=str(rel))
    return target


def extract_archive(archive: Path, dest: Path, limits: ArchiveLimits | None = None) -> None:
    """Extract a ``.zip``, ``.tar.gz``/``.tgz`` or ``.tar`` into the empty folder ``dest``."""
    limits = limits or ArchiveLimits()
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    try:
        if name.endswith(".zip"):
            _extract_zip(archive, dest, limits)
        elif name.endswith((".tar.gz", ".tgz", ".tar")):
            _extract_tar(archive, dest, limits)
        else:
            raise UsageError(f"{archive.name}: not a supported archive (.zip, .tar.gz, .tgz, .tar)")
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UsageError(f"{archive.name} is not a readable archive: {exc}", path=str(archive)) from exc
    except OSError as exc:
        raise StorageError(f"cannot extract {archive.name}: {exc}", path=str(archive)) from exc


def _extract_zip(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    budget = _Budget(limits)
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise UnsafeArchive(f"{len(infos)} members; at most {limits.max_files}")
        for info in infos:
            rel = _safe_name(info.filename, limits)
            mode = (info.external_attr >> 16) & 0o177777
            if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                raise UnsafeArchive(f"member {info.filename!r} is a link or special file", member=info.filename)
            if rel is None:
                continue
            budget.member(info.filename)
            if info.is_dir():
                dest.joinpath(*rel.parts).mkdir(parents=True, exist_ok=True)
                continue
            if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
                ratio = info.file_size // max(info.compress_size, 1)
                raise UnsafeArchive(f"member {info.filename!r} compresses {ratio}:1; that is a zip bomb",
                                    member=info.filename)
            target = _target(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src:
                budget.copy(src, target, info.filename, declared=info.file_size)


def _extract_tar(archive: Path, dest: Path, limits: ArchiveLimits) -> None:
    budget = _Budget(limits)
    with tarfile.open(archive, mode="r:*") as tf:
        for member in tf:  # streaming: members are read one at a time, counted before the next
            rel = _safe_name(member.name, limits)
            if not (member.isreg() or member.isdir()):
                raise UnsafeArchive(f"member {member.name!r} is a link or special file", member=member.name)
            if rel is None:
                continue
            budget.member(member.name)
            if member.isdir():
                dest.joinpath(*rel.parts).mkdir(parents=True, exist_ok=True)
                continue
            target = _target(dest, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            if src is None:  # pragma: no cover - isreg() members always have a file object
                raise UnsafeArchive(f"member {member.name!r} has no data", member=member.name)
            with src:
                budget.copy(src, target, member.name, declared=member.size)


def copy_tree(src: Path, dest: Path, limits: ArchiveLimits | None = None) -> None:
    """Copy an extension folder; refuses symlinks and special files, skips caches and VCS folders."""
    limits = limits or ArchiveLimits()
    budget = _Budget(limits)
    src = src.resolve()
    dest.mkdir(parents=True, exist_ok=True)
    for root, dirs, files in os.walk(src, followlinks=False):
        rel_root = Path(root).relative_to(src)
        for d in list(dirs):
            full = Path(root) / d
            if d in _SKIP:
                dirs.remove(d)
            elif full.is_symlink():
                raise UnsafeArchive(f"{rel_root / d} is a symbolic link; extensions ship plain files",
                                    member=str(rel_root / d))
            else:
                (dest / rel_root / d).mkdir(exist_ok=True)
        for f in files:
            full = Path(root) / f
            rel = rel_root / f
            st = full.lstat()
            if stat.S_ISLNK(st.st_mode):
                raise UnsafeArchive(f"{rel} is a symbolic link; extensions ship plain files", member=str(rel))
            if not stat.S_ISREG(st.st_mode):
                raise UnsafeArchive(f"{rel} is not a regular file", member=str(rel))
            if f.endswith((".pyc", ".pyo")):
                continue
            _safe_name(rel.as_posix(), limits)
            budget.member(str(rel))
            with full.open("rb") as fh:
                budget.copy(fh, dest / rel, str(rel))
            shutil.copymode(full, dest / rel)


def find_root(tree: Path, marker: str) -> Path:
    """The folder holding ``marker``: ``tree`` itself or its single top-level folder."""
    if (tree / marker).is_file():
        return tree
    entries = [p for p in tree.iterdir() if p.name not in _SKIP]
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / marker).is_file():
        return entries[0]
    raise UsageError(f"no {marker} at the top of the archive or in its single top-level folder")
