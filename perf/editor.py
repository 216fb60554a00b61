"""Editor benchmarks: edit round trip, edits in a 10 MB buffer, restart and resynchronisation.

``python perf/editor.py [--quick]``

* ``edit_rt_p50_ms``: a client of a real system (``connect()``) -> the editor bridge actor -> the editor
  process -> update and reply back; ``edit_rt_inprocess_p50_ms`` is the same with the bridge hosted
  in-process (LocalRuntime), i.e. without the actor-system hop.
* ``edit_10mb_p99_ms``: one insert in the middle of a 10 MB buffer inside the editor (EditorCore: position
  checks, rope edit, undo entry and the update notification), with a naive ``str`` insert as baseline.
* ``restart_resync_ms``: the editor is SIGKILLed; time until a new one has every buffer restored (20 buffers
  of 10 KB with 50 unsaved edits each, plus a 1 MB file with 200 unsaved edits); ``restart_resync_10mb_ms``
  adds a 10 MB file with 100 unsaved edits.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import Bench, median, percentile

from symphony_actors.domain.text import Position
from symphony_actors.editor.bridge import EditorBridge
from symphony_actors.editor.client import TextEditingClient
from symphony_actors.editor.core import EditorCore
from symphony_actors.testing.runtime import LocalRuntime


def edit_round_trip(bench: Bench, root: Path) -> None:
    runtime = LocalRuntime(root / "rt")
    bridge = runtime.start("editor", "symphony_actors.editor.bridge:build")
    assert isinstance(bridge, EditorBridge)
    try:
        client = TextEditingClient(runtime)
        buf = client.create_buffer("fn main() {\n    println!(\"hello\");\n}\n" * 200).buffer_id
        n = 1000 if bench.quick else 10000
        for _ in range(100):  # warm up
            client.insert(buf, Position(100, 0), "x")
        samples = []
        for i in range(n):
            t = time.perf_counter()
            client.insert(buf, Position(100 + i % 400, 0), "x")
            samples.append((time.perf_counter() - t) * 1000)
        ping = []
        proc = bridge._proc
        assert proc is not None
        from symphony_actors.editor.jsonrpc import encode, request

        for i in range(n // 2):  # the bare pipe hop: one ping to the editor process and back
            t = time.perf_counter()
            proc.send(encode(request(f"p{i}", "ping")), time.monotonic() + 5)
            while True:
                msg = proc.receive(time.monotonic() + 5)
                if isinstance(msg, dict) and msg.get("id") == f"p{i}":
                    break
            ping.append((time.perf_counter() - t) * 1000)
        bench.record("edit_rt_inprocess_p50_ms", median(samples), unit="ms",
                     note=f"bridge in-process (LocalRuntime), n={n}")
        bench.record("edit_rt_inprocess_p99_ms", percentile(samples, 99), unit="ms")
        bench.record("editor_pipe_ping_p50_ms", median(ping), unit="ms", note="baseline: bridge<->editor hop")
    finally:
        runtime.close()


def edit_round_trip_actors(bench: Bench, root: Path) -> None:
    """The same edits from a client of a real system: client -> bridge actor -> editor process -> back."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from integration.conftest import free_port

    from symphony_actors.client import Client
    from symphony_actors.ports.service import ChildSpec
    from symphony_actors.runtime.system import boot
    from symphony_actors.testing.trees import flat_tree

    system = boot(flat_tree(ChildSpec("editor", "symphony_actors.editor.bridge:build")), free_port(), root / "sys")
    try:
        with Client(system.port, timeout=30) as connected:
            client = TextEditingClient(connected)
            buf = client.create_buffer("fn main() {\n    println!(\"hello\");\n}\n" * 200).buffer_id
            n = 1000 if bench.quick else 10000
            for _ in range(100):
                client.insert(buf, Position(100, 0), "x")
            samples = []
            for i in range(n):
                t = time.perf_counter()
                client.insert(buf, Position(100 + i % 400, 0), "x")
                samples.append((time.perf_counter() - t) * 1000)
        bench.record("edit_rt_p50_ms", median(samples), goal=1, unit="ms",
                     note=f"connect() client -> bridge actor -> editor process -> back, n={n}")
        bench.record("edit_rt_p99_ms", percentile(samples, 99), unit="ms")
    finally:
        system.stop()


def edit_10mb(bench: Bench) -> None:
    core = EditorCore(lambda method, params: None)
    line = "the quick brown fox jumps over the lazy dog; 0123456789 abcdefghijklmnopqrstuvwxyz!\n"
    text = line * (10 * 1024 * 1024 // len(line))
    t = time.perf_counter()
    buf = core.call("buffer.new", {"text": text})["buffer_id"]
    load_ms = (time.perf_counter() - t) * 1000
    lines = core.buffers[buf].line_count
    rng = random.Random(7)
    n = 300 if bench.quick else 3000
    samples = []
    for _ in range(n):
        pos = {"line": lines // 2 + rng.randrange(-500, 500), "character": rng.randrange(0, 40)}
        t = time.perf_counter()
        core.call("edit.insert", {"buffer_id": buf, "position": pos, "text": "typed"})
        samples.append((time.perf_counter() - t) * 1000)
    deletes = []
    for _ in range(n // 3):
        a = lines // 2 + rng.randrange(-500, 500)
        rng_ = {"start": {"line": a, "character": 0}, "end": {"line": a + 3, "character": 5}}
        t = time.perf_counter()
        core.call("edit.delete", {"buffer_id": buf, "range": rng_})
        deletes.append((time.perf_counter() - t) * 1000)
    naive = []
    s = text
    for _ in range(min(n, 100)):
        mid = len(s) // 2
        t = time.perf_counter()
        s = s[:mid] + "typed" + s[mid:]
        naive.append((time.perf_counter() - t) * 1000)
    bench.record("edit_10mb_p99_ms", percentile(samples, 99), goal=16, unit="ms", note=f"n={n}, {lines} lines")
    bench.record("edit_10mb_p50_ms", median(samples), unit="ms")
    bench.record("delete_10mb_p99_ms", percentile(deletes, 99), unit="ms", note="3-line deletions")
    bench.record("naive_str_insert_10mb_p50_ms", median(naive), unit="ms", note="baseline: plain str")
    bench.record("open_10mb_ms", load_ms, unit="ms", note="buffer.new with 10 MB of text")


def restart_resync(bench: Bench, root: Path) -> None:
    runtime = LocalRuntime(root / "rs")
    bridge = runtime.start("editor", "symphony_actors.editor.bridge:build", max_restarts=1000)
    assert isinstance(bridge, EditorBridge)
    try:
        rng = random.Random(3)
        ids = []
        for _ in range(20):
            buf = bridge.create_buffer(("lorem ipsum dolor sit amet " * 3 + "\n") * 125).buffer_id
            for _ in range(50):
                bridge.insert(buf, Position(rng.randrange(0, 125), rng.randrange(0, 20)), "edit ")
            ids.append(buf)
        big = root / "big.txt"
        big.write_text(("x" * 99 + "\n") * 10_000)
        big_id = bridge.open_buffer(str(big)).buffer_id
        for i in range(200):
            bridge.insert(big_id, Position(i * 37 % 10_000, 5), "edit ")
        ids.append(big_id)
        expected = {b: bridge.content(b) for b in ids}
        runs = 3 if bench.quick else 10
        samples = []
        for _ in range(runs):
            pid = bridge.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            t = time.perf_counter()
            bridge.info(ids[0])  # notices the death, restarts, restores every buffer, answers
            samples.append((time.perf_counter() - t) * 1000)
        assert expected == {b: bridge.content(b) for b in ids}, "resync lost an edit"
        bench.record("restart_resync_ms", median(samples), goal=500, unit="ms",
                     note=f"21 buffers, 1,200 unsaved edits, n={runs}")
        bench.record("restart_resync_max_ms", max(samples), unit="ms")
        huge = root / "huge.txt"
        huge.write_text(("y" * 99 + "\n") * 100_000)  # 10 MB
        huge_id = bridge.open_buffer(str(huge)).buffer_id
        for i in range(100):
            bridge.insert(huge_id, Position(i * 997 % 100_000, 3), "edit ")
        big_samples = []
        for _ in range(runs):
            pid = bridge.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            t = time.perf_counter()
            bridge.info(huge_id)
            big_samples.append((time.perf_counter() - t) * 1000)
        bench.record("restart_resync_10mb_ms", median(big_samples), unit="ms",
                     note="the same plus a 10 MB file with 100 unsaved edits")
    finally:
        runtime.close()


def main() -> None:
    bench = Bench("editor", description=__doc__ or "")
    with tempfile.TemporaryDirectory(prefix="perf-editor-") as tmp:
        root = Path(tmp)
        edit_10mb(bench)
        edit_round_trip_actors(bench, root)
        edit_round_trip(bench, root)
        restart_resync(bench, root)
    bench.finish()


if __name__ == "__main__":
    main()
