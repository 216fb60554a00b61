"""Request/reply latency, throughput and restart time of the runtime, beside raw Thespian in the same run.

    python perf/bus.py [--quick]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from _harness import Bench, median, percentile

from symphony_actors.client import Client
from symphony_actors.domain.errors import BusyError
from symphony_actors.runtime.bench_actors import RawEcho, RawPinger
from symphony_actors.runtime.system import boot
from symphony_actors.testing.trees import echo, flat_tree

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))


def free_port() -> int:
    from integration.conftest import free_port as fp

    return fp()


def main() -> None:
    bench = Bench("bus")
    n_rr = 500 if bench.quick else 3000
    n_flood = 20_000 if bench.quick else 100_000
    n_restart = 10 if bench.quick else 30
    with tempfile.TemporaryDirectory() as tmp:
        system = boot(flat_tree(echo("a"), echo("b"), echo("victim"), max_restarts=1000), free_port(), Path(tmp))
        try:
            client = Client(system.port)
            asys = system.asys
            # ---- raw Thespian baselines, same system, same moment
            raw_echo, raw_pinger = asys.createActor(RawEcho), asys.createActor(RawPinger)
            for _ in range(50):
                asys.ask(raw_echo, "x", 5)
            raw = []
            for _ in range(n_rr):
                t = time.perf_counter()
                asys.ask(raw_echo, "x", 5)
                raw.append(time.perf_counter() - t)
            raw_pp = asys.ask(raw_pinger, ("pingpong", raw_echo, n_rr), 120)
            # ---- our runtime: actor -> actor request/reply
            client.call("a", "pingpong", target="b", n=50)
            ours_pp = client.call("a", "pingpong", target="b", n=n_rr, timeout=120)
            # ---- our runtime: actor -> actor, synchronous (ctx.call: what an orchestration actor uses)
            client.call("a", "watch", target="b")
            deadline = time.monotonic() + 10
            while True:
                try:
                    client.call("a", "call_loop", target="b", n=50)
                    break
                except BusyError:  # the address is still being resolved
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            ours_sync = client.call("a", "call_loop", target="b", n=n_rr, timeout=120)
            # ---- our runtime: client -> actor
            for _ in range(50):
                client.call("a", "echo", value=1)
            ours_client = []
            for _ in range(n_rr):
                t = time.perf_counter()
                client.call("a", "echo", value=1)
                ours_client.append(time.perf_counter() - t)
            # ---- throughput across processes, counted at the receiver, zero loss required
            rounds, total, span = max(1, n_flood // 20_000), 0, 0.0
            for _ in range(rounds):
                client.call("b", "reset")
                t = time.perf_counter()
                client.call("a", "blast", target="b", count=20_000)
                deadline = time.monotonic() + 120
                while client.call("b", "tick_stats")["count"] < 20_000 and time.monotonic() < deadline:
                    time.sleep(0.002)
                stats = client.call("b", "tick_stats")
                assert stats["count"] == 20_000, f"lost messages: {stats}"
                total += stats["count"]
                span += time.perf_counter() - t
            # raw one-message-per-send flood from the client
            t = time.perf_counter()
            n_raw = 2000 if bench.quick else 10_000
            for i in range(n_raw):
                asys.tell(raw_echo, ("flood", (i,)))
            asys.ask(raw_echo, "count?", 30)
            raw_flood = n_raw / (time.perf_counter() - t)
            # ---- restart: crash -> replacement answering
            restarts = []
            for _ in range(n_restart):
                t = time.perf_counter()
                client.kill("victim")
                client.call("victim", "echo", value=1, timeout=10)
                restarts.append(time.perf_counter() - t)
            client.close()
        finally:
            system.stop()
    ms = 1000.0
    bench.record("rr_p50_ms", median(ours_pp) * ms, goal=0.3, unit="ms",
                 note="actor->actor ctx.request, the reply a later message (two actor-loop wake-ups)")
    bench.record("rr_p99_ms", percentile(ours_pp, 99) * ms, goal=1.0, unit="ms")
    bench.record("rr_sync_p50_ms", median(ours_sync) * ms, unit="ms",
                 note="actor->actor ctx.call (blocking; the reply needs no second actor-loop wake-up)")
    bench.record("client_rr_p50_ms", median(ours_client) * ms, unit="ms", note="connect() client -> actor")
    bench.record("client_rr_p99_ms", percentile(ours_client, 99) * ms, unit="ms")
    bench.record("throughput_msgs_per_s", total / span, goal=50_000, better="higher", unit="env/s",
                 note="tell() from one actor to another, batched, counted at the receiver")
    bench.record("restart_ms_p50", median(restarts) * ms, goal=50, unit="ms", note="kill -> replacement answers")
    bench.record("raw_thespian_client_rr_p50_ms", median(raw) * ms, unit="ms", note="baseline, same run")
    bench.record("raw_thespian_rr_p50_ms", median(raw_pp) * ms, unit="ms", note="baseline actor ping-pong")
    bench.record("raw_thespian_rr_p99_ms", percentile(raw_pp, 99) * ms, unit="ms")
    bench.record("raw_thespian_flood_msgs_per_s", raw_flood, better="higher", unit="msg/s",
                 note="baseline, one message per send")
    bench.finish()


if __name__ == "__main__":
    main()
