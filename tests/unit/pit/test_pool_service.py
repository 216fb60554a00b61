"""PoolService: timers under LocalRuntime, events on the bus, learned state surviving a restart."""

from __future__ import annotations

from pathlib import Path

from symphony_actors.pit.pool.client import PoolClient
from symphony_actors.pit.pool.histogram import HistogramConfig, IdleHistogram, Windows
from symphony_actors.pit.pool.loaders import ScriptedLoader
from symphony_actors.testing.runtime import LocalRuntime


def step(rt: LocalRuntime, seconds: float, dt: float = 0.1) -> None:
    """Advance in small steps so each self-rescheduling tick fires."""
    for _ in range(round(seconds / dt)):
        rt.advance(dt)


def test_health_ticks_detect_a_dead_instance_and_publish_it(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    loader = ScriptedLoader(rt.clock.time)
    rt.start("pool", "symphony_actors.pit.pool.service:build", clock=rt.clock.time, loader=loader,
             health_interval_s=0.05)
    pool = PoolClient(rt)
    pool.register_model(model="m", size_mb=10, load_cost_s=0.2)
    lease = pool.allocate(model="m", holder="run-9")
    step(rt, 0.3, 0.05)
    assert pool.lease(lease_id=lease["lease_id"])["state"] == "active"
    loader.kill(lease["instance"])
    step(rt, 0.05, 0.05)
    topics = [e.topic for e in rt.events]
    assert "pool.lease.ready" in topics and "pool.lease.failed" in topics
    failed = next(e for e in rt.events if e.topic == "pool.lease.failed")
    assert failed.payload["holder"] == "run-9"
    rt.close()


def test_models_and_histograms_survive_a_restart(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    rt.start("pool", "symphony_actors.pit.pool.service:build", clock=rt.clock.time)
    pool = PoolClient(rt)
    pool.register_model(model="m", size_mb=10, load_cost_s=0.0, max_instances=3)
    for _ in range(4):
        pool.release(lease_id=pool.allocate(model="m", holder="r")["lease_id"])
        step(rt, 1.0, 0.5)
    rt.close()
    rt2 = LocalRuntime(data_dir)
    rt2.start("pool", "symphony_actors.pit.pool.service:build", clock=rt2.clock.time)
    m = PoolClient(rt2).status(model="m")["models"]["m"]
    assert (m["max_instances"], m["state"]) == (3, "cold")
    assert rt2.services["pool"].core._models["m"].hist.total == 3  # type: ignore[attr-defined]
    rt2.close()


def test_histogram_falls_back_to_fixed_until_representative() -> None:
    h = IdleHistogram(HistogramConfig(bin_s=60, range_s=3600, min_samples=5, fixed_keep_alive_s=600, select="paper"))
    for _ in range(4):
        h.add(300)
    assert h.windows().mode == "fixed" and h.windows().keep_alive_s == 600
    h.add(300)
    w = h.windows()
    assert w.mode == "hybrid" and w.prewarm_s == 300 * 0.9 and w.keep_alive_s == 360 * 1.1 - 270


def test_a_flat_histogram_is_not_representative() -> None:
    h = IdleHistogram(HistogramConfig(bin_s=60, range_s=600, min_samples=5, cv_threshold=2.0, select="paper"))
    for i in range(10):
        h.add(i * 60 + 1)
    assert h.windows().mode == "fixed"


def test_idle_times_beyond_the_range_use_the_out_of_range_predictor() -> None:
    h = IdleHistogram(HistogramConfig(bin_s=60, range_s=600, min_samples=3, select="paper"))
    for _ in range(5):
        h.add(3600)
    w = h.windows()
    assert w.mode == "oob" and w.prewarm_s == 0.85 * 3600 and w.keep_alive_s == 0.30 * 3600
    budgeted = IdleHistogram(HistogramConfig(bin_s=60, range_s=600, min_samples=3, fixed_keep_alive_s=600))
    for _ in range(5):
        budgeted.add(3600)
    assert budgeted.windows() == Windows(3300.0, 600.0, "oob")


def test_budgeted_windows_never_spend_more_than_the_fixed_keep_alive() -> None:
    """Idle times of 30 s (90%) and 2 h (10%): the paper keeps warm 2 h; the budgeted choice keeps warm
    through the short gaps, unloads, and prewarms just before the 2 h mark, within the fixed policy's memory."""
    paper = IdleHistogram(HistogramConfig(min_samples=5, select="paper"))
    budgeted = IdleHistogram(HistogramConfig(min_samples=5))
    for h in (paper, budgeted):
        for i in range(100):
            h.add(7200 if i % 10 == 0 else 30)
    assert paper.windows().keep_alive_s > 7200
    w = budgeted.windows()
    assert w.mode == "hybrid" and w.first_keep_s >= 30 and w.prewarm_s <= 7200 <= w.prewarm_s + w.keep_alive_s
    chosen, fixed = budgeted.expected
    assert chosen <= fixed


def test_budgeted_windows_prewarm_a_periodic_model() -> None:
    h = IdleHistogram(HistogramConfig(min_samples=5))
    for _ in range(20):
        h.add(1800)
    w = h.windows()
    assert w.mode == "hybrid" and 1600 <= w.prewarm_s <= 1800 <= w.prewarm_s + w.keep_alive_s


def test_histogram_round_trips_through_its_dict() -> None:
    cfg = HistogramConfig()
    h = IdleHistogram(cfg)
    for x in (5, 65, 65, 20000):
        h.add(x)
    again = IdleHistogram.from_dict(cfg, h.to_dict())
    assert (again.counts, again.total, again.oob, again.oob_ewma) == (h.counts, h.total, h.oob, h.oob_ewma)
