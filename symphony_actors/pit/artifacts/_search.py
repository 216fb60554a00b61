"""The full-text index of the artifact store (tantivy), derived from SQLite and rebuilt from it at will.

Why tantivy and not SQLite FTS5: on 100,000 ~1 KiB documents FTS5 must score every
match with bm25 (p99 ~123 ms measured here), tantivy's block-max WAND top-k answers
in ~1 ms; the goal is 10 ms. ``perf/artifacts.py`` measures both in the same run.

The index holds only the artifact id (stored) and searchable fields; SQLite stays the
truth. Writes reach the index through the store's ``index_queue`` table, so a crash
between a SQLite commit and an index commit only delays indexing (the queue replays,
and each replay deletes the id before adding it again).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import BusyError, StorageError, UsageError

__all__ = ["IndexDoc", "SearchIndex"]

SCHEMA_VERSION = "2"
_WRITER_HEAP = 32_000_000


@dataclass(frozen=True, slots=True)
class IndexDoc:
    artifact_id: str
    meta: str
    content: str
    media_type: str
    tags: tuple[str, ...]
    run_id: str | None


def _tantivy() -> Any:
    try:
        import tantivy
    except ImportError as exc:  # an optional dependency: say how to get it
        raise StorageError("full-text search needs tantivy: pip install 'symphony-actors[search]'") from exc
    return tantivy


class SearchIndex:
    """A tantivy index in ``path``; opened lazily, recreated empty when missing or unreadable."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: Any = None
        self._schema: Any = None
        self.created_fresh = False

    # ------------------------------------------------------------------ opening
    def _build_schema(self, tv: Any) -> Any:
        sb = tv.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw")
        sb.add_text_field("meta", stored=False, tokenizer_name="en_stem")
        sb.add_text_field("content", stored=False, tokenizer_name="en_stem")
        sb.add_text_field("media_type", tokenizer_name="raw")
        sb.add_text_field("media_major", tokenizer_name="raw")
        sb.add_text_field("tag", tokenizer_name="raw")
        sb.add_text_field("run_id", tokenizer_name="raw")
        return sb.build()

    def open(self) -> Any:
        if self._index is not None:
            return self._index
        tv = _tantivy()
        self._schema = self._build_schema(tv)
        marker = self.path / "symphony-schema"
        fresh = not marker.exists() or marker.read_text().strip() != SCHEMA_VERSION
        if not fresh:
            try:
                self._index = tv.Index(self._schema, path=str(self.path), reuse=True)
            except (ValueError, OSError):  # unreadable or incompatible: the index is derived, rebuild it
                fresh = True
        if fresh:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path.mkdir(parents=True, exist_ok=True)
            self._index = tv.Index(self._schema, path=str(self.path), reuse=False)
            marker.write_text(SCHEMA_VERSION + "\n")
            self.created_fresh = True
        return self._index

    def close(self) -> None:
        self._index = None

    # ------------------------------------------------------------------ writing
    def apply(self, removals: Iterable[str], docs: Iterable[IndexDoc]) -> None:
        """Delete ``removals`` and (re)add ``docs`` in one commit.

        Raises ``BusyError`` if another process holds the index writer (try again later).
        """
        tv = _tantivy()
        index = self.open()
        try:
            writer = index.writer(_WRITER_HEAP, 1)
        except (ValueError, OSError) as exc:
            raise BusyError(f"search index {self.path} is being written by another process: {exc}") from exc
        for artifact_id in removals:
            writer.delete_documents_by_term("id", artifact_id)
        for d in docs:
            writer.delete_documents_by_term("id", d.artifact_id)
            doc = tv.Document(id=d.artifact_id, meta=d.meta, content=d.content, media_type=d.media_type,
                              media_major=d.media_type.split("/", 1)[0] + "/*", tag=list(d.tags))
            if d.run_id is not None:
                doc.add_text("run_id", d.run_id)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()  # also releases the writer lock
        index.reload()

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        self._index = None
        self.open()

    # ------------------------------------------------------------------ reading
    def search(self, query: str, *, media_type: str | None, tag: str | None, run_id: str | None,
               limit: int) -> list[tuple[str, float]]:
        """``(artifact_id, score)`` best first."""
        tv = _tantivy()
        index = self.open()
        try:
            parsed = index.parse_query(query, ["meta", "content"], field_boosts={"meta": 2.0})
        except ValueError as exc:
            raise UsageError(f"bad search query {query!r}: {exc}", query=query) from exc
        index.reload()
        searcher = index.searcher()
        filters = []
        for field, value in (("media_major" if media_type and media_type.endswith("/*") else "media_type", media_type),
                             ("tag", tag), ("run_id", run_id)):
            # A filter every document passes (text/* over text) only slows the intersection: drop it.
            if value is not None and searcher.doc_freq(field, value) < searcher.num_docs:
                filters.append(tv.Query.term_query(self._schema, field, value))
        if filters:  # filters select, they do not score: ranking stays BM25 of the text alone
            parsed = tv.Query.boolean_query([(tv.Occur.Must, parsed)] + [
                (tv.Occur.Must, tv.Query.const_score_query(q, 0.0)) for q in filters])
        result = searcher.search(parsed, limit, count=False)
        return [(searcher.doc(addr)["id"][0], float(score)) for score, addr in result.hits]
