"""Artifact store: store/retrieve latency, dedup on real source trees, search latency.

    python perf/artifacts.py [--quick] [--docs N]

* ``store_p50_ms`` ... ``retrieve_p99_ms``: in-process ``ArtifactStore`` on a fresh data
  directory, artifacts of 1, 4, 16, 64 and 256 KiB in equal numbers (so p50 falls at
  16 KiB and p99 among the 256 KiB ones), made of random lines of Python source (unique
  content, realistic ~3x compressibility); retrieve in random order.
* ``dedup_saving_pct``: the standard libraries of Python 3.10-3.13 from pyenv, each file of
  each version its own artifact, all in one store: 1 - unique/logical bytes (dedup only; with
  zstd: ``total_saving_pct``). The source tree leaves out ``__pycache__`` (compiled caches),
  ``site-packages`` (third-party) and the build outputs ``config-*/`` and ``lib-dynload/``; the
  full run also reports the figure with build outputs included.
* ``search_p50_ms``/``search_p99_ms``: ``ArtifactStore.search`` (tantivy, limit 10, hits
  resolved to metadata in SQLite) over N ~1 KiB text documents (100,000; ``--quick``
  10,000), a mix of common, rare, two-word, phrase and filtered queries.
  ``baseline_fts5_search_p99_ms``: the same documents and queries in SQLite FTS5 + bm25.
"""

from __future__ import annotations

import glob
import os
import random
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from _harness import Bench, median, percentile

from symphony_actors.pit.artifacts.store import ArtifactStore

SIZES_KIB = (1, 4, 16, 64, 256)


def pyenv_root() -> Path:
    try:
        return Path(subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def stdlib_dirs() -> list[tuple[str, Path]]:
    out = []
    for minor in (10, 11, 12, 13):
        found = sorted(glob.glob(str(pyenv_root() / "versions" / f"3.{minor}.*" / "lib" / f"python3.{minor}")))
        if found:
            out.append((f"3.{minor}", Path(found[-1])))
    return out


def corpus_lines() -> list[bytes]:
    lines: list[bytes] = []
    dirs = stdlib_dirs()
    files = sorted(glob.glob(str(dirs[-1][1] / "*.py"))) if dirs else [__file__]
    for f in files:
        lines.extend(Path(f).read_bytes().splitlines(keepends=True))
    return lines


def make_text(rng: random.Random, lines: list[bytes], size: int) -> bytes:
    parts, n = [], 0
    while n < size:
        line = rng.choice(lines)
        parts.append(line)
        n += len(line)
    return b"".join(parts)[:size]


def bench_latency(bench: Bench, lines: list[bytes]) -> None:
    per_size = 200 if bench.quick else 1000
    rng = random.Random(1)
    payloads = [make_text(rng, lines, kib * 1024) for kib in SIZES_KIB for _ in range(per_size)]
    rng.shuffle(payloads)
    with tempfile.TemporaryDirectory() as d, ArtifactStore.open(d) as store:
        for p in payloads[:20]:  # warm up (imports, statement cache); not counted
            store.retrieve(store.store(p, name="warm"))
        put_ms, get_ms = [], []
        by_size: dict[int, list[float]] = {}
        ids = []
        for i, p in enumerate(payloads):
            t = time.perf_counter()
            aid = store.store(p, name=f"a{i}", media_type="text/x-python")
            ms = (time.perf_counter() - t) * 1000
            put_ms.append(ms)
            by_size.setdefault(len(p), []).append(ms)
            ids.append(aid)
        order = list(range(len(ids)))
        rng.shuffle(order)
        get_by_size: dict[int, list[float]] = {}
        for i in order:
            t = time.perf_counter()
            data = store.retrieve(ids[i])
            ms = (time.perf_counter() - t) * 1000
            get_ms.append(ms)
            get_by_size.setdefault(len(data), []).append(ms)
        stats = store.stats()
    n = len(payloads)
    bench.record("store_p50_ms", percentile(put_ms, 50), goal=1, unit="ms", note=f"{n} artifacts 1-256 KiB")
    bench.record("store_p99_ms", percentile(put_ms, 99), goal=5, unit="ms")
    bench.record("retrieve_p50_ms", percentile(get_ms, 50), goal=0.3, unit="ms")
    bench.record("retrieve_p99_ms", percentile(get_ms, 99), goal=2, unit="ms")
    for kib in SIZES_KIB:
        bench.record(f"store_{kib}k_p50_ms", median(by_size[kib * 1024]), unit="ms")
        bench.record(f"retrieve_{kib}k_p50_ms", median(get_by_size[kib * 1024]), unit="ms")
    bench.record("latency_compression_ratio", stats.compression_ratio, unit="x", note="zstd-1 per chunk")


def _tree(root: Path, *, with_build: bool) -> list[Path]:
    """Files of one standard library: no ``__pycache__``/``site-packages``; build outputs only if asked."""
    out = []
    for p in root.rglob("*"):
        if not p.is_file() or p.is_symlink() or "__pycache__" in p.parts or "site-packages" in p.parts:
            continue
        top = p.relative_to(root).parts[0]
        if not with_build and (top.startswith("config-") or top == "lib-dynload"):
            continue
        out.append(p)
    return sorted(out)


def dedup_run(dirs: list[tuple[str, Path]], *, with_build: bool, bench: Bench | None) -> tuple[float, float, float]:
    """Store every version's files (each its own artifact); returns (dedup %, total saving %, MiB logical)."""
    with tempfile.TemporaryDirectory() as d, ArtifactStore.open(d) as store:
        t0 = time.perf_counter()
        for version, root in dirs:
            before = store.stats()
            files = _tree(root, with_build=with_build)
            for path in files:
                store.store_file(path, name=f"{version}/{path.relative_to(root)}")
            after = store.stats()
            added = after.logical_bytes - before.logical_bytes
            new = after.unique_bytes - before.unique_bytes
            if bench is not None:
                bench.record(f"dedup_new_bytes_pct_{version.replace('.', '_')}", 100 * new / max(1, added),
                             unit="%", note=f"{len(files)} files, {added / 2**20:.0f} MiB: share not seen before")
        s = store.stats()
        if bench is not None:
            bench.record("dedup_ingest_mib_per_s", s.logical_bytes / 2**20 / (time.perf_counter() - t0),
                         better="higher", unit="MiB/s")
    return (100 * (1 - s.unique_bytes / s.logical_bytes), 100 * (1 - s.stored_bytes / s.logical_bytes),
            s.logical_bytes / 2**20)


def bench_dedup(bench: Bench) -> None:
    dirs = stdlib_dirs()
    if len(dirs) < 2:
        bench.record("dedup_saving_pct", float("nan"), goal=30, better="higher", unit="%",
                     note="pyenv 3.10-3.13 not found")
        return
    dedup, total, mib = dedup_run(dirs, with_build=False, bench=bench)
    versions = "-".join(v for v, _ in (dirs[0], dirs[-1]))
    bench.record("dedup_saving_pct", dedup, goal=30, better="higher", unit="%",
                 note=f"stdlib {versions} source trees, {mib:.0f} MiB (no __pycache__, site-packages, build outputs)")
    bench.record("total_saving_pct", total, better="higher", unit="%", note="dedup and zstd together")
    if not bench.quick:
        dedup, total, mib = dedup_run(dirs, with_build=True, bench=None)
        bench.record("dedup_saving_with_build_outputs_pct", dedup, better="higher", unit="%",
                     note=f"{mib:.0f} MiB incl. config-*/libpython*.a and lib-dynload/*.so")


QUERIES = ["self", "return", "import os", "socket", "unicode", "threading lock", "parse arguments", "zzzqqq",
           '"raise ValueError"', "encoding AND decode", "subprocess", "datetime timezone", "def __init__"]


def bench_search(bench: Bench, lines: list[bytes]) -> None:
    n_docs = int(bench.args.docs) if bench.args.docs else (10_000 if bench.quick else 100_000)
    rng = random.Random(3)
    tags = ["alpha", "beta", "gamma", "delta"]
    docs = [make_text(rng, lines, rng.randrange(600, 1500)) for _ in range(n_docs)]
    queries = []
    for i in range(200 if bench.quick else 1000):
        q = {"query": QUERIES[i % len(QUERIES)]}
        if i % 3 == 1:
            q["tag"] = rng.choice(tags)
        elif i % 3 == 2:
            q["media_type"] = "text/*"
        queries.append(q)
    with tempfile.TemporaryDirectory() as d, ArtifactStore.open(d) as store:
        t0 = time.perf_counter()
        for i, doc in enumerate(docs):
            store.store(doc, name=f"doc{i}.py", media_type="text/x-python", tags=[tags[i % 4]], run_id=f"run-{i % 50}")
        t1 = time.perf_counter()
        store.flush_index()
        t2 = time.perf_counter()
        for q in queries[:20]:
            store.search(**q)  # type: ignore[arg-type]
        lat = []
        for q in queries:
            t = time.perf_counter()
            store.search(**q)  # type: ignore[arg-type]
            lat.append((time.perf_counter() - t) * 1000)
    bench.record("search_p50_ms", percentile(lat, 50), unit="ms", note=f"{n_docs} docs, {len(queries)} queries")
    bench.record("search_p99_ms", percentile(lat, 99), goal=10, unit="ms")
    bench.record("search_docs_stored_per_s", n_docs / (t1 - t0), better="higher", unit="docs/s")
    bench.record("search_index_docs_per_s", n_docs / (t2 - t1), better="higher", unit="docs/s")

    # Baseline: SQLite FTS5 + bm25 on the same documents and queries.
    fts_lat = []
    with tempfile.TemporaryDirectory() as d:
        con = sqlite3.connect(os.path.join(d, "fts.db"))
        con.execute("CREATE VIRTUAL TABLE docs USING fts5(name, content, tag UNINDEXED, media_type UNINDEXED)")
        con.executemany("INSERT INTO docs VALUES (?,?,?,?)",
                        [(f"doc{i}.py", doc.decode("utf-8", "replace"), tags[i % 4], "text/x-python")
                         for i, doc in enumerate(docs)])
        con.commit()
        for q in queries:
            sql = "SELECT rowid, bm25(docs) FROM docs WHERE docs MATCH ?"
            args: list[object] = [q["query"]]
            if "tag" in q:
                sql += " AND tag = ?"
                args.append(q["tag"])
            sql += " ORDER BY bm25(docs) LIMIT 10"
            t = time.perf_counter()
            con.execute(sql, args).fetchall()
            fts_lat.append((time.perf_counter() - t) * 1000)
        con.close()
    bench.record("baseline_fts5_search_p50_ms", percentile(fts_lat, 50), unit="ms", note="same docs and queries")
    bench.record("baseline_fts5_search_p99_ms", percentile(fts_lat, 99), unit="ms")


def main() -> None:
    bench = Bench("artifacts", description=__doc__)
    bench.parser.add_argument("--docs", type=int, default=0, help="documents for the search benchmark")
    bench.args, _ = bench.parser.parse_known_args()
    lines = corpus_lines()
    bench_latency(bench, lines)
    bench_dedup(bench)
    bench_search(bench, lines)
    bench.finish()


if __name__ == "__main__":
    main()
