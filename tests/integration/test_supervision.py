"""Supervisors on a real multiprocTCPBase system: strategies, restart types, intensity, shutdown order."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import NotFoundError
from symphony_actors.ports.service import SupervisorSpec
from symphony_actors.testing.trees import echo, flat_tree
from symphony_actors.testing.waiting import wait_for

pytestmark = pytest.mark.integration


def restarted(sut, name: str, old_pid: int) -> bool:
    node = sut.node(name)
    return bool(node and node["state"] == "running" and node["pid"] not in (None, old_pid))


def test_one_for_one_restarts_only_the_crashed_child(make_system):
    sut = make_system(flat_tree(SupervisorSpec("s", children=(echo("a"), echo("b")), strategy="one_for_one")))
    before = sut.pids()
    sut.client.kill("a")
    wait_for(lambda: restarted(sut, "a", before["a"]), what="a restarted")
    after = sut.pids()
    assert after["b"] == before["b"]
    assert sut.node("a")["restarts"] == 1
    assert sut.client.call("a", "echo", value="back") == "back"


def test_one_for_all_restarts_every_sibling(make_system):
    sut = make_system(flat_tree(SupervisorSpec("s", children=(echo("a"), echo("b"), echo("c")),
                                               strategy="one_for_all")))
    before = sut.pids()
    sut.client.kill("b")
    for name in "abc":
        wait_for(lambda n=name: restarted(sut, n, before[n]), what=f"{name} restarted")
    assert sut.client.call("c", "echo", value=1) == 1


def test_rest_for_one_restarts_the_child_and_those_started_after_it(make_system):
    sut = make_system(flat_tree(SupervisorSpec("s", children=(echo("a"), echo("b"), echo("c")),
                                               strategy="rest_for_one")))
    before = sut.pids()
    sut.client.kill("b")
    wait_for(lambda: restarted(sut, "b", before["b"]) and restarted(sut, "c", before["c"]), what="b and c")
    assert sut.pids()["a"] == before["a"]


def test_temporary_child_is_not_restarted(make_system):
    sut = make_system(flat_tree(echo("keep"), echo("tmp", restart="temporary")))
    sut.client.kill("tmp")
    wait_for(lambda: sut.node("tmp") is None, what="tmp forgotten")
    with pytest.raises(NotFoundError):
        sut.client.call("tmp", "echo", value=1)


def test_transient_child_restarts_after_a_crash_but_not_after_a_normal_exit(make_system):
    sut = make_system(flat_tree(echo("t", restart="transient")))
    pid = sut.pids()["t"]
    sut.client.kill("t")
    wait_for(lambda: restarted(sut, "t", pid), what="t restarted after crash")
    sut.client.tell("t", "exit_normally")
    wait_for(lambda: sut.node("t") is None, what="t gone after normal exit")


def test_permanent_child_restarts_even_after_a_normal_exit(make_system):
    sut = make_system(flat_tree(echo("p")))
    pid = sut.pids()["p"]
    sut.client.tell("p", "exit_normally")
    wait_for(lambda: restarted(sut, "p", pid), what="p restarted")


def test_intensity_exceeded_escalates_to_the_parent_which_restarts_the_subtree(make_system):
    sub = SupervisorSpec("sub", children=(echo("x"),), max_restarts=1, within_seconds=30)
    sut = make_system(flat_tree(sub, max_restarts=5))
    sub_pid = sut.pids()["sub"]
    events = sut.client.subscribe("supervisor.#")
    for _ in range(2):  # the second crash within the window exceeds max_restarts=1
        pid = sut.pids()["x"]
        sut.client.kill("x")
        wait_for(lambda p=pid: restarted(sut, "x", p), what="x back")
    wait_for(lambda: restarted(sut, "sub", sub_pid), what="sub restarted by root")
    assert sut.node("sub")["restarts"] == 1
    seen: list[dict] = []
    wait_for(lambda: seen.extend(events.get(timeout=0.2)) or any(e["topic"] == "supervisor.escalated" for e in seen),
             what="an escalation event")
    assert sut.client.call("x", "echo", value="ok") == "ok"


def test_root_intensity_exceeded_stops_the_system_and_says_why(make_system):
    sut = make_system(flat_tree(echo("x"), max_restarts=1, within_seconds=30))
    for _ in range(2):
        pid = sut.pids().get("x")
        sut.client.kill("x")
        if _ == 0:
            wait_for(lambda p=pid: restarted(sut, "x", p), what="x back once")
    status = wait_for(lambda: (s := sut.client.status())["escalated"] and s, what="root escalation")
    assert "more than 1 restarts" in status["escalated"]
    assert not status["healthy"]


def test_hung_child_is_killed_and_restarted(make_system):
    sut = make_system(flat_tree(echo("h", hang_timeout=1.0)))
    pid = sut.pids()["h"]
    sut.client.tell("h", "hang")
    wait_for(lambda: restarted(sut, "h", pid), timeout=15, what="hung child replaced")
    assert "hung" in (sut.node("h")["detail"] or "") or sut.node("h")["restarts"] == 1


def test_ordered_shutdown_stops_children_in_reverse_start_order(make_system):
    sut = make_system(flat_tree(echo("first"), SupervisorSpec("mid", children=(echo("m1"), echo("m2"))),
                                echo("last")))
    assert sut.system.stop() == []  # nothing had to be killed: every child stopped within its timeout
    stopped = (sut.data_dir / "stopped.log").read_text().split()
    assert stopped == ["last", "m2", "m1", "first"]


def test_a_child_that_cannot_start_fails_the_boot_with_its_reason(make_system):
    from symphony_actors.domain.errors import SymphonyFailure

    tree = flat_tree(echo("ok"), SupervisorSpec("bad", children=(echo("broken", fail_start=True),),
                                                max_restarts=1, within_seconds=30), max_restarts=1)
    with pytest.raises(SymphonyFailure) as info:
        make_system(tree)
    assert "configured to fail at start" in str(info.value)


def test_services_can_be_started_and_stopped_in_a_running_system(make_system):
    from symphony_actors.domain.errors import ConflictError

    sut = make_system(flat_tree(SupervisorSpec("s", children=(echo("a"),))))
    sut.client.start_service("late", "symphony_actors.testing.services:build_echo", supervisor="s")
    assert sut.client.call("late", "echo", value=3) == 3
    assert sut.node("late")["parent"] == "s"
    with pytest.raises(NotFoundError, match="no supervisor named 'nope'"):
        sut.client.start_service("x", "symphony_actors.testing.services:build_echo", supervisor="nope")
    with pytest.raises(ConflictError):
        sut.client.start_service("a", "symphony_actors.testing.services:build_echo", supervisor="s")
    sut.client.stop_service("late", supervisor="s")
    wait_for(lambda: sut.node("late") is None, what="late forgotten")
