"""The Stale Manager's logic: lineage of derivations, transitive and TTL staleness, fresh-node queries.

Each recorded artifact has a *derivation key*: a hash of its node type, parameters, input artifact ids
(in order), file digests and extension versions, as make and Bazel key an action. A re-run asks
:meth:`Lineage.fresh_nodes` which nodes would derive a key that already has a fresh artifact; those are
skipped.

Invariant: the stale set is closed under derivation. Whatever is derived from a stale artifact is
stale (also when it is recorded later), so invalidation stops at artifacts already stale and costs
O(newly stale + their edges).
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from symphony_actors.domain.errors import NotFoundError, UsageError

__all__ = ["Derivation", "Lineage", "Reclaimer", "derivation_key", "plain"]

Reclaimer = Callable[[Sequence[str]], tuple[list[str], int]]
"""Frees artifacts: returns the ids actually removed and the bytes that freed."""


def plain(value: Any) -> Any:
    """JSON-like data as plain dicts and lists: a workflow's parameters arrive as nested read-only
    mappings (``FrozenDict``) and tuples, which neither ``json`` nor the key derivation take as such."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def derivation_key(node_type: str, params: Mapping[str, Any] | None, inputs: Sequence[str],
                   files: Mapping[str, str] | None, extensions: Mapping[str, str] | None) -> str:
    """A stable hash of what a node's output depends on (input order matters; mapping order does not)."""
    blob = json.dumps([node_type, plain(params or {}), list(inputs), files or {}, extensions or {}],
                      sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()


@dataclass(slots=True)
class Derivation:
    artifact: str
    key: str
    node_type: str
    params: dict[str, Any]
    inputs: tuple[str, ...]
    files: dict[str, str]
    extensions: dict[str, str]
    created: float
    ttl_s: float | None = None
    size_bytes: int = 0
    node: str = ""
    run: str = ""
    stale_since: float | None = None
    stale_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"artifact": self.artifact, "key": self.key, "node_type": self.node_type, "params": self.params,
                "inputs": list(self.inputs), "files": self.files, "extensions": self.extensions,
                "created": self.created, "ttl_s": self.ttl_s, "size_bytes": self.size_bytes, "node": self.node,
                "run": self.run, "stale_since": self.stale_since, "stale_reason": self.stale_reason}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Derivation:
        return cls(d["artifact"], d["key"], d["node_type"], dict(d["params"]), tuple(d["inputs"]), dict(d["files"]),
                   dict(d["extensions"]), float(d["created"]), d.get("ttl_s"), int(d.get("size_bytes", 0)),
                   d.get("node", ""), d.get("run", ""), d.get("stale_since"), d.get("stale_reason", ""))


@dataclass(slots=True)
class Lineage:
    """The derivation graph and staleness; ``dirty`` names records to save, ``stale_dirty`` records whose
    staleness changed (saved as a small row of its own), ``removed`` records to delete."""

    clock: Callable[[], float]
    records: dict[str, Derivation] = field(default_factory=dict)
    children: dict[str, set[str]] = field(default_factory=dict)
    by_file: dict[str, set[str]] = field(default_factory=dict)
    by_ext: dict[str, set[str]] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    stale_external: dict[str, str] = field(default_factory=dict)  # unrecorded inputs known to be stale
    stale_order: dict[str, None] = field(default_factory=dict)   # stale artifacts, oldest first
    expiries: list[tuple[float, str]] = field(default_factory=list)
    dirty: set[str] = field(default_factory=set)
    stale_dirty: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)

    # ------------------------------------------------------------------ recording
    def record(self, artifact: str, node_type: str, params: Mapping[str, Any] | None = None,
               inputs: Sequence[str] = (), files: Mapping[str, str] | None = None,
               extensions: Mapping[str, str] | None = None, ttl_s: float | None = None, size_bytes: int = 0,
               node: str = "", run: str = "") -> dict[str, Any]:
        if not artifact or not node_type:
            raise UsageError("record needs an artifact id and a node type", artifact=artifact)
        if ttl_s is not None and ttl_s <= 0:
            raise UsageError(f"ttl_s must be > 0, not {ttl_s!r}", artifact=artifact)
        if artifact in inputs:
            raise UsageError(f"artifact {artifact!r} cannot be derived from itself", artifact=artifact)
        values: dict[str, Any] = plain(params or {})
        try:  # what is recorded is saved as JSON: refuse here, naming the node, what could not be saved
            json.dumps(values)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"params of node {node or node_type!r} are not JSON data ({exc}); lineage of "
                             f"{artifact!r} not recorded", artifact=artifact, node=node) from None
        self._expire()
        now = self.clock()
        if artifact in self.records:
            self._unlink(self.records[artifact])
        d = Derivation(artifact, derivation_key(node_type, values, inputs, files, extensions), node_type,
                       values, tuple(inputs), dict(files or {}), dict(extensions or {}), now, ttl_s,
                       int(size_bytes), node, run)
        self.records[artifact] = d
        self.removed.discard(artifact)
        self._link(d)
        self.dirty.add(artifact)
        if ttl_s is not None:
            heapq.heappush(self.expiries, (now + ttl_s, artifact))
        stale_inputs = [i for i in inputs if self._is_stale_id(i)]
        if stale_inputs:
            self._mark(d, now, f"derived from stale {stale_inputs[0]}")
        return {"artifact": artifact, "key": d.key, "stale": d.stale_since is not None}

    def _link(self, d: Derivation) -> None:
        for i in d.inputs:
            self.children.setdefault(i, set()).add(d.artifact)
        for path in d.files:
            self.by_file.setdefault(path, set()).add(d.artifact)
        for ext in d.extensions:
            self.by_ext.setdefault(ext, set()).add(d.artifact)
        self.by_key[d.key] = d.artifact

    def _unlink(self, d: Derivation) -> None:
        for i in d.inputs:
            kids = self.children.get(i)
            if kids is not None:
                kids.discard(d.artifact)
                if not kids:
                    del self.children[i]
        for table, names in ((self.by_file, d.files), (self.by_ext, d.extensions)):
            for name in names:
                s = table.get(name)
                if s is not None:
                    s.discard(d.artifact)
                    if not s:
                        del table[name]
        if self.by_key.get(d.key) == d.artifact:
            del self.by_key[d.key]
        self.stale_order.pop(d.artifact, None)

    def _is_stale_id(self, artifact: str) -> bool:
        d = self.records.get(artifact)
        return d.stale_since is not None if d is not None else artifact in self.stale_external

    # ------------------------------------------------------------------ invalidation
    def _mark(self, d: Derivation, now: float, reason: str) -> None:
        d.stale_since, d.stale_reason = now, reason
        self.stale_order[d.artifact] = None
        self.stale_dirty.add(d.artifact)

    def invalidate(self, roots: Iterable[str], reason: str) -> list[str]:
        """Mark ``roots`` and everything derived from them stale; returns the newly stale, in BFS order."""
        now = self.clock()
        marked: list[str] = []
        stack = list(dict.fromkeys(roots))
        seen = set(stack)
        root_set = frozenset(stack)
        upstream = f"{reason} (upstream)"
        records, children = self.records, self.children
        order, dirty = self.stale_order, self.stale_dirty
        while stack:
            a = stack.pop()
            d = records.get(a)
            if d is None:
                self.stale_external[a] = reason
            elif d.stale_since is not None:
                continue  # closed under derivation: its descendants are stale already
            else:
                d.stale_since, d.stale_reason = now, reason if a in root_set else upstream
                order[a] = None
                dirty.add(a)
                marked.append(a)
            kids = children.get(a)
            if kids:
                for c in kids:
                    if c not in seen:
                        seen.add(c)
                        stack.append(c)
        return marked

    def mark_stale(self, artifacts: Sequence[str], reason: str = "changed") -> dict[str, Any]:
        self._expire()
        roots = set(artifacts)
        marked = self.invalidate(list(artifacts), reason)
        return {"marked": marked, "count": len(marked), "roots": sorted(roots)}

    def file_changed(self, path: str, digest: str) -> dict[str, Any]:
        self._expire()
        roots = [a for a in sorted(self.by_file.get(path, ())) if self.records[a].files.get(path) != digest]
        marked = self.invalidate(roots, f"file {path} changed")
        return {"marked": marked, "count": len(marked), "roots": roots}

    def extension_updated(self, extension: str, version: str) -> dict[str, Any]:
        self._expire()
        roots = [a for a in sorted(self.by_ext.get(extension, ()))
                 if self.records[a].extensions.get(extension) != version]
        marked = self.invalidate(roots, f"extension {extension} is now {version}")
        return {"marked": marked, "count": len(marked), "roots": roots}

    def _expire(self) -> list[str]:
        """Mark what outlived its TTL (and its descendants) stale."""
        now = self.clock()
        marked: list[str] = []
        while self.expiries and self.expiries[0][0] <= now:
            due, a = heapq.heappop(self.expiries)
            d = self.records.get(a)
            if d is not None and d.ttl_s is not None and abs(d.created + d.ttl_s - due) < 1e-6:
                marked += self.invalidate([a], f"ttl of {d.ttl_s:g} s expired")
        return marked

    def tick(self) -> list[str]:
        return self._expire()

    # ------------------------------------------------------------------ queries
    def query(self, artifacts: Sequence[str]) -> dict[str, dict[str, Any]]:
        self._expire()
        out: dict[str, dict[str, Any]] = {}
        for a in artifacts:
            d = self.records.get(a)
            if d is None:
                stale = a in self.stale_external
                out[a] = {"known": False, "stale": stale, "reason": self.stale_external.get(a, ""), "since": None}
            else:
                out[a] = {"known": True, "stale": d.stale_since is not None, "reason": d.stale_reason,
                          "since": d.stale_since, "key": d.key}
        return out

    def stale(self, limit: int = 1000) -> list[str]:
        self._expire()
        out: list[str] = []
        for a in self.stale_order:
            if len(out) >= limit:
                break
            out.append(a)
        return out

    def lineage(self, artifact: str) -> dict[str, Any]:
        self._expire()
        d = self.records.get(artifact)
        if d is None:
            raise NotFoundError(f"no lineage recorded for artifact {artifact!r}", artifact=artifact)
        return {**d.to_dict(), "derived": sorted(self.children.get(artifact, ()))}

    def fresh_nodes(self, nodes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Which nodes can be skipped; see :meth:`~symphony_actors.ports.pit.StalePort.fresh_nodes`."""
        self._expire()
        fresh: dict[str, str] = {}
        rerun: dict[str, str] = {}
        keys: dict[str, str] = {}
        for spec in nodes:
            node = str(spec.get("node", ""))
            if not node or "type" not in spec:
                raise UsageError("each node needs 'node' and 'type'", node=node)
            inputs = list(spec.get("inputs", ()))
            blocked = ""
            for dep in spec.get("deps", ()):
                if dep in fresh:
                    inputs.append(fresh[dep])
                elif dep in rerun:
                    blocked = f"upstream {dep} re-runs"
                    break
                else:
                    raise UsageError(f"node {node!r} depends on {dep!r}, which is not earlier in the list",
                                     node=node)
            if blocked:
                rerun[node] = blocked
                continue
            key = derivation_key(str(spec["type"]), spec.get("params"), inputs, spec.get("files"),
                                 spec.get("extensions"))
            keys[node] = key
            artifact = self.by_key.get(key)
            if artifact is None:
                rerun[node] = "no result for these inputs, parameters and versions"
            elif self.records[artifact].stale_since is not None:
                rerun[node] = f"result {artifact} is stale: {self.records[artifact].stale_reason}"
            else:
                fresh[node] = artifact
        return {"fresh": fresh, "rerun": rerun, "keys": keys}

    # ------------------------------------------------------------------ cleanup
    def cleanup(self, reclaim: Reclaimer, dry_run: bool = False, limit: int | None = None) -> dict[str, Any]:
        """Reclaim stale artifacts through ``reclaim``; report count and bytes freed."""
        self._expire()
        candidates = self.stale(limit if limit is not None else len(self.stale_order))
        if dry_run:
            return {"count": len(candidates), "bytes_freed": 0, "artifacts": candidates, "dry_run": True,
                    "bytes_recorded": sum(self.records[a].size_bytes for a in candidates)}
        removed, freed = reclaim(candidates) if candidates else ([], 0)
        for a in removed:
            d = self.records.pop(a, None)
            if d is not None:
                self._unlink(d)
                self.removed.add(a)
                self.dirty.discard(a)
                self.stale_dirty.discard(a)
        kept = sorted(set(candidates) - set(removed))
        return {"count": len(removed), "bytes_freed": int(freed), "artifacts": list(removed), "kept": kept,
                "dry_run": False}

    def recorded_sizes(self) -> Reclaimer:
        """A reclaimer that only forgets the lineage and counts the sizes given to :meth:`record`."""
        def reclaim(artifacts: Sequence[str]) -> tuple[list[str], int]:
            return list(artifacts), sum(self.records[a].size_bytes for a in artifacts if a in self.records)
        return reclaim

    # ------------------------------------------------------------------ persistence
    def load(self, saved: Iterable[Mapping[str, Any]], staleness: Mapping[str, Sequence[Any]] | None = None) -> None:
        """Rebuild from saved records (as :meth:`Derivation.to_dict` wrote them) and staleness rows
        (artifact -> ``[since, reason]``, newer than the records'); fresh ones own their keys."""
        rows = [Derivation.from_dict(s) for s in saved]
        for d in rows:
            mark = (staleness or {}).get(d.artifact)
            if mark is not None:
                d.stale_since, d.stale_reason = float(mark[0]), str(mark[1])
        rows.sort(key=lambda d: (d.stale_since is None, d.stale_since or d.created))
        for d in rows:
            self.records[d.artifact] = d
            self._link(d)
            if d.stale_since is not None:
                self.stale_order[d.artifact] = None
            elif d.ttl_s is not None:
                heapq.heappush(self.expiries, (d.created + d.ttl_s, d.artifact))
        self.dirty.clear()
        self.stale_dirty.clear()
