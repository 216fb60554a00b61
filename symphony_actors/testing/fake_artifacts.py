"""A complete in-memory :class:`~symphony_actors.ports.artifacts.ArtifactPort` for tests.

Same ids as the real store (BLAKE3 over content digest and provenance), same
errors, same lineage, delete and gc rules; search ranks by term frequency
(name, tags and producer count double) over plain words instead of BM25 over
tantivy's query language. ``corrupt(artifact_id)`` flips a stored byte so tests
can see ``IntegrityError`` without a database.
"""

from __future__ import annotations

import builtins
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import blake3

from symphony_actors.domain.errors import ConflictError, IntegrityError, NotFoundError, UsageError
from symphony_actors.domain.ids import ArtifactId
from symphony_actors.pit.artifacts._codec import Provenance, is_text_media_type
from symphony_actors.ports.artifacts import (
    DEFAULT_MEDIA_TYPE,
    MAX_PART_BYTES,
    ArtifactInfo,
    DeleteReport,
    Direction,
    GcReport,
    IntegrityProblem,
    LineageEntry,
    SearchHit,
    StoreStats,
    VerifyReport,
)

__all__ = ["FakeArtifacts"]

_WORD = re.compile(r"\w+")


@dataclass
class _Content:
    data: bytes
    refs: int = 0


@dataclass
class _Artifact:
    info: ArtifactInfo
    tags: set[str] = field(default_factory=set)


class FakeArtifacts:
    """In-memory artifacts: a dict of contents by digest and a dict of artifacts by id."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._contents: dict[bytes, _Content] = {}
        self._artifacts: dict[str, _Artifact] = {}
        self._edges: set[tuple[str, str]] = set()  # (child, parent)

    # ------------------------------------------------------------------ helpers
    def _get(self, artifact_id: str) -> _Artifact:
        art = self._artifacts.get(artifact_id) if isinstance(artifact_id, str) else None
        if art is None:
            raise NotFoundError(f"no artifact {artifact_id!r}", artifact_id=str(artifact_id))
        return art

    def _info(self, art: _Artifact) -> ArtifactInfo:
        i = art.info
        return ArtifactInfo(i.artifact_id, i.digest, i.name, i.media_type, i.size, tuple(sorted(art.tags)),
                            i.created, i.run_id, i.node_id, i.parents)

    def _bytes(self, art: _Artifact) -> bytes:
        data = self._contents[bytes.fromhex(art.info.digest)].data
        if blake3.blake3(data).hexdigest() != art.info.digest:
            raise IntegrityError(f"artifact {art.info.artifact_id}: chunk {art.info.digest} does not match its hash",
                                 artifact_id=art.info.artifact_id, chunk=art.info.digest)
        return data

    def corrupt(self, artifact_id: str) -> None:
        """Flip the first byte of the artifact's stored bytes (for integrity tests)."""
        content = self._contents[bytes.fromhex(self._get(artifact_id).info.digest)]
        if not content.data:
            raise UsageError("an empty artifact has no byte to corrupt")
        content.data = bytes([content.data[0] ^ 0xFF]) + content.data[1:]

    # ------------------------------------------------------------------ the port
    def store(self, data: bytes, *, name: str = "", media_type: str = DEFAULT_MEDIA_TYPE, tags: Sequence[str] = (),
              run_id: str | None = None, node_id: str | None = None, parents: Sequence[str] = ()) -> ArtifactId:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise UsageError(f"artifact data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        meta = Provenance.check(name, media_type, tags, run_id, node_id, parents)
        parent_ids = meta.parents
        digest = blake3.blake3(data).digest()
        artifact_id = meta.artifact_id(digest)
        existing = self._artifacts.get(artifact_id)
        if existing is not None:
            existing.tags.update(meta.tags)
            return artifact_id
        missing = [p for p in parent_ids if p not in self._artifacts]
        if missing:
            raise NotFoundError(f"parent artifact(s) not found: {', '.join(missing)}", parents=missing)
        content = self._contents.setdefault(digest, _Content(data))
        content.refs += 1
        info = ArtifactInfo(artifact_id, digest.hex(), meta.name, meta.media_type, len(data), (), self._clock(),
                            meta.run_id, meta.node_id, tuple(ArtifactId(p) for p in parent_ids))
        self._artifacts[artifact_id] = _Artifact(info, set(meta.tags))
        self._edges.update((artifact_id, p) for p in parent_ids)
        return artifact_id

    def retrieve(self, artifact_id: str) -> bytes:
        return self._bytes(self._get(artifact_id))

    def read_range(self, artifact_id: str, *, offset: int = 0, length: int = MAX_PART_BYTES) -> bytes:
        if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
            raise UsageError(f"bad range offset={offset!r} length={length!r}")
        if length > MAX_PART_BYTES:
            raise UsageError(f"length {length} is above the {MAX_PART_BYTES} bytes one read may return")
        return self._bytes(self._get(artifact_id))[offset:offset + length]

    def info(self, artifact_id: str) -> ArtifactInfo:
        return self._info(self._get(artifact_id))

    def list(self, *, name: str | None = None, tag: str | None = None, run_id: str | None = None,
             node_id: str | None = None, media_type: str | None = None, limit: int = 100,
             offset: int = 0) -> builtins.list[ArtifactInfo]:
        import fnmatch

        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= 100_000:
            raise UsageError(f"limit must be an integer from 1 to 100000, not {limit!r}")
        if not isinstance(offset, int) or offset < 0:
            raise UsageError(f"offset must be a non-negative integer, not {offset!r}")
        out = []
        for art in self._artifacts.values():
            i = art.info
            if name is not None and not (fnmatch.fnmatchcase(i.name, name) if any(c in name for c in "*?[")
                                         else i.name == name):
                continue
            if tag is not None and tag not in art.tags:
                continue
            if (run_id is not None and i.run_id != run_id) or (node_id is not None and i.node_id != node_id):
                continue
            if media_type is not None and not (i.media_type.startswith(media_type[:-1]) if media_type.endswith("/*")
                                               else i.media_type == media_type):
                continue
            out.append(self._info(art))
        out.sort(key=lambda i: (-i.created, i.artifact_id))
        return out[offset:offset + limit]

    def lineage(self, artifact_id: str, *, direction: Direction = "ancestors",
                max_depth: int | None = None) -> builtins.list[LineageEntry]:
        if direction not in ("ancestors", "descendants"):
            raise UsageError(f"direction must be 'ancestors' or 'descendants', not {direction!r}")
        if max_depth is not None and (not isinstance(max_depth, int) or max_depth < 1):
            raise UsageError(f"max_depth must be a positive integer, not {max_depth!r}")
        self._get(artifact_id)
        near, far = (0, 1) if direction == "ancestors" else (1, 0)
        seen, frontier, depth, out = {artifact_id}, [artifact_id], 0, []
        while frontier and (max_depth is None or depth < max_depth):
            depth += 1
            wanted = set(frontier)
            nxt = sorted({e[far] for e in self._edges if e[near] in wanted} - seen)
            seen.update(nxt)
            for aid in nxt:
                i = self._artifacts[aid].info
                out.append(LineageEntry(ArtifactId(aid), depth, i.name, i.media_type, i.run_id, i.node_id))
            frontier = nxt
        return out

    def delete(self, artifact_id: str, *, force: bool = False) -> DeleteReport:
        art = self._get(artifact_id)
        children = tuple(sorted(ArtifactId(c) for c, p in self._edges if p == artifact_id))
        if children and not force:
            raise ConflictError(f"artifact {artifact_id} is a parent of {len(children)} other artifact(s); "
                                "delete them first or pass force=True", artifact_id=artifact_id,
                                dependents=list(children))
        self._edges = {e for e in self._edges if artifact_id not in e}
        del self._artifacts[artifact_id]
        self._contents[bytes.fromhex(art.info.digest)].refs -= 1
        return DeleteReport(ArtifactId(artifact_id), bool(force and children), children if force else ())

    def search(self, query: str, *, media_type: str | None = None, tag: str | None = None,
               run_id: str | None = None, limit: int = 10) -> builtins.list[SearchHit]:
        if not isinstance(query, str) or not query.strip():
            raise UsageError("search query must be a non-empty string")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= 1000:
            raise UsageError(f"limit must be an integer from 1 to 1000, not {limit!r}")
        terms = {w.lower() for w in _WORD.findall(query)} - {"and", "or", "not"}
        scored = []
        for art in self._artifacts.values():
            i = art.info
            if media_type is not None and not (i.media_type.startswith(media_type[:-1]) if media_type.endswith("/*")
                                               else i.media_type == media_type):
                continue
            if (tag is not None and tag not in art.tags) or (run_id is not None and i.run_id != run_id):
                continue
            meta = " ".join(x for x in (i.name, *sorted(art.tags), i.media_type, i.run_id, i.node_id) if x)
            words = [w.lower() for w in _WORD.findall(meta)] * 2
            if is_text_media_type(i.media_type):
                data = self._contents[bytes.fromhex(i.digest)].data
                words += [w.lower() for w in _WORD.findall(data.decode("utf-8", errors="replace"))]
            score = sum(1 for w in words if w in terms)
            if score:
                scored.append((score / (1 + len(words)) ** 0.5, i.artifact_id))
        scored.sort(key=lambda s: (-s[0], s[1]))
        out = []
        for score, aid in scored[:limit]:
            info = self._info(self._artifacts[aid])
            out.append(SearchHit(aid, float(score), info.name, info.media_type, info.size, info.tags, info.run_id,
                                 info.node_id))
        return out

    def verify(self, artifact_id: str | None = None) -> VerifyReport:
        arts = [self._get(artifact_id)] if artifact_id is not None else builtins.list(self._artifacts.values())
        problems, checked = [], 0
        for art in arts:
            try:
                checked += len(self._bytes(art))
            except IntegrityError as exc:
                problems.append(IntegrityProblem(art.info.artifact_id, art.info.digest, exc.message))
        return VerifyReport(len(arts), len({a.info.digest for a in arts}), checked, tuple(problems))

    def gc(self) -> GcReport:
        dead = [d for d, c in self._contents.items() if c.refs <= 0]
        freed = sum(len(self._contents.pop(d).data) for d in dead)
        return GcReport(len(dead), freed, 0)

    def stats(self) -> StoreStats:
        live = [c for c in self._contents.values() if c.refs > 0]
        unique = sum(len(c.data) for c in live)
        garbage = sum(len(c.data) for c in self._contents.values() if c.refs <= 0)
        return StoreStats(len(self._artifacts), len(live), sum(a.info.size for a in self._artifacts.values()),
                          unique, unique, garbage)
