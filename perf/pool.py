"""Pool Manager benchmarks: warm-hit allocation, cold starts on a replayed trace, failure detection.

* ``alloc_hit_p99_us``: ``PoolCore.allocate`` finding a warm instance, in-process (release not timed).
* ``cold_start_reduction_pct``: a synthetic invocation trace of periodic, Poisson, bursty and rare models
  replayed through ``PoolCore`` on a simulated clock, once with the hybrid histogram policy (prewarming)
  and once with a fixed 10-minute keep-alive; both cold-start counts and memory-times are printed, and
  the reduction counts only if the hybrid policy used no more memory-time.
* ``health_detect_ms_p50``: real child processes (one per instance, heartbeating through a pipe) are
  killed (SIGKILL: dead) or frozen (SIGSTOP: stuck); time until the lease holder's ``pool.lease.failed``
  event, with health checks every 50 ms.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from typing import Any

from _harness import Bench, median, percentile

from symphony_actors.pit.pool.core import ModelSpec, PoolConfig, PoolCore
from symphony_actors.pit.pool.histogram import HistogramConfig
from symphony_actors.pit.pool.loaders import InstantLoader, LoadRequest, Probe

DAY = 86_400.0
MIN = 60.0


# --------------------------------------------------------------------------- warm hits
def alloc_hit(n: int) -> tuple[float, float]:
    now = [0.0]
    core = PoolCore(InstantLoader(), lambda: now[0], PoolConfig(memory_budget_mb=1e9))
    models = [f"m{i}" for i in range(50)]
    for m in models:
        core.register_model(ModelSpec(m, 100, 1.0, max_instances=2))
        core.release(core.allocate(m, "warmup")["lease_id"])
    samples = []
    clock = time.perf_counter_ns
    for i in range(n):
        m = models[i % 50]
        now[0] += 0.001
        t0 = clock()
        lease = core.allocate(m, "run")
        samples.append((clock() - t0) / 1000)
        core.release(lease["lease_id"])
    return percentile(samples, 50), percentile(samples, 99)


# --------------------------------------------------------------------------- trace replay
def make_trace(days: float, per_kind: int, seed: int = 7) -> dict[str, list[float]]:
    """Invocation start times per model: periodic, Poisson, bursty and rare, ``per_kind`` of each."""
    rng = random.Random(seed)
    horizon = days * DAY
    trace: dict[str, list[float]] = {}
    for i in range(per_kind):
        period = rng.choice((2, 5, 15, 30, 60, 120)) * MIN
        t, times = rng.uniform(0, period), []
        while t < horizon:
            times.append(t + rng.gauss(0, 0.01 * period))
            t += period
        trace[f"periodic-{i}"] = times
        mean = rng.choice((1, 5, 20, 60)) * MIN
        t, times = 0.0, []
        while (t := t + rng.expovariate(1 / mean)) < horizon:
            times.append(t)
        trace[f"poisson-{i}"] = times
        gap = rng.choice((30, 90, 180)) * MIN
        t, times = rng.uniform(0, gap), []
        while t < horizon:
            times += [t + k * rng.uniform(5, 15) for k in range(rng.randint(5, 20))]
            t += gap * rng.uniform(0.9, 1.1)
        trace[f"bursty-{i}"] = sorted(times)
        trace[f"rare-{i}"] = sorted(rng.uniform(0, horizon) for _ in range(max(1, int(days * rng.randint(1, 4)))))
    return trace


def replay(trace: dict[str, list[float]], policy: str, select: str = "budgeted",
           duration_s: float = 2.0) -> dict[str, float]:
    """Replay through PoolCore on a simulated clock; returns cold starts, invocations and memory-time."""
    now = [0.0]
    cfg = PoolConfig(memory_budget_mb=1e12, policy=policy,  # type: ignore[arg-type]
                     histogram=HistogramConfig(fixed_keep_alive_s=600.0, select=select),  # type: ignore[arg-type]
                     default_lease_s=1e9)
    core = PoolCore(InstantLoader(), lambda: now[0], cfg)
    events: list[tuple[float, int, str, str]] = []
    for model, times in trace.items():
        core.register_model(ModelSpec(model, 100.0, 5.0, max_instances=8))
        for t in times:
            events.append((t, 1, "start", model))
            events.append((t + duration_s, 0, "end", model))
    events.sort()
    leases: dict[str, list[str]] = {m: [] for m in trace}
    cold = invocations = 0
    due = core.next_due()
    for t, _, kind, model in events:
        while due <= t:
            now[0] = due
            core.tick()
            due = core.next_due()
        now[0] = t
        if kind == "start":
            lease = core.allocate(model, "trace")
            leases[model].append(lease["lease_id"])
            cold += lease["cold"]
            invocations += 1
        else:
            core.release(leases[model].pop(0))
        due = min(due, core.next_due())
    while due < float("inf"):
        now[0] = due
        core.tick()
        due = core.next_due()
    return {"cold": cold, "invocations": invocations, "mem_time_mb_s": core.memory_time()}


# --------------------------------------------------------------------------- health detection
CHILD = "import os, time\nwhile True:\n    os.write(1, b'.')\n    time.sleep(0.02)\n"


class ProcessLoader:
    """Each instance is a real child process heartbeating a byte every 20 ms on a pipe.

    ``probe``: exited -> dead; no heartbeat for ``stuck_after_s`` -> stuck; first heartbeat -> ready."""

    def __init__(self, stuck_after_s: float = 0.15) -> None:
        self.stuck_after_s = stuck_after_s
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.last: dict[str, float] = {}

    def load(self, request: LoadRequest) -> bool:
        proc = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE)
        assert proc.stdout is not None
        os.set_blocking(proc.stdout.fileno(), False)
        self.procs[request.instance] = proc
        return False

    def unload(self, instance: str) -> None:
        proc = self.procs.pop(instance, None)
        self.last.pop(instance, None)
        if proc is not None:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()

    def probe(self, instance: str) -> Probe:
        proc = self.procs.get(instance)
        if proc is None or proc.poll() is not None:
            return "dead"
        assert proc.stdout is not None
        now = time.monotonic()
        try:
            beat = os.read(proc.stdout.fileno(), 4096)
        except BlockingIOError:
            beat = b""  # nothing new on the pipe: judged by the age of the last heartbeat below
        if beat:
            self.last[instance] = now
        last = self.last.get(instance)
        if last is None:
            return "loading"
        return "stuck" if now - last > self.stuck_after_s else "ready"

    def wait_ready(self, instance: str, timeout: float = 10.0) -> None:
        proc = self.procs[instance]
        assert proc.stdout is not None
        select.select([proc.stdout], [], [], timeout)


def health_detect(rounds: int, interval_s: float = 0.05) -> dict[str, list[float]]:
    failed_at: dict[str, float] = {}

    def emit(topic: str, payload: dict[str, Any]) -> None:
        if topic == "pool.lease.failed":
            failed_at[payload["lease_id"]] = time.monotonic()

    loader = ProcessLoader()
    core = PoolCore(loader, time.monotonic, PoolConfig(memory_budget_mb=1e9, load_timeout_factor=100), emit)
    core.register_model(ModelSpec("m", 10, 1.0, max_instances=1))
    out: dict[str, list[float]] = {"dead": [], "stuck": []}
    try:
        for i in range(rounds * 2):
            kind = "dead" if i % 2 == 0 else "stuck"
            lease = core.allocate("m", f"holder-{i}")
            if lease["state"] != "active":
                loader.wait_ready(lease["instance"])
                deadline = time.monotonic() + 10
                while core.lease(lease["lease_id"])["state"] != "active" and time.monotonic() < deadline:
                    core.tick()
                    time.sleep(0.005)
            pid = loader.procs[lease["instance"]].pid
            time.sleep(random.uniform(0, interval_s))  # failures land at any phase of the health cycle
            t0 = time.monotonic()
            os.kill(pid, signal.SIGKILL if kind == "dead" else signal.SIGSTOP)
            next_tick = t0
            while lease["lease_id"] not in failed_at and time.monotonic() - t0 < 5:
                core.tick()
                next_tick += interval_s
                time.sleep(max(0.0, next_tick - time.monotonic()))
            out[kind].append((failed_at.get(lease["lease_id"], float("inf")) - t0) * 1000)
            core.drain("m")
            core.register_model(ModelSpec("m", 10, 1.0, max_instances=1))
    finally:
        for inst in list(loader.procs):
            loader.unload(inst)
    return out


def main() -> None:
    bench = Bench("pool")
    p50, p99 = alloc_hit(5_000 if bench.quick else 50_000)
    bench.record("alloc_hit_p50_us", p50, unit="us")
    bench.record("alloc_hit_p99_us", p99, goal=100, unit="us", note="aim 20")

    days, per_kind = (2.0, 10) if bench.quick else (7.0, 25)
    trace = make_trace(days, per_kind)
    fixed = replay(trace, "fixed")
    hybrid = replay(trace, "hybrid")
    paper = replay(trace, "hybrid", select="paper")
    reduction = 100.0 * (fixed["cold"] - hybrid["cold"]) / max(fixed["cold"], 1)
    mem_ratio = hybrid["mem_time_mb_s"] / fixed["mem_time_mb_s"]
    note = f"{days:g} days, {len(trace)} models, {fixed['invocations']:.0f} invocations"
    bench.record("cold_starts_fixed_10min", fixed["cold"], note=note)
    bench.record("cold_starts_hybrid", hybrid["cold"])
    bench.record("memory_time_fixed_mb_h", fixed["mem_time_mb_s"] / 3600)
    bench.record("memory_time_hybrid_mb_h", hybrid["mem_time_mb_s"] / 3600)
    bench.record("memory_time_ratio", mem_ratio, goal=1.0, note="hybrid / fixed")
    bench.record("cold_starts_hybrid_paper_5_99", paper["cold"], note="the paper's fixed 5th/99th cut-offs")
    bench.record("memory_time_ratio_paper_5_99", paper["mem_time_mb_s"] / fixed["mem_time_mb_s"])
    bench.record("cold_start_reduction_pct", reduction if mem_ratio <= 1.0 else float("nan"), goal=50,
                 better="higher", unit="%", note="" if mem_ratio <= 1.0 else "not counted: more memory-time")

    detect = health_detect(5 if bench.quick else 15)
    every = detect["dead"] + detect["stuck"]
    bench.record("health_detect_dead_ms_p50", median(detect["dead"]), unit="ms", note="SIGKILL")
    bench.record("health_detect_stuck_ms_p50", median(detect["stuck"]), unit="ms",
                 note="SIGSTOP, stuck after 150 ms without heartbeat")
    bench.record("health_detect_ms_p50", median(every), goal=1000, unit="ms", note="aim 250; both kinds")
    bench.record("health_detect_ms_max", max(every), unit="ms")
    bench.finish()


if __name__ == "__main__":
    main()
