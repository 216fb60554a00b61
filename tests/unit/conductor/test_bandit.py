"""Bandit: context-aware learning, exploration, determinism, persistence."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from symphony_actors.conductor.bandit import Bandit
from symphony_actors.conductor.client import ConductorClient
from symphony_actors.testing.runtime import LocalRuntime

INSTRUMENTS = ["fast", "smart"]


def run(b: Bandit, n: int, quality: dict[tuple[str, str], float], seed: int = 1) -> list[tuple[str, str]]:
    noise = random.Random(seed)
    picks = []
    for i in range(n):
        size = "small" if i % 2 else "large"
        d = b.decide("summarize", INSTRUMENTS, {"size": size})
        picks.append((size, d["instrument"]))
        q = quality[(size, d["instrument"])] + noise.gauss(0, 0.05)
        b.feedback(d["decision_id"], quality=max(q, 0.0), cost=0.0, latency_s=0.0)
    return picks


def test_thompson_learns_a_different_best_per_context() -> None:
    """Small inputs: the fast model is as good; large: the smart one is far better."""
    quality = {("small", "fast"): 0.8, ("small", "smart"): 0.6, ("large", "fast"): 0.2, ("large", "smart"): 0.9}
    picks = run(Bandit({"seed": 3}), 400, quality)
    last = picks[-100:]
    assert sum(1 for s, i in last if s == "small" and i == "fast") >= 45
    assert sum(1 for s, i in last if s == "large" and i == "smart") >= 45


def test_epsilon_greedy_explores_at_about_epsilon() -> None:
    quality = {(s, i): (0.9 if i == "smart" else 0.1) for s in ("small", "large") for i in INSTRUMENTS}
    b = Bandit({"algorithm": "epsilon_greedy", "epsilon": 0.2, "seed": 5})
    picks = run(b, 1000, quality)
    worse = sum(1 for _, i in picks[100:] if i == "fast") / 900
    assert 0.05 <= worse <= 0.15  # half of the 20% exploration picks the worse arm


def test_the_same_seed_and_calls_give_the_same_decisions() -> None:
    quality = {(s, i): 0.5 for s in ("small", "large") for i in INSTRUMENTS}
    assert run(Bandit({"seed": 9}), 100, quality) == run(Bandit({"seed": 9}), 100, quality)


def test_a_new_context_borrows_what_the_task_learned() -> None:
    b = Bandit({"algorithm": "greedy", "min_context_samples": 5})
    for _ in range(20):
        for inst, q in (("fast", 0.1), ("smart", 0.9)):
            d = b.decide("t", [inst])
            b.feedback(d["decision_id"], quality=q)
    d = b.decide("t", INSTRUMENTS, {"lang": "fr"})
    assert d["explore"] is True  # greedy still tries each arm once in a new context
    mean_fast, _ = b._posterior("t|lang=fr", "t", "fast")
    mean_smart, _ = b._posterior("t|lang=fr", "t", "smart")
    assert mean_smart > 0.8 > 0.2 > mean_fast


def test_cost_and_latency_lower_the_reward() -> None:
    b = Bandit({"weights": {"quality": 1.0, "cost": 0.5, "latency": 0.5}, "cost_scale": 2.0, "latency_scale": 10.0})
    assert b.reward(1.0, 1.0, 5.0, True) == 1.0 - 0.25 - 0.25
    assert b.reward(1.0, 100.0, 100.0, True) == 0.0  # each penalty is capped at its weight


def test_learned_statistics_survive_a_restart(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    rt.start("conductor", "symphony_actors.conductor.service:build")
    c = ConductorClient(rt)
    c.set_policy(policy={"algorithm": "greedy"})
    for inst, q in (("fast", 0.1), ("smart", 0.9)):
        c.feedback(decision_id=c.decide(task="t", candidates=[inst])["decision_id"], quality=q)
    c.stop()
    rt.close()
    rt2 = LocalRuntime(data_dir)
    rt2.start("conductor", "symphony_actors.conductor.service:build")
    c2 = ConductorClient(rt2)
    assert c2.status()["running"] is False and c2.policies()["current"]["algorithm"] == "greedy"
    c2.start()
    assert c2.decide(task="t", candidates=INSTRUMENTS)["instrument"] == "smart"
    assert c2.metrics(task="t")["tasks"]["t"]["smart"]["decisions"] == 2  # counters persist too
    rt2.close()


@given(st.lists(st.floats(-1, 1), min_size=1, max_size=30), st.floats(-1, 1))
def test_an_arm_sample_taken_back_leaves_the_stats_as_before(rewards: list[float], extra: float) -> None:
    from symphony_actors.conductor.bandit import Arm

    arm, before = Arm(), Arm()
    for r in rewards:
        arm.add(r, 0.5, 0.1, 1.0, False)
        before.add(r, 0.5, 0.1, 1.0, False)
    arm.add(extra, 0.9, 0.3, 2.0, True)
    arm.remove(extra, 0.9, 0.3, 2.0, True)
    assert arm.n == before.n and arm.failures == before.failures
    for name in ("mean", "m2", "quality", "cost", "latency"):
        assert getattr(arm, name) == pytest.approx(getattr(before, name), abs=1e-9), name
