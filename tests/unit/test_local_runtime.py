"""LocalRuntime: services hosted in-process with a fake clock, as the real runtime hosts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, UsageError
from symphony_actors.ports.service import ActorContext, Caller, ChildSpec, ServiceSettings
from symphony_actors.testing import FakeClock, LocalRuntime, PublishedEvent


class Recorder:
    """Records every call it gets, in order; can tell, publish, defer and schedule."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.log: list[tuple[str, Any]] = []
        self.ctx: ActorContext | None = None
        self.pending: Any = None
        self.stopped = False

    def on_start(self, ctx: ActorContext) -> None:
        self.ctx = ctx

    def on_stop(self) -> None:
        self.stopped = True

    def note(self, value: Any = None) -> Any:
        self.log.append(("note", value))
        return value

    def fail(self) -> None:
        raise ConflictError("already running", run_id="r1")

    def relay(self, to: str, values: list[Any]) -> str:
        """Tells ``to`` each value, then records that it has returned."""
        assert self.ctx is not None
        for v in values:
            self.ctx.tell(to, "note", value=v)
        self.log.append(("relay-returned", len(values)))
        return "relayed"

    def tell_self(self) -> str:
        assert self.ctx is not None
        self.ctx.tell(self.ctx.name, "note", value="from-self")
        self.log.append(("tell_self-returned", None))
        return "ok"

    def announce(self, topic: str, payload: Any = None) -> None:
        assert self.ctx is not None
        self.ctx.publish(topic, payload)

    def later(self, delay: float, value: Any) -> None:
        assert self.ctx is not None
        self.ctx.call_later(delay, "note", value=value)

    def tick(self, clock: FakeClock, every: float, times: int) -> None:
        """A heartbeat that reschedules itself, noting the fake time it runs at."""
        assert self.ctx is not None
        self.log.append(("tick", clock.now))
        if times > 1:
            self.ctx.call_later(every, "tick", clock=clock, every=every, times=times - 1)

    def wait(self) -> Any:
        assert self.ctx is not None
        self.pending = self.ctx.defer()
        return self.pending

    def wait_and_relay(self, to: str) -> Any:
        """Defers, and asks ``to`` to resolve it through a tell."""
        assert self.ctx is not None
        self.pending = self.ctx.defer()
        self.ctx.tell(to, "resolve_other", name=self.ctx.name)
        return self.pending

    def resolve_other(self, name: str) -> None:
        """Resolves another service's pending reply (found through the runtime under test)."""
        RUNTIMES[-1].services[name].pending.resolve(f"resolved-by-{self.settings.name}")  # type: ignore[attr-defined]

    def resolve(self, value: Any) -> None:
        self.pending.resolve(value)

    def start_worker(self, name: str) -> None:
        assert self.ctx is not None
        self.ctx.start_child("sup", ChildSpec(name, f"{__name__}:build", options={"role": "worker"}))


RUNTIMES: list[LocalRuntime] = []  # the runtime of the running test, for resolve_other


def build(settings: ServiceSettings) -> Recorder:
    return Recorder(settings)


class FailsToStart:
    def on_start(self, ctx: ActorContext) -> None:
        raise RuntimeError("disk missing")


@pytest.fixture
def rt(data_dir: Path) -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(data_dir)
    RUNTIMES.append(runtime)
    runtime.start("a", f"{__name__}:build", color="red")
    runtime.start("b", f"{__name__}:build")
    yield runtime
    RUNTIMES.remove(runtime)
    runtime.close()


def svc(rt: LocalRuntime, name: str) -> Recorder:
    s = rt.services[name]
    assert isinstance(s, Recorder)
    return s


def test_start_builds_from_the_factory_with_settings(rt: LocalRuntime, data_dir: Path) -> None:
    a = svc(rt, "a")
    assert a.settings == ServiceSettings("a", data_dir, {"color": "red"})
    assert a.ctx is not None
    assert a.ctx.name == "a"
    assert a.ctx.data_dir == data_dir
    assert isinstance(a.ctx, ActorContext)
    assert isinstance(rt, Caller)


def test_a_service_name_is_hosted_once(rt: LocalRuntime) -> None:
    with pytest.raises(UsageError):
        rt.start("a", f"{__name__}:build")


def test_a_service_whose_on_start_fails_is_not_hosted(data_dir: Path) -> None:
    rt = LocalRuntime(data_dir)
    with pytest.raises(RuntimeError):
        rt.add_service("broken", FailsToStart())
    assert "broken" not in rt.services


def test_call_returns_the_value_and_raises_the_error_class(rt: LocalRuntime) -> None:
    assert rt.call("a", "note", value=3) == 3
    with pytest.raises(ConflictError) as info:
        rt.call("a", "fail")
    assert info.value.details == {"run_id": "r1"}
    with pytest.raises(NotFoundError):
        rt.call("nobody", "note")
    with pytest.raises(NotFoundError):
        rt.call("a", "no_such_method")


def test_tells_from_a_test_are_delivered_at_once_in_order(rt: LocalRuntime) -> None:
    for i in range(3):
        rt.tell("a", "note", value=i)
    assert svc(rt, "a").log == [("note", 0), ("note", 1), ("note", 2)]


def test_tells_from_a_service_arrive_after_its_method_returns(rt: LocalRuntime) -> None:
    """As in an actor: a tell is a message, handled after the sender's current one."""
    assert rt.call("a", "relay", to="b", values=[1, 2, 3]) == "relayed"
    assert svc(rt, "a").log == [("relay-returned", 3)]
    assert svc(rt, "b").log == [("note", 1), ("note", 2), ("note", 3)]


def test_a_service_telling_itself_is_not_reentered(rt: LocalRuntime) -> None:
    rt.call("a", "tell_self")
    assert svc(rt, "a").log == [("tell_self-returned", None), ("note", "from-self")]


def test_a_deferred_reply_is_returned_once_resolved(rt: LocalRuntime) -> None:
    assert rt.call("a", "wait_and_relay", to="b") == "resolved-by-b"


def test_a_deferred_reply_nobody_resolves_is_a_usage_error(rt: LocalRuntime) -> None:
    with pytest.raises(UsageError) as info:
        rt.call("a", "wait")
    assert "deferred" in str(info.value)


def test_a_deferred_failure_raises_its_error(rt: LocalRuntime) -> None:
    class Failing:
        def __init__(self) -> None:
            self.ctx: Any = None

        def on_start(self, ctx: Any) -> None:
            self.ctx = ctx

        def go(self) -> Any:
            d = self.ctx.defer()
            d.fail(NotFoundError("gone"))
            return d

    rt.add_service("f", Failing())
    with pytest.raises(NotFoundError):
        rt.call("f", "go")


def test_call_later_fires_only_when_the_fake_clock_reaches_it(rt: LocalRuntime) -> None:
    rt.call("a", "later", delay=5.0, value="five")
    rt.call("a", "later", delay=1.0, value="one")
    assert rt.pending_timers == 2
    assert rt.advance(0.5) == 0
    assert svc(rt, "a").log == []
    assert rt.advance(1.0) == 1
    assert rt.advance(10.0) == 1
    assert svc(rt, "a").log == [("note", "one"), ("note", "five")]
    assert rt.pending_timers == 0


def test_timers_see_their_due_time_and_chains_fire_within_one_advance(rt: LocalRuntime) -> None:
    start = rt.clock.now
    rt.call("a", "tick", clock=rt.clock, every=2.0, times=4)
    assert rt.advance(10.0) == 3
    assert [t for _, t in svc(rt, "a").log] == [start, start + 2.0, start + 4.0, start + 6.0]
    assert rt.clock.now == start + 10.0


def test_timers_due_together_fire_in_the_order_they_were_set(rt: LocalRuntime) -> None:
    for v in "xyz":
        rt.call("a", "later", delay=1.0, value=v)
    rt.advance(1.0)
    assert [v for _, v in svc(rt, "a").log] == ["x", "y", "z"]


def test_the_clock_never_goes_back(rt: LocalRuntime) -> None:
    with pytest.raises(UsageError):
        rt.advance(-1)


def test_publish_reaches_matching_subscribers_and_the_event_log(rt: LocalRuntime) -> None:
    seen: list[PublishedEvent] = []
    rt.subscribe("run.*.node.#", seen.append)
    rt.call("a", "announce", topic="run.r1.node.n1.succeeded", payload={"ok": True})
    rt.call("a", "announce", topic="run.r1.finished")
    assert seen == [PublishedEvent("run.r1.node.n1.succeeded", {"ok": True}, "a")]
    assert [e.topic for e in rt.events_matching("run.#")] == ["run.r1.node.n1.succeeded", "run.r1.finished"]


def test_bad_subscription_patterns_are_refused(rt: LocalRuntime) -> None:
    with pytest.raises(UsageError):
        rt.subscribe("run.#.x", lambda ev: None)


def test_tells_to_missing_services_and_failing_tells_are_dead_letters(rt: LocalRuntime) -> None:
    letters: list[PublishedEvent] = []
    rt.subscribe("dead_letter", letters.append)
    rt.tell("ghost", "note", value=1)
    rt.tell("a", "fail")
    assert [(e.payload["service"], e.payload["method"], e.payload["error"]["code"]) for e in letters] == [
        ("ghost", "note", "not_found"), ("a", "fail", "conflict")]
    assert len(list(rt.events_matching("dead_letter"))) == 2


def test_start_child_hosts_a_new_service(rt: LocalRuntime, data_dir: Path) -> None:
    rt.call("a", "start_worker", name="w1")
    w = svc(rt, "w1")
    assert w.settings == ServiceSettings("w1", data_dir, {"role": "worker"})
    assert rt.call("w1", "note", value="hi") == "hi"


def test_close_stops_every_service(rt: LocalRuntime) -> None:
    a, b = svc(rt, "a"), svc(rt, "b")
    rt.close()
    assert a.stopped and b.stopped
    assert rt.services == {}


def test_a_given_clock_is_used(data_dir: Path) -> None:
    clock = FakeClock(start=50.0)
    rt = LocalRuntime(data_dir, clock)
    assert rt.clock is clock
    rt.advance(2.5)
    assert clock.time() == 52.5
