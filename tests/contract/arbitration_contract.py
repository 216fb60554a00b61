"""What every ArbitrationPort does: fixtures give ``port`` (capacity executors 4, memory_mb 1000) and ``clock``."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import NotFoundError, UsageError, ValidationError
from symphony_actors.ports.pit import ArbitrationPort
from symphony_actors.testing.runtime import FakeClock

POLICY = {"capacity": {"executors": 4, "memory_mb": 1000}}


class ArbitrationContract:
    def test_a_request_that_fits_is_granted_with_a_reason(self, port: ArbitrationPort) -> None:
        d = port.submit(request_id="q1", run="r1", demands={"executors": 2})
        assert d["verdict"] == "granted" and d["reason"]
        assert port.status()["used"]["executors"] == 2

    def test_a_request_that_does_not_fit_now_queues_and_is_granted_on_release(self, port: ArbitrationPort) -> None:
        port.submit(request_id="q1", run="r1", demands={"executors": 3})
        d = port.submit(request_id="q2", run="r2", demands={"executors": 2})
        assert d["verdict"] == "queued" and d["reason"]
        out = port.release(request_id="q1")
        assert [g["request_id"] for g in out["granted"]] == ["q2"]
        assert port.decision(request_id="q2")["verdict"] == "granted"

    def test_requests_that_can_never_fit_are_rejected(self, port: ArbitrationPort) -> None:
        assert port.submit(request_id="big", run="r", demands={"executors": 5})["verdict"] == "rejected"
        assert port.submit(request_id="odd", run="r", demands={"gpus": 1})["verdict"] == "rejected"

    def test_negative_demands_are_a_usage_error(self, port: ArbitrationPort) -> None:
        with pytest.raises(UsageError):
            port.submit(request_id="neg", run="r", demands={"executors": -1})

    def test_higher_priority_is_served_first(self, port: ArbitrationPort) -> None:
        port.submit(request_id="hold", run="r0", demands={"executors": 4})
        port.submit(request_id="low", run="r1", demands={"executors": 4}, priority=0)
        port.submit(request_id="high", run="r2", demands={"executors": 4}, priority=5)
        out = port.release(request_id="hold")
        assert [g["request_id"] for g in out["granted"]] == ["high"]

    def test_a_user_quota_holds_back_only_that_user(self, port: ArbitrationPort) -> None:
        port.set_policy(policy={**POLICY, "quotas": {"users": {"alice": {"executors": 2}}, "workflows": {}}})
        assert port.submit(request_id="a1", run="r1", user="alice", demands={"executors": 2})["verdict"] == "granted"
        assert port.submit(request_id="a2", run="r2", user="alice", demands={"executors": 1})["verdict"] == "queued"
        assert port.submit(request_id="b1", run="r3", user="bob", demands={"executors": 2})["verdict"] == "granted"
        assert port.submit(request_id="a3", run="r4", user="alice", demands={"executors": 3})["verdict"] == "rejected"

    def test_a_workflow_quota_applies_to_every_run_of_it(self, port: ArbitrationPort) -> None:
        port.set_policy(policy={**POLICY, "quotas": {"users": {}, "workflows": {"*": {"memory_mb": 500}}}})
        assert port.submit(request_id="w1", run="r1", workflow="wf", demands={"memory_mb": 400})["verdict"] == "granted"
        assert port.submit(request_id="w2", run="r2", workflow="wf", demands={"memory_mb": 400})["verdict"] == "queued"

    def test_a_passed_deadline_is_rejected(self, port: ArbitrationPort, clock: FakeClock) -> None:
        assert port.submit(request_id="late", run="r", demands={"executors": 1},
                           deadline=clock.time() - 1)["verdict"] == "rejected"
        port.submit(request_id="hold", run="r0", demands={"executors": 4})
        assert port.submit(request_id="soon", run="r1", demands={"executors": 1},
                           deadline=clock.time() + 5)["verdict"] == "queued"
        clock.advance(10)
        port.release(request_id="hold")
        d = port.decision(request_id="soon")
        assert d["verdict"] == "rejected" and "deadline" in d["reason"]

    def test_resubmitting_the_same_request_does_not_count_twice(self, port: ArbitrationPort) -> None:
        port.submit(request_id="q1", run="r1", demands={"executors": 3})
        port.submit(request_id="q1", run="r1", demands={"executors": 3})
        assert port.status()["used"]["executors"] == 3

    def test_unknown_request_is_not_found(self, port: ArbitrationPort) -> None:
        with pytest.raises(NotFoundError):
            port.release(request_id="nope")

    def test_policy_is_readable_and_replaceable(self, port: ArbitrationPort) -> None:
        policy = port.get_policy()
        assert policy["capacity"] == {"executors": 4.0, "memory_mb": 1000.0}
        port.set_policy(policy={"capacity": {"executors": 8}}, merge=True)
        assert port.get_policy()["capacity"] == {"executors": 8.0}
        assert port.get_policy()["conflicts"] == policy["conflicts"]

    def test_a_bad_policy_reports_every_problem(self, port: ArbitrationPort) -> None:
        with pytest.raises(ValidationError) as info:
            port.set_policy(policy={"capacity": {"executors": -1}, "bogus": 1, "conflicts": {"artifact": "coin"}})
        assert {p.path for p in info.value.problems} == {"capacity.executors", "bogus", "conflicts.artifact"}

    def test_growing_capacity_grants_the_queue(self, port: ArbitrationPort) -> None:
        port.submit(request_id="q1", run="r1", demands={"executors": 4})
        port.submit(request_id="q2", run="r2", demands={"executors": 4})
        port.set_policy(policy={"capacity": {"executors": 8, "memory_mb": 1000}})
        assert port.decision(request_id="q2")["verdict"] == "granted"

    def test_set_capacity_changes_only_the_named_resource_and_grants_the_queue(self, port: ArbitrationPort) -> None:
        port.submit(request_id="q1", run="r1", demands={"executors": 4})
        port.submit(request_id="q2", run="r2", demands={"executors": 2})
        assert port.decision(request_id="q2")["verdict"] == "queued"
        policy = port.set_capacity(capacity={"executors": 6})
        assert policy["capacity"] == {"executors": 6, "memory_mb": 1000}
        assert port.decision(request_id="q2")["verdict"] == "granted"

    def test_reconcile_releases_what_no_live_run_holds(self, port: ArbitrationPort) -> None:
        for i in range(5):  # four granted, the fifth queued
            port.submit(request_id=f"run:r{i}", run=f"r{i}", demands={"executors": 1})
        port.submit(request_id="other", run="r9", demands={"memory_mb": 10})
        released = port.reconcile(prefix="run:", live=["r1", "r4"])
        assert sorted(released) == ["run:r0", "run:r2", "run:r3"]
        assert port.decision(request_id="run:r4")["verdict"] == "granted"  # got a freed executor
        assert port.decision(request_id="other")["verdict"] == "granted"   # not under the prefix: kept
        assert sorted(port.status()["granted"]) == ["other", "run:r1", "run:r4"]
        assert port.reconcile(prefix="run:", live=["r1", "r4"]) == []

    def test_a_tag_is_limited_only_when_the_capacity_names_it(self, port: ArbitrationPort) -> None:
        port.set_capacity(capacity={"tag:gpu": 1})
        assert port.submit(request_id="a", run="a", demands={"executors": 1, "tag:gpu": 1})["verdict"] == "granted"
        assert port.submit(request_id="b", run="b", demands={"executors": 1, "tag:gpu": 1})["verdict"] == "queued"
        assert port.submit(request_id="c", run="c", demands={"executors": 1, "tag:cpu": 1})["verdict"] == "granted"
        port.release(request_id="a")
        assert port.decision(request_id="b")["verdict"] == "granted"

    def test_first_writer_wins_an_artifact_name(self, port: ArbitrationPort) -> None:
        assert port.claim(kind="artifact", name="report", run="r1")["verdict"] == "granted"
        d = port.claim(kind="artifact", name="report", run="r2")
        assert d["verdict"] == "rejected" and "r1" in d["reason"]
        port.unclaim(kind="artifact", name="report", run="r1")
        assert port.claim(kind="artifact", name="report", run="r2")["verdict"] == "granted"

    def test_buffer_writers_queue_by_default(self, port: ArbitrationPort) -> None:
        port.claim(kind="buffer", name="b1", run="r1")
        assert port.claim(kind="buffer", name="b1", run="r2")["verdict"] == "queued"
        out = port.unclaim(kind="buffer", name="b1", run="r1")
        assert [(g["run"], g["verdict"]) for g in out["granted"]] == [("r2", "granted")]

    def test_priority_and_last_wins_conflict_policies(self, port: ArbitrationPort) -> None:
        port.set_policy(policy={"conflicts": {"artifact": "priority", "buffer": "last_wins"}}, merge=True)
        port.claim(kind="artifact", name="a", run="r1", priority=1)
        assert port.claim(kind="artifact", name="a", run="r2", priority=1)["verdict"] == "rejected"
        assert port.claim(kind="artifact", name="a", run="r3", priority=2)["verdict"] == "granted"
        port.claim(kind="buffer", name="b", run="r1")
        assert port.claim(kind="buffer", name="b", run="r2")["verdict"] == "granted"
        preempted = [d for d in port.decisions(run="r1") if d["verdict"] == "preempted"]
        assert len(preempted) == 2

    def test_unknown_claim_kind_is_a_usage_error(self, port: ArbitrationPort) -> None:
        with pytest.raises(UsageError):
            port.claim(kind="socket", name="x", run="r")

    def test_every_decision_is_logged_with_its_reason(self, port: ArbitrationPort) -> None:
        port.submit(request_id="q1", run="r1", demands={"executors": 4})
        port.submit(request_id="q2", run="r2", demands={"executors": 1})
        port.release(request_id="q1")
        log = port.decisions(request_id="q2")
        assert [d["verdict"] for d in log] == ["queued", "granted"]
        assert all(d["reason"] for d in log)
