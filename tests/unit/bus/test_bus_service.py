"""The bus router as a plain service under the in-process runtime."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_actors.domain.envelope import event
from symphony_actors.domain.errors import NotFoundError, UsageError
from symphony_actors.testing import LocalRuntime


class Forwards:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def forward(self, service: str, envelope: Any) -> None:
        self.sent.append((service, envelope.topic))


@pytest.fixture
def bus(tmp_path):
    rt = LocalRuntime(tmp_path)
    svc = rt.start("bus", "symphony_actors.bus.service:build")
    return rt, svc


def test_events_fan_out_to_matching_service_subscribers(bus):
    rt, svc = bus
    svc.ctx = fw = Forwards()
    rt.call("bus", "subscribe", subscriber="dag", pattern="run.*.node.#")
    rt.call("bus", "subscribe", subscriber="ui", pattern="#")
    svc.on_envelope(event("run.r1.node.ok", None, sender="exec"))
    svc.on_envelope(event("other", None, sender="exec"))
    assert fw.sent == [("dag", "run.r1.node.ok"), ("ui", "run.r1.node.ok"), ("ui", "other")]


def test_a_publisher_does_not_get_its_own_events_back(bus):
    rt, svc = bus
    svc.ctx = fw = Forwards()
    rt.call("bus", "subscribe", subscriber="dag", pattern="#")
    svc.on_envelope(event("x", None, sender="dag"))
    assert fw.sent == []


def test_client_subscriptions_poll_in_order_and_report_gaps(bus):
    rt, _svc = bus
    sub = rt.call("bus", "open", pattern="a.*", capacity=3)
    for i in range(5):
        rt.call("bus", "publish", topic="a.b", payload=i)
    rt.call("bus", "publish", topic="z", payload="ignored")
    got = rt.call("bus", "poll", subscription=sub, max=10)
    assert [e["payload"] for e in got["events"]] == [2, 3, 4]
    assert got["dropped"] == 2
    assert [e["seq"] for e in got["events"]] == [3, 4, 5]
    assert rt.call("bus", "poll", subscription=sub)["events"] == []
    assert rt.call("bus", "stats")["dead_letters"] == 2


def test_bad_patterns_and_unknown_subscriptions_are_typed_errors(bus):
    rt, _ = bus
    with pytest.raises(UsageError, match="'#' may only be the last segment"):
        rt.call("bus", "open", pattern="#.x")
    with pytest.raises(NotFoundError, match="no subscription"):
        rt.call("bus", "poll", subscription="sub-999")
    with pytest.raises(UsageError, match="capacity"):
        rt.call("bus", "open", pattern="x", capacity=0)


def test_dead_letters_are_counted_and_kept(bus):
    rt, svc = bus
    svc.on_envelope(event("bus.dead_letter", {"reason": "unknown_service", "service": "ghost"}, sender="a"))
    assert rt.call("bus", "stats")["dead_letters"] == 1
    assert rt.call("bus", "dead_letters")[0]["service"] == "ghost"
