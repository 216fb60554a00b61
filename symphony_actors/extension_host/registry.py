"""The extension registry: installed extensions, their files and their grants, in the data directory.

Layout under ``<data_dir>/extensions/``::

    registry.sqlite3        extensions, grants, a generation counter (WAL: safe beside a running system)
    installed/<id>/<ver>/   the extension's files, copied or unpacked at install
    staging/                unpacking area (an install is moved into place only once valid)
    audit.jsonl             permission denials (see permissions.AuditLog)

An install validates the manifest, checks the Symphony version and resolves
dependencies against the installed, enabled extensions before anything is
moved into place; a failed install leaves nothing behind.
"""

from __future__ import annotations

import builtins
import os
import shutil
import sqlite3
import stat
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from symphony_actors import __version__
from symphony_actors.domain.errors import (
    ConflictError,
    DependencyError,
    NotFoundError,
    StorageError,
    UsageError,
)
from symphony_actors.domain.ids import extension_id
from symphony_actors.extension_host.archives import ArchiveLimits, copy_tree, extract_archive, find_root, is_archive
from symphony_actors.extension_host.consent import ConsentRequired, dangerous
from symphony_actors.extension_host.manifest import MANIFEST_NAME, Manifest, load_manifest, parse_manifest
from symphony_actors.extension_host.permissions import GrantSet, parse_permission
from symphony_actors.extension_host.search import SearchEntry
from symphony_actors.extension_host.versions import Resolution, resolve

__all__ = ["InstalledExtension", "Registry"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS extensions (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    type TEXT NOT NULL,
    manifest TEXT NOT NULL,
    path TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1,
    source TEXT NOT NULL,
    installed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (
    extension TEXT NOT NULL REFERENCES extensions(id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    granted_at REAL NOT NULL,
    PRIMARY KEY (extension, permission)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta(key, value) VALUES ('generation', 0);
"""


@dataclass(frozen=True, slots=True)
class InstalledExtension:
    """One installed extension: its manifest, where its files are, whether enabled, what it was granted."""

    manifest: Manifest
    path: Path
    enabled: bool
    granted: tuple[str, ...]
    installed_at: float
    source: str

    @property
    def id(self) -> str:
        return self.manifest.id

    @property
    def requested(self) -> list[str]:
        return self.manifest.permission_strings

    def grant_set(self, variables: dict[str, str] | None = None) -> GrantSet:
        return GrantSet(self.id, self.granted, {"extension": str(self.path), **(variables or {})})

    def search_entry(self) -> SearchEntry:
        m = self.manifest
        return SearchEntry(m.id, m.name, m.description, m.keywords, m.type, tuple(m.permission_strings),
                           str(m.version))

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {"id": m.id, "version": str(m.version), "type": m.type, "name": m.name,
                "description": m.description, "enabled": self.enabled}

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "path": str(self.path), "source": self.source,
                "installed_at": self.installed_at, "requested": self.requested,
                "granted": list(self.granted),
                "denied": [p for p in self.requested if p not in self.granted],
                "manifest": self.manifest.to_dict()}


def _owner_only(tree: Path) -> None:
    """Clear the group and other bits of ``tree`` and everything in it (symlinks are refused at copy)."""
    for root, dirs, files in os.walk(tree):
        for p in [Path(root), *(Path(root) / n for n in dirs + files)]:
            mode = stat.S_IMODE(p.lstat().st_mode)
            if mode & 0o077:
                p.chmod(mode & 0o700)


class Registry:
    """Installed extensions in ``<root>`` (normally ``<data_dir>/extensions``)."""

    def __init__(self, root: Path | str, *, clock: Callable[[], float] = time.time,
                 symphony_version: str = __version__, limits: ArchiveLimits | None = None) -> None:
        self.root = Path(root)
        self.clock = clock
        self.symphony_version = symphony_version
        self.limits = limits or ArchiveLimits()
        self._db: sqlite3.Connection | None = None
        self._cache: dict[str, InstalledExtension] | None = None
        self._cache_generation = -1

    # ---------------------------------------------------------------- storage
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.root / "registry.sqlite3", isolation_level=None, timeout=10.0,
                                     check_same_thread=False)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise StorageError(f"cannot open the extension registry in {self.root}: {exc}") from exc
            self._db = db
        return self._db

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(f"extension registry write failed: {exc}") from exc
        self._cache = None

    @property
    def generation(self) -> int:
        """Bumped by every change (also by other processes): cheap staleness check for caches and indexes."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        return int(row[0])

    def _all(self) -> dict[str, InstalledExtension]:
        gen = self.generation
        if self._cache is not None and gen == self._cache_generation:
            return self._cache
        grants: dict[str, list[str]] = {}
        for ext, perm in self.db.execute("SELECT extension, permission FROM grants ORDER BY rowid"):
            grants.setdefault(ext, []).append(perm)
        out: dict[str, InstalledExtension] = {}
        for ext_id, manifest, path, enabled, source, installed_at in self.db.execute(
                "SELECT id, manifest, path, enabled, source, installed_at FROM extensions ORDER BY id"):
            out[ext_id] = InstalledExtension(parse_manifest(orjson.loads(manifest)), Path(path), bool(enabled),
                                             tuple(grants.get(ext_id, ())), float(installed_at), source)
        self._cache, self._cache_generation = out, gen
        return out

    # ---------------------------------------------------------------- queries
    def list(self, *, enabled_only: bool = False) -> builtins.list[InstalledExtension]:
        return [e for e in self._all().values() if e.enabled or not enabled_only]

    def get(self, ext_id: str) -> InstalledExtension:
        found = self._all().get(ext_id)
        if found is None:
            raise NotFoundError(f"extension {ext_id!r} is not installed", extension=ext_id)
        return found

    def dependents(self, ext_id: str, *, enabled_only: bool = False) -> builtins.list[str]:
        """Installed extensions that declare a dependency on ``ext_id``."""
        return [e.id for e in self.list(enabled_only=enabled_only)
                if any(d.id == ext_id for d in e.manifest.dependencies)]

    def resolve(self, ext_id: str) -> Resolution:
        """The enabled extensions ``ext_id`` needs, in activation order (itself last)."""
        target = self.get(ext_id)
        if not target.enabled:
            raise ConflictError(f"extension {ext_id} is disabled; enable it first", extension=ext_id)
        return resolve([target.manifest], [e.manifest for e in self.list(enabled_only=True)],
                       symphony_version=self.symphony_version)

    # ---------------------------------------------------------------- install and remove
    def install(self, source: Path | str, *, grant: Iterable[str] | bool | None = None,
                replace: bool = False) -> InstalledExtension:
        """Install from a folder or a ``.zip``/``.tar.gz``/``.tgz``/``.tar``.

        ``grant``: None grants what it requests but refuses (``PermissionDenied``, reason
        ``consent_required``) when that includes a dangerous permission (see ``consent.py``);
        True grants everything requested; False everything but the dangerous ones; a list exactly those.
        """
        src = Path(source).expanduser()
        if not src.exists():
            raise NotFoundError(f"{src} does not exist", path=str(src))
        staging = self.root / "staging" / uuid.uuid4().hex
        try:
            tree = staging / "tree"
            if src.is_dir():
                copy_tree(src, tree, self.limits)
            elif is_archive(src):
                extract_archive(src, tree, self.limits)
                tree = find_root(tree, MANIFEST_NAME)
            else:
                raise UsageError(f"{src} is neither an extension folder nor a .zip/.tar.gz/.tgz/.tar archive")
            manifest = load_manifest(tree)
            return self._install_staged(manifest, tree, str(src.resolve()), grant, replace)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _install_staged(self, manifest: Manifest, tree: Path, source: str, grant: Iterable[str] | bool | None,
                        replace: bool) -> InstalledExtension:
        installed = self._all()
        old = installed.get(manifest.id)
        if old is not None and not replace:
            raise ConflictError(f"{manifest.id} {old.manifest.version} is already installed; remove it first or "
                                "install with replace", extension=manifest.id)
        others = [e.manifest for e in installed.values() if e.enabled and e.id != manifest.id]
        resolve([manifest], others, symphony_version=self.symphony_version)
        if old is not None:
            broken = [f"{e.id} {e.manifest.version} needs {manifest.id} {d.spec}"
                      for e in installed.values() for d in e.manifest.dependencies
                      if d.id == manifest.id and not d.spec.contains(manifest.version, prereleases=True)]
            if broken:
                raise DependencyError(f"replacing {manifest.id} with {manifest.version} would break: "
                                      + "; ".join(broken), extension=manifest.id)
        granted = self._check_grants(manifest, grant)
        _owner_only(tree)  # the data dir is private: copied or unpacked modes (0644, 0755) are not kept
        dest = self.root / "installed" / manifest.id / f"{manifest.version}-{uuid.uuid4().hex[:8]}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(tree), dest)
        now = self.clock()
        try:
            with self._write() as db:
                if not replace and db.execute("SELECT 1 FROM extensions WHERE id = ?", (manifest.id,)).fetchone():
                    # Another process installed it since we looked: still no silent replacement.
                    raise ConflictError(f"{manifest.id} was installed meanwhile", extension=manifest.id)
                db.execute("DELETE FROM extensions WHERE id = ?", (manifest.id,))
                db.execute("INSERT INTO extensions(id, version, type, manifest, path, enabled, source, installed_at)"
                           " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                           (manifest.id, str(manifest.version), manifest.type, orjson.dumps(manifest.to_dict()),
                            str(dest), source, now))
                db.executemany("INSERT INTO grants(extension, permission, granted_at) VALUES (?, ?, ?)",
                               [(manifest.id, p, now) for p in granted])
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            self._drop_if_empty(dest.parent)
            raise
        if old is not None and old.path != dest:
            shutil.rmtree(old.path, ignore_errors=True)
        return self.get(manifest.id)

    @staticmethod
    def _check_grants(manifest: Manifest, grant: Iterable[str] | bool | None) -> builtins.list[str]:
        requested = manifest.permission_strings
        if grant is True:
            return requested
        if grant is None or grant is False:
            risky = dangerous(manifest.permissions)
            if risky and grant is None:
                raise ConsentRequired(manifest.id, risky)
            return [p for p in requested if p not in risky]
        if isinstance(grant, str):
            raise UsageError("grant is a list of permission strings, not one string")
        out: builtins.list[str] = []
        for g in grant:
            p = str(parse_permission(g))
            if p not in requested:
                raise UsageError(f"{manifest.id} does not request {p}; it requests: "
                                 + (", ".join(requested) or "nothing"), extension=manifest.id, permission=p)
            if p not in out:
                out.append(p)
        return out

    def remove(self, ext_id: str, *, force: bool = False) -> InstalledExtension:
        """Uninstall; refuses while other installed extensions depend on it unless ``force``."""
        ext = self.get(ext_id)
        deps = self.dependents(ext_id)
        if deps and not force:
            raise ConflictError(f"cannot remove {ext_id}: {', '.join(deps)} depend{'s' if len(deps) == 1 else ''} "
                                "on it (remove them first, or force)", extension=ext_id, dependents=deps)
        with self._write() as db:
            db.execute("DELETE FROM extensions WHERE id = ?", (ext_id,))
        shutil.rmtree(ext.path, ignore_errors=True)
        self._drop_if_empty(ext.path.parent)
        return ext

    @staticmethod
    def _drop_if_empty(folder: Path) -> None:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    def set_enabled(self, ext_id: str, enabled: bool, *, force: bool = False) -> InstalledExtension:
        ext = self.get(ext_id)
        if ext.enabled == enabled:
            return ext
        if enabled:
            others = [e.manifest for e in self.list(enabled_only=True)]
            resolve([ext.manifest], others, symphony_version=self.symphony_version)
        else:
            deps = self.dependents(ext_id, enabled_only=True)
            if deps and not force:
                verb = "depends" if len(deps) == 1 else "depend"
                raise ConflictError(f"cannot disable {ext_id}: enabled {', '.join(deps)} {verb} on it "
                                    "(disable them first, or force)", extension=ext_id, dependents=deps)
        with self._write() as db:
            db.execute("UPDATE extensions SET enabled = ? WHERE id = ?", (int(enabled), ext_id))
        return self.get(ext_id)

    # ---------------------------------------------------------------- grants
    def set_grants(self, ext_id: str, permissions: Iterable[str]) -> InstalledExtension:
        """Replace the grants (each must be one the extension requests)."""
        ext = self.get(ext_id)
        granted = self._check_grants(ext.manifest, permissions)
        now = self.clock()
        with self._write() as db:
            db.execute("DELETE FROM grants WHERE extension = ?", (ext_id,))
            db.executemany("INSERT INTO grants(extension, permission, granted_at) VALUES (?, ?, ?)",
                           [(ext_id, p, now) for p in granted])
        return self.get(ext_id)

    def grant(self, ext_id: str, permissions: Iterable[str]) -> InstalledExtension:
        ext = self.get(ext_id)
        if isinstance(permissions, str):
            raise UsageError("grant takes a list of permission strings, not one string")
        return self.set_grants(ext_id, [*ext.granted, *permissions])

    def revoke(self, ext_id: str, permissions: Iterable[str]) -> InstalledExtension:
        ext = self.get(ext_id)
        if isinstance(permissions, str):
            raise UsageError("revoke takes a list of permission strings, not one string")
        drop = {str(parse_permission(p)) for p in permissions}
        return self.set_grants(ext_id, [p for p in ext.granted if p not in drop])

    @staticmethod
    def check_id(ext_id: object) -> str:
        if not isinstance(ext_id, str):
            raise UsageError("an extension id is a string 'publisher.name'")
        return extension_id(ext_id)
