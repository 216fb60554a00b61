"""What every ConductorPort does: fixtures give ``port``."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import NotFoundError, UsageError, ValidationError
from symphony_actors.ports.conductor import ConductorPort

CANDIDATES = ["acme.small", "acme.large"]


class ConductorContract:
    def test_decide_picks_one_of_the_candidates_with_a_reason(self, port: ConductorPort) -> None:
        d = port.decide(task="summarize", candidates=CANDIDATES)
        assert d["instrument"] in CANDIDATES and d["reason"] and d["decision_id"]

    def test_no_candidates_is_a_usage_error(self, port: ConductorPort) -> None:
        with pytest.raises(UsageError):
            port.decide(task="summarize", candidates=[])

    def test_it_learns_to_prefer_the_better_instrument(self, port: ConductorPort) -> None:
        """After feedback where one instrument is clearly better, most later picks are that one."""
        quality = {"acme.small": 0.2, "acme.large": 0.9}
        picks = []
        for i in range(200):
            d = port.decide(task="summarize", candidates=CANDIDATES, decision_id=f"d{i}")
            picks.append(d["instrument"])
            port.feedback(decision_id=d["decision_id"], quality=quality[d["instrument"]], cost=0.1, latency_s=1)
        assert picks[-50:].count("acme.large") >= 40

    def test_feedback_gives_the_reward_and_is_idempotent(self, port: ConductorPort) -> None:
        port.set_policy(policy={"weights": {"quality": 1.0, "cost": 0.5, "latency": 0.0}, "cost_scale": 1.0})
        d = port.decide(task="t", candidates=["x"])
        first = port.feedback(decision_id=d["decision_id"], quality=0.8, cost=0.4)
        assert first["reward"] == pytest.approx(0.6)
        assert port.feedback(decision_id=d["decision_id"], quality=0.0)["reward"] == pytest.approx(0.6)
        assert port.metrics(task="t")["tasks"]["t"]["x"]["feedback"] == 1

    def test_a_rating_after_feedback_replaces_its_sample(self, port: ConductorPort) -> None:
        port.set_policy(policy={"weights": {"quality": 1.0, "cost": 0.5, "latency": 0.0}, "cost_scale": 1.0})
        d = port.decide(task="r", candidates=["x"])
        port.feedback(decision_id=d["decision_id"], cost=0.4, latency_s=2.0)  # the run's end: no quality yet
        rated = port.rate(decision_id=d["decision_id"], quality=0.9)          # the user, later
        assert rated["amended"] and rated["reward"] == pytest.approx(0.9 - 0.2)
        stats = port.metrics(task="r")["tasks"]["r"]["x"]
        assert stats["feedback"] == 1 and stats["mean_reward"] == pytest.approx(0.7)
        assert port.history(task="r")[-1]["quality"] == 0.9

    def test_a_rating_before_feedback_waits_for_it(self, port: ConductorPort) -> None:
        port.set_policy(policy={"weights": {"quality": 1.0, "cost": 0.0, "latency": 0.0}})
        d = port.decide(task="w", candidates=["x"])
        assert port.rate(decision_id=d["decision_id"], quality=0.5)["waiting"] is True
        assert port.feedback(decision_id=d["decision_id"], latency_s=1.0)["reward"] == pytest.approx(0.5)
        with pytest.raises(UsageError):
            port.rate(decision_id=d["decision_id"])
        with pytest.raises(NotFoundError):
            port.rate(decision_id="never", quality=1.0)

    def test_failure_gets_the_failure_reward(self, port: ConductorPort) -> None:
        d = port.decide(task="t", candidates=["x"])
        assert port.feedback(decision_id=d["decision_id"], success=False)["reward"] == -1.0

    def test_unknown_decision_is_not_found(self, port: ConductorPort) -> None:
        with pytest.raises(NotFoundError):
            port.feedback(decision_id="never", quality=1.0)

    def test_stopped_it_answers_with_the_first_candidate(self, port: ConductorPort) -> None:
        assert port.stop()["running"] is False
        d = port.decide(task="t", candidates=["b", "a"])
        assert d["instrument"] == "b" and "stopped" in d["reason"]
        assert port.start()["running"] is True

    def test_history_lists_decisions_with_feedback(self, port: ConductorPort) -> None:
        d1 = port.decide(task="t1", candidates=["x"])
        port.decide(task="t2", candidates=["y"])
        port.feedback(decision_id=d1["decision_id"], quality=1.0)
        rows = port.history(task="t1")
        assert len(rows) == 1 and rows[0]["instrument"] == "x" and rows[0]["reward"] == pytest.approx(1.0)
        assert [r["task"] for r in port.history()] == ["t1", "t2"]

    def test_policies_are_readable_and_replaceable(self, port: ConductorPort) -> None:
        p = port.policies()
        assert p["current"]["algorithm"] in p["algorithms"]
        assert port.set_policy(policy={"algorithm": "epsilon_greedy", "epsilon": 0.2})["epsilon"] == 0.2
        assert port.policies()["current"]["algorithm"] == "epsilon_greedy"
        with pytest.raises(ValidationError) as info:
            port.set_policy(policy={"algorithm": "coin", "epsilon": 2, "nope": 1})
        assert {pr.path for pr in info.value.problems} == {"algorithm", "nope"}

    def test_status_and_metrics_count_decisions(self, port: ConductorPort) -> None:
        d = port.decide(task="t", candidates=["x", "y"])
        st = port.status()
        assert (st["decisions"], st["awaiting_feedback"]) == (1, 1)
        port.feedback(decision_id=d["decision_id"], quality=0.5)
        m = port.metrics()
        assert m["decisions"] == 1 and m["feedback"] == 1
        assert m["tasks"]["t"][d["instrument"]]["decisions"] == 1
