"""Field-weighted extension search with prefix and typo tolerance.

Two engines implement :class:`SearchIndex`:

* :class:`TantivyIndex` (default, needs the optional ``search`` extra): block-max WAND top-k over
  BM25, field boosts, prefix and fuzzy (Levenshtein automaton) term queries. Measured on the
  20,000-entry corpus: see ``docs/perf-notes/registry.md``; it is the one that meets p99 <= 5 ms.
* :class:`SqliteIndex` (fallback when tantivy is not installed): SQLite FTS5 with ``bm25`` column
  weights, ``term*`` prefixes, and a trigram/edit-distance layer over the FTS vocabulary for typos.
  It must rank every match, so common words are several times slower.

Weights (following Open VSX's boosts): exact id or name x10, name words x5, keywords x3, id words x3,
description x1; prefix matches x2 (name) / x1 (keywords, description x0.5); typo matches x1.5 / x0.75 /
x0.4. Filters: extension ``type`` and a requested ``permission`` (a kind such as ``net.connect`` or a
full permission string).
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from symphony_actors.domain.errors import ConfigError, UsageError

__all__ = [
    "SearchEntry",
    "SearchHit",
    "SearchIndex",
    "SqliteIndex",
    "TantivyIndex",
    "corpus_entries",
    "create_index",
    "edit_distance",
    "tantivy_available",
    "tokens",
]

MAX_QUERY_TERMS = 8
MAX_QUERY_LENGTH = 256
MAX_LIMIT = 1000
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class SearchEntry:
    """What the index knows of one extension."""

    id: str
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    type: str = ""
    permissions: tuple[str, ...] = ()
    version: str = ""


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    name: str
    type: str
    version: str
    description: str
    score: float
    permissions: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type, "version": self.version,
                "description": self.description, "score": round(self.score, 4),
                "permissions": list(self.permissions)}


class SearchIndex(Protocol):
    """A rebuildable in-memory search index over extension entries."""

    engine: str

    def build(self, entries: Iterable[SearchEntry]) -> int:
        """Replace the contents with ``entries``; returns how many were indexed."""

    def search(self, query: str, *, type: str | None = None, permission: str | None = None,
               limit: int = 20) -> list[SearchHit]:
        """Best matches first; an empty query lists entries matching the filters by id."""

    def __len__(self) -> int: ...


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric words, as the engines split them."""
    return _TOKEN.findall(text.lower())


def _filter_values(perms: Sequence[str]) -> list[str]:
    out: set[str] = set()
    for p in perms:
        out.add(p)
        out.add(p.partition(":")[0])
    return sorted(out)


def _check(query: str, limit: int) -> tuple[str, int]:
    if not isinstance(query, str):
        raise UsageError("a search query is a string")
    if len(query) > MAX_QUERY_LENGTH:
        raise UsageError(f"search query is {len(query)} characters; at most {MAX_QUERY_LENGTH}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"limit must be an integer in 1-{MAX_LIMIT}")
    return query.strip().lower(), limit


def _typo_distance(term: str) -> int:
    """Edits tolerated: none under 4 letters, 1 up to 9, 2 from 10 (as most search engines do)."""
    return 0 if len(term) < 4 else 1 if len(term) < 10 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau (optimal string alignment) distance, or ``limit + 1`` as soon as it must exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


# --------------------------------------------------------------------------- tantivy


def tantivy_available() -> bool:
    try:
        import tantivy  # noqa: F401
    except ImportError:
        return False
    return True


class TantivyIndex:
    """tantivy in memory (rebuilt from the registry in milliseconds; nothing to keep in sync on disk)."""

    engine = "tantivy"
    _EXACT = 10.0
    _FIELDS = (("name", 5.0), ("keywords", 3.0), ("id_words", 3.0), ("description", 1.0))  # exact-word boosts
    # Prefix and typo queries build one automaton per field: they run on two fields only, "title" (name,
    # keywords and id words together) and "description", which halved the typo p99 (perf/registry.py).
    _LOOSE = (("title", 2.0, 1.5), ("description", 0.5, 0.4))  # field, prefix boost, typo boost

    def __init__(self) -> None:
        import tantivy

        self._t = tantivy
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
        sb.add_text_field("name_exact", tokenizer_name="raw", index_option="basic")
        sb.add_text_field("id_words")
        sb.add_text_field("name")
        sb.add_text_field("keywords")
        sb.add_text_field("description")
        sb.add_text_field("title")
        sb.add_text_field("type", tokenizer_name="raw", index_option="basic")
        sb.add_text_field("perm", tokenizer_name="raw", index_option="basic")
        self._schema = sb.build()
        self._entries: dict[str, SearchEntry] = {}
        self._index = tantivy.Index(self._schema)
        self._searcher = self._index.searcher()

    def __len__(self) -> int:
        return len(self._entries)

    def build(self, entries: Iterable[SearchEntry]) -> int:
        t = self._t
        self._entries = {}
        self._index = t.Index(self._schema)
        writer = self._index.writer(heap_size=50_000_000, num_threads=1)
        for e in entries:
            if e.id in self._entries:
                continue
            self._entries[e.id] = e
            doc = t.Document()
            doc.add_text("id", e.id)
            doc.add_text("name_exact", e.name.lower())
            doc.add_text("id_words", e.id.replace(".", " "))
            doc.add_text("name", e.name)
            doc.add_text("keywords", " ".join(e.keywords))
            doc.add_text("description", e.description)
            doc.add_text("title", " ".join((e.name, " ".join(e.keywords), e.id.replace(".", " "))))
            doc.add_text("type", e.type)
            for p in _filter_values(e.permissions):
                doc.add_text("perm", p)
            writer.add_document(doc)
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._searcher = self._index.searcher()
        return len(self._entries)

    def search(self, query: str, *, type: str | None = None, permission: str | None = None,
               limit: int = 20) -> list[SearchHit]:
        text, limit = _check(query, limit)
        t = self._t
        Q, Occur, schema = t.Query, t.Occur, self._schema
        must: list[Any] = []
        if type:
            must.append((Occur.Must, Q.term_query(schema, "type", type)))
        if permission:
            must.append((Occur.Must, Q.term_query(schema, "perm", permission)))
        words = tokens(text)[:MAX_QUERY_TERMS]
        if not words:
            return [] if text else self._list(type, permission, limit)
        should: list[Any] = [
            (Occur.Should, Q.boost_query(Q.term_query(schema, "id", text), self._EXACT * 2)),
            (Occur.Should, Q.boost_query(Q.term_query(schema, "name_exact", text), self._EXACT)),
        ]
        last = len(words) - 1
        for i, w in enumerate(words):
            for fname, boost in self._FIELDS:
                should.append((Occur.Should, Q.boost_query(Q.term_query(schema, fname, w), boost)))
            dist = _typo_distance(w)
            # A word the index knows is taken as meant: no typo automaton for it. Typos of real words
            # rarely form other real words, and this keeps rare-word queries as fast as common ones.
            if dist and any(self._searcher.doc_freq(f, w) for f in ("title", "description")):
                dist = 0
            for fname, prefix, typo in self._LOOSE:
                if i == last and len(w) >= 2:
                    should.append((Occur.Should, Q.boost_query(
                        Q.fuzzy_term_query(schema, fname, w, distance=0, prefix=True), prefix)))
                if dist:
                    # Distance 2 over the large description dictionary costs ~1.5 ms; titles keep it.
                    d = 1 if fname == "description" else dist
                    should.append((Occur.Should, Q.boost_query(
                        Q.fuzzy_term_query(schema, fname, w, distance=d), typo)))
        q = Q.boolean_query([*must, (Occur.Must, Q.boolean_query(should))]) if must else Q.boolean_query(should)
        result = self._searcher.search(q, limit, count=False)
        return [self._hit(addr, float(score)) for score, addr in result.hits]

    def _list(self, type: str | None, permission: str | None, limit: int) -> list[SearchHit]:
        """An empty query: every entry passing the filters, by id."""
        out = []
        for ext_id in sorted(self._entries):
            e = self._entries[ext_id]
            if (type and e.type != type) or (permission and permission not in _filter_values(e.permissions)):
                continue
            out.append(SearchHit(e.id, e.name, e.type, e.version, e.description, 0.0, e.permissions))
            if len(out) >= limit:
                break
        return out

    def _hit(self, addr: Any, score: float) -> SearchHit:
        ext_id = self._searcher.doc(addr)["id"][0]
        e = self._entries[ext_id]
        return SearchHit(e.id, e.name, e.type, e.version, e.description, score, e.permissions)


# --------------------------------------------------------------------------- SQLite FTS5


class SqliteIndex:
    """SQLite FTS5 in memory with bm25 field weights, prefix queries and a trigram typo layer."""

    engine = "sqlite-fts5"

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._entries: list[SearchEntry] = []
        self._vocab: set[str] = set()
        self._trigrams: dict[str, set[str]] = {}
        self._create()

    def _create(self) -> None:
        self._db.executescript("""
            DROP TABLE IF EXISTS fts; DROP TABLE IF EXISTS meta; DROP TABLE IF EXISTS vocab;
            CREATE VIRTUAL TABLE fts USING fts5(id, name, keywords, description, id_words,
                tokenize = 'unicode61 remove_diacritics 2 tokenchars ''''', prefix = '2 3');
            CREATE TABLE meta(rowid INTEGER PRIMARY KEY, type TEXT, perms TEXT);
            CREATE VIRTUAL TABLE vocab USING fts5vocab(fts, 'row');
        """)

    def __len__(self) -> int:
        return len(self._entries)

    def build(self, entries: Iterable[SearchEntry]) -> int:
        self._create()
        seen: set[str] = set()
        self._entries = []
        for e in entries:
            if e.id not in seen:
                seen.add(e.id)
                self._entries.append(e)
        with self._db:
            self._db.executemany(
                "INSERT INTO fts(rowid, id, name, keywords, description, id_words) VALUES (?, ?, ?, ?, ?, ?)",
                [(i, e.id, e.name, " ".join(e.keywords), e.description, e.id.replace(".", " "))
                 for i, e in enumerate(self._entries)])
            self._db.executemany("INSERT INTO meta(rowid, type, perms) VALUES (?, ?, ?)",
                                 [(i, e.type, " " + " ".join(_filter_values(e.permissions)) + " ")
                                  for i, e in enumerate(self._entries)])
        self._vocab = {row[0] for row in self._db.execute("SELECT term FROM vocab")}
        self._trigrams = {}
        for term in self._vocab:
            for g in _grams(term):
                self._trigrams.setdefault(g, set()).add(term)
        return len(self._entries)

    def _typo_variants(self, word: str) -> list[str]:
        dist = _typo_distance(word)
        if not dist:
            return []
        grams = _grams(word)
        counts: dict[str, int] = {}
        for g in grams:
            for term in self._trigrams.get(g, ()):
                counts[term] = counts.get(term, 0) + 1
        # Each edit destroys at most 3 trigrams: a candidate must share the rest.
        need = max(1, len(grams) - 3 * dist)
        return sorted(t for t, n in counts.items()
                      if n >= need and t != word and edit_distance(word, t, dist) <= dist)[:16]

    def search(self, query: str, *, type: str | None = None, permission: str | None = None,
               limit: int = 20) -> list[SearchHit]:
        text, limit = _check(query, limit)
        words = tokens(text)[:MAX_QUERY_TERMS]
        where, args = [], []
        if type:
            where.append("meta.type = ?")
            args.append(type)
        if permission:
            where.append("instr(meta.perms, ?) > 0")
            args.append(f" {permission} ")
        if not words:
            if text:
                return []
            sql = "SELECT rowid FROM meta" + (" WHERE " + " AND ".join(where) if where else "")
            rows = [r[0] for r in self._db.execute(sql, args)]
            return sorted((self._hit(r, 0.0) for r in rows), key=lambda h: h.id)[:limit]
        parts: list[str] = []
        for i, w in enumerate(words):
            # Typo variants only for words absent from the vocabulary: FTS5 cannot weight them below exact hits.
            alts = [f'"{w}"'] + ([] if w in self._vocab else [f'"{v}"' for v in self._typo_variants(w)])
            if i == len(words) - 1 and len(w) >= 2:
                alts.append(f'"{w}"*')
            parts.append("(" + " OR ".join(alts) + ")")
        match = " OR ".join(parts)
        sql = ("SELECT fts.rowid, bm25(fts, 10.0, 5.0, 3.0, 1.0, 3.0) AS rank FROM fts JOIN meta "
               "ON meta.rowid = fts.rowid WHERE fts MATCH ?" + "".join(f" AND {w}" for w in where)
               + " ORDER BY rank LIMIT ?")
        rows = self._db.execute(sql, [match, *args, limit * 2]).fetchall()
        hits = []
        for rowid, rank in rows:
            e = self._entries[rowid]
            bonus = 50.0 if text in (e.id, e.name.lower()) else 0.0
            hits.append(self._hit(rowid, -float(rank) + bonus))
        hits.sort(key=lambda h: -h.score)
        return hits[:limit]

    def _hit(self, rowid: int, score: float) -> SearchHit:
        e = self._entries[rowid]
        return SearchHit(e.id, e.name, e.type, e.version, e.description, score, e.permissions)


def _grams(word: str) -> set[str]:
    padded = f"^{word}$"
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def create_index(engine: str = "auto") -> SearchIndex:
    """``auto`` picks tantivy when installed, else SQLite FTS5; ``tantivy`` or ``sqlite`` force one."""
    if engine == "auto":
        engine = "tantivy" if tantivy_available() else "sqlite"
    if engine == "tantivy":
        if not tantivy_available():
            raise ConfigError("search engine 'tantivy' is not installed: pip install 'symphony-actors[search]'")
        return TantivyIndex()
    if engine in ("sqlite", "sqlite-fts5"):
        return SqliteIndex()
    raise ConfigError(f"unknown search engine {engine!r}: use auto, tantivy or sqlite")


def corpus_entries(path: str | Path) -> list[SearchEntry]:
    """Entries from a ``name<TAB>version<TAB>summary`` file (the shared 20,000-package corpus).

    Ids become ``pypi.<name>``; the type is spread over the three extension types by a stable hash so that
    type filters have something to filter.
    """
    types = ("instrument", "operator", "addon")
    out: list[SearchEntry] = []
    with Path(path).open(encoding="utf-8") as fh:
        header = fh.readline()
        if not header.startswith("name\t"):
            raise UsageError(f"{path}: expected a 'name<TAB>version<TAB>summary' header")
        for line in fh:
            name, _, rest = line.rstrip("\n").partition("\t")
            version, _, summary = rest.partition("\t")
            if not name:
                continue
            slug = re.sub(r"[^a-z0-9_-]+", "-", name.lower())
            out.append(SearchEntry(id=f"pypi.{slug}", name=name, description=summary,
                                   type=types[zlib.crc32(name.encode()) % 3], version=version))
    return out
