"""Extension registry benchmark: search latency over 20,000 entries, index build, install-to-answering load.

    python perf/registry.py [--quick]

* ``search_p50_ms`` / ``search_p99_ms``: tantivy (the chosen engine) over ``../shared/data/registry-corpus.tsv``,
  mixed queries drawn from the corpus with a fixed seed: common words, rare words, two-word queries,
  prefixes (3-5 letters of a name word) and typos (one edit in a name word of 5+ letters).
* ``index_build_s``: building that index from the 20,000 entries.
* ``load_ms_p50``: ``Registry.install`` of the summariser (folder copy, manifest, resolve against the installed
  hash embedder) -> load plan -> both extensions imported, registered, set up and activated in-process ->
  first ``infer`` answered.
* ``load_actor_ms_p50``: the same through a real actor system: ``install`` of the summariser on the extension
  host -> ``activate`` (plan, grants, ``ext:`` actors started under the ``extensions`` supervisor in dependency
  order, each with its zygote and confined worker, the extension loaded inside it) -> first ``infer`` answered
  through the host. Unload and remove between iterations.
* Baselines in the same run: SQLite FTS5 + trigram typo layer (``sqlite_search_*``), and recall of the
  intended entry in the top 10 for prefix and typo queries (quality, higher is better).
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _harness import Bench, median, percentile

from symphony_actors.extension_host.inprocess import LoadedExtension, load_extension
from symphony_actors.extension_host.manifest import load_manifest
from symphony_actors.extension_host.permissions import AccessGuard, AuditLog, GrantSet
from symphony_actors.extension_host.plan import plan_load
from symphony_actors.extension_host.registry import Registry
from symphony_actors.extension_host.search import SearchEntry, SearchIndex, corpus_entries, create_index, tokens
from symphony_actors.sdk import GuardedContext

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "data" / "registry-corpus.tsv"
EXTENSIONS = REPO / "extensions"


def make_queries(entries: list[SearchEntry], n: int, seed: int = 7) -> list[tuple[str, str, str | None]]:
    """(kind, query, id of the entry the query was made from, if any)."""
    rng = random.Random(seed)
    df: Counter[str] = Counter()
    for e in entries:
        df.update(set(tokens(f"{e.name} {e.description}")))
    common = [w for w, _ in df.most_common(80) if len(w) > 2]
    rare = sorted(w for w, c in df.items() if c <= 2 and len(w) >= 5 and w.isalpha())
    out: list[tuple[str, str, str | None]] = []
    per = max(1, n // 5)
    for _ in range(per):
        out.append(("common", rng.choice(common), None))
        out.append(("rare", rng.choice(rare), None))
        out.append(("two-words", f"{rng.choice(common)} {rng.choice(common)}", None))
        e = rng.choice([x for x in entries if any(len(t) >= 4 and t.isalpha() for t in tokens(x.name))])
        w = rng.choice([t for t in tokens(e.name) if len(t) >= 4 and t.isalpha()])
        out.append(("prefix", w[:rng.randint(3, min(5, len(w)))], e.id))
        e = rng.choice([x for x in entries if any(len(t) >= 5 and t.isalpha() for t in tokens(x.name))])
        w = rng.choice([t for t in tokens(e.name) if len(t) >= 5 and t.isalpha()])
        out.append(("typo", typo(w, rng), e.id))
    return out


def typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "sub"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if kind == "drop":
        return word[:i] + word[i + 1:]
    return word[:i] + rng.choice("aeioustrnl") + word[i + 1:]


def measure(index: SearchIndex, queries: list[tuple[str, str, str | None]], rounds: int
            ) -> tuple[list[float], dict[str, float], list[float]]:
    """Wall-clock latencies, recall@10 per query kind, and CPU time of this thread per search.

    On a shared 2-core machine the wall-clock tail includes time the thread waited for a core; the CPU
    figure is the engine's own cost.
    """
    lat: list[float] = []
    cpu: list[float] = []
    found: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    for _, warm, _ in queries[:50]:
        index.search(warm, limit=10)
    for r in range(rounds):
        for kind, q, target in queries:
            c0, t0 = time.thread_time(), time.perf_counter()
            hits = index.search(q, limit=10)
            lat.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            if r == 0 and target is not None:
                asked[kind] += 1
                found[kind] += any(h.id == target for h in hits)
    return lat, {k: found[k] / asked[k] for k in asked}, cpu


def bench_load(iterations: int) -> list[float]:
    times: list[float] = []
    for _ in range(iterations):
        root = Path(tempfile.mkdtemp(prefix="symphony-perf-load-"))
        registry = Registry(root)
        loaded: list[LoadedExtension] = []
        try:
            registry.install(EXTENSIONS / "hash-embed")
            audit = AuditLog(root / "audit.jsonl")
            t0 = time.perf_counter()
            registry.install(EXTENSIONS / "summarise")
            by_id: dict[str, LoadedExtension] = {}

            def use_model(name: str, inputs: object, params: object, _by_id: dict[str, LoadedExtension] = by_id
                          ) -> dict[str, object]:
                return dict(_by_id[name].call("infer", {"inputs": inputs, "params": params}))

            for step in plan_load(registry, "symphony.summarise"):
                ctx = GuardedContext(AccessGuard(GrantSet(step.id, step.granted, step.variables), audit),
                                     use_model=use_model)
                ext = load_extension(step.path, load_manifest(step.path), ctx)
                ext.activate()
                by_id[step.id] = ext
                loaded.append(ext)
            reply = by_id["symphony.summarise"].call(
                "infer", {"inputs": {"text": "Actors isolate state. Supervisors restart them. Messages are cheap."},
                          "params": {"sentences": 1}})
            times.append((time.perf_counter() - t0) * 1000)
            assert reply["summary"], reply
        finally:
            for ext in reversed(loaded):
                ext.unload()
            registry.close()
            shutil.rmtree(root, ignore_errors=True)
    return times


def bench_actor_load(iterations: int) -> tuple[list[float], list[float]]:
    """(install -> answering through the actors, of which the activate step alone), one system for all runs."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from symphony_actors.client import Client
    from symphony_actors.extension_host.service import ExtensionPortClient
    from symphony_actors.runtime.system import boot
    from symphony_actors.testing.trees import extensions_tree
    from tests.integration.conftest import free_port

    root = Path(tempfile.mkdtemp(prefix="symphony-perf-actor-load-"))
    system = boot(extensions_tree({"executors": 1}), free_port(), root / "data")
    times: list[float] = []
    activate: list[float] = []
    try:
        with Client(system.port, timeout=60) as client:
            port = ExtensionPortClient(client)
            for _ in range(iterations):
                port.install(str(EXTENSIONS / "hash-embed"))
                t0 = time.perf_counter()
                port.install(str(EXTENSIONS / "summarise"))
                t1 = time.perf_counter()
                port.activate("symphony.summarise")
                t2 = time.perf_counter()
                reply = port.send("symphony.summarise", "infer", {
                    "inputs": {"text": "Actors isolate state. Supervisors restart them. Messages are cheap."},
                    "params": {"sentences": 1}})
                times.append((time.perf_counter() - t0) * 1000)
                activate.append((t2 - t1) * 1000)
                assert reply["summary"], reply
                port.unload("symphony.summarise")
                port.unload("symphony.hash-embed")
                port.remove("symphony.summarise")
                port.remove("symphony.hash-embed")
    finally:
        system.stop()
        shutil.rmtree(root, ignore_errors=True)
    return times, activate


def main() -> int:
    bench = Bench("registry", description=__doc__)
    if not CORPUS.is_file():
        print(f"corpus not found: {CORPUS}", file=sys.stderr)
        return 1
    entries = corpus_entries(CORPUS)
    queries = make_queries(entries, 500 if bench.quick else 2000)
    rounds = 1 if bench.quick else 3

    index = create_index("tantivy")
    t0 = time.perf_counter()
    index.build(entries)
    bench.record("index_build_s", time.perf_counter() - t0, goal=None, unit="s", note=f"{len(entries)} entries")
    lat, recall, cpu = measure(index, queries, rounds)
    bench.record("search_p50_ms", percentile(lat, 50), goal=None, unit="ms", note="tantivy, mixed queries")
    bench.record("search_p99_ms", percentile(lat, 99), goal=5, unit="ms", note=f"{len(lat)} searches")
    bench.record("search_cpu_p99_ms", percentile(cpu, 99), unit="ms", note="thread CPU time, without waits")
    for kind in ("prefix", "typo"):
        bench.record(f"{kind}_recall_at_10", recall.get(kind, float("nan")), unit="ratio", better="higher",
                     note="tantivy")
    by_kind: dict[str, list[float]] = {}
    for (kind, _, _), ms in zip(queries * rounds, lat, strict=True):
        by_kind.setdefault(kind, []).append(ms)
    for kind, values in sorted(by_kind.items()):
        bench.record(f"search_{kind.replace('-', '_')}_p99_ms", percentile(values, 99), unit="ms")

    sqlite = create_index("sqlite")
    t0 = time.perf_counter()
    sqlite.build(entries)
    bench.record("sqlite_index_build_s", time.perf_counter() - t0, unit="s", note="baseline: FTS5 + trigrams")
    slat, srecall, _ = measure(sqlite, queries, 1)
    bench.record("sqlite_search_p50_ms", percentile(slat, 50), unit="ms", note="baseline")
    bench.record("sqlite_search_p99_ms", percentile(slat, 99), unit="ms", note="baseline")
    for kind in ("prefix", "typo"):
        bench.record(f"sqlite_{kind}_recall_at_10", srecall.get(kind, float("nan")), unit="ratio", better="higher",
                     note="baseline")

    load = bench_load(10 if bench.quick else 40)
    bench.record("load_ms_p50", median(load), goal=100, unit="ms",
                 note="install + resolve + in-process load of 2 extensions + first answer")
    bench.record("load_ms_p99", percentile(load, 99), unit="ms")
    actor_load, activate = bench_actor_load(5 if bench.quick else 20)
    bench.record("load_actor_ms_p50", median(actor_load), goal=100, unit="ms",
                 note="install + resolve + 2 sandboxed extension actors started and activated + first answer")
    bench.record("load_actor_ms_p99", percentile(actor_load, 99), unit="ms")
    bench.record("load_actor_activate_ms_p50", median(activate), unit="ms",
                 note="of which activate: 2 actors, 2 zygotes, 2 confined workers, in dependency order")
    bench.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
