"""Arbitration Engine benchmark: the time to decide on a request, in-process.

``decide_p99_us``: ``Arbiter.submit`` under a steady mix of 16 users with priorities, quotas and weights,
capacity 64 executors / 256 GB, about 200 requests queued; grants are released as they come so the queue
stays busy. ``release_pass_p99_us``: a release, which re-ranks and serves the whole queue. Finished
requests are forgotten every 1,000 as the service's tick does (p99 outliers here are the garbage
collector's full passes over what is left).
"""

from __future__ import annotations

import random
import time
from collections import deque

from _harness import Bench, percentile

from symphony_actors.pit.arbitration.core import Arbiter

POLICY = {"capacity": {"executors": 64, "memory_mb": 262_144},
          "weights": {"users": {f"u{i}": 1 + i % 3 for i in range(16)}, "workflows": {}},
          "quotas": {"users": {"*": {"executors": 16}}, "workflows": {}},
          "aging_s": 30.0, "reserve_after_s": 10.0}


def run(n: int, queued: int = 200) -> tuple[list[float], list[float]]:
    rng = random.Random(1)
    now = [0.0]
    a = Arbiter(lambda: now[0], POLICY)
    granted: deque[str] = deque()
    a.emit = lambda topic, d: granted.append(d["request_id"]) if d["verdict"] == "granted" else None
    decide, release = [], []
    clock = time.perf_counter_ns
    for i in range(n):
        now[0] += 0.001
        rid = f"q{i}"
        demands = {"executors": rng.choice((1, 1, 2, 4)), "memory_mb": rng.choice((512, 2048, 8192))}
        t0 = clock()
        d = a.submit(rid, f"run{i % 97}", demands, user=f"u{rng.randrange(16)}", workflow=f"wf{i % 7}",
                     priority=rng.randrange(3), deadline=None)
        decide.append((clock() - t0) / 1000)
        if d["verdict"] == "granted":
            granted.append(rid)
        if i % 1000 == 999:
            a.forget_finished(keep=1000)  # as the service's tick does
        while len(a.queue) > queued and granted:
            t0 = clock()
            a.release(granted.popleft())
            release.append((clock() - t0) / 1000)
    return decide, release


def main() -> None:
    bench = Bench("arbitration")
    decide, release = run(5_000 if bench.quick else 50_000)
    bench.record("decide_p50_us", percentile(decide, 50), unit="us")
    bench.record("decide_p99_us", percentile(decide, 99), unit="us", note="~200 queued, 16 users; no goal set")
    bench.record("release_pass_p50_us", percentile(release, 50), unit="us", note="re-ranks the whole queue")
    bench.record("release_pass_p99_us", percentile(release, 99), unit="us")
    bench.finish()


if __name__ == "__main__":
    main()
