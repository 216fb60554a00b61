"""The client and the bus against a real system: typed errors, crashes, late replies, pub/sub, flow control."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from symphony_actors.domain.errors import (
    BusyError,
    DeadlineExceeded,
    InvalidTypeError,
    NotFoundError,
    NotRunningError,
    ServiceCrashed,
)
from symphony_actors.testing.trees import echo, flat_tree
from symphony_actors.testing.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def sut(make_system):
    return make_system(flat_tree(echo("a"), echo("b"), echo("listener", subscribe=["news.*"])))


def test_remote_errors_arrive_as_their_own_types(sut):
    with pytest.raises(NotFoundError, match="nothing here"):
        sut.client.call("a", "missing")
    with pytest.raises(NotFoundError, match="no method"):
        sut.client.call("a", "no_such_method")
    with pytest.raises(NotFoundError, match="no service named"):
        sut.client.call("nobody", "echo")
    with pytest.raises(InvalidTypeError, match="bad arguments"):
        sut.client.call("a", "echo", wrong=1)
    assert sut.client.call("a", "echo", value={"still": "serving"}) == {"still": "serving"}


def test_a_crash_during_a_request_is_a_typed_error_not_a_timeout(sut):
    started = time.monotonic()
    with pytest.raises(ServiceCrashed):
        sut.client.call("a", "die", timeout=30)
    assert time.monotonic() - started < 10
    assert sut.client.call("a", "echo", value=1) == 1  # restarted, and found at its new address
    with pytest.raises(ServiceCrashed, match="RuntimeError: boom"):
        sut.client.call("b", "boom")
    assert sut.client.call("b", "echo", value=2) == 2


def test_a_late_reply_never_answers_the_next_request(sut):
    with pytest.raises(DeadlineExceeded):
        sut.client.call("a", "hang", seconds=0.6, timeout=0.2)
    assert sut.client.call("a", "echo", value="mine") == "mine"
    assert sut.client.call("a", "echo", value="also mine") == "also mine"


def test_request_reply_between_services_goes_direct(sut):
    assert sut.client.call("a", "ask_other", target="b", value=7) == {"via": "a", "result": 7}
    with pytest.raises(NotFoundError):
        sut.client.call("a", "ask_other", target="ghost", value=7)


def test_subscribe_with_wildcards_sees_published_events(sut):
    sub = sut.client.subscribe("news.#")
    other = sut.client.subscribe("weather.*")
    assert sut.client.publish("news.sports.final", {"score": 3}) >= 1
    sut.client.call("a", "publish_many", topic="news.tech", count=5)
    got: list[dict] = []
    wait_for(lambda: got.extend(sub.get(timeout=0.2)) or len(got) >= 6, what="six events")
    assert [e["topic"] for e in got] == ["news.sports.final"] + ["news.tech"] * 5
    assert [e["payload"]["i"] for e in got[1:]] == [0, 1, 2, 3, 4]
    assert other.get(timeout=0.1) == []
    # a service subscribed to news.* got the one-segment ones only
    seen = wait_for(lambda: sut.client.call("listener", "seen_events"), what="listener events")
    assert {e["topic"] for e in seen} == {"news.tech"}


def test_a_slow_subscriber_is_told_how_many_events_it_missed(sut):
    sub = sut.client.subscribe("flood.*", capacity=10)
    sut.client.call("a", "publish_many", topic="flood.x", count=50)
    wait_for(lambda: sut.client.call("bus", "stats")["published"] >= 50, what="all published")
    events = sub.get(timeout=0.5)
    assert len(events) == 10
    assert sub.dropped == 40
    assert [e["payload"]["i"] for e in events] == list(range(40, 50))


def test_sends_to_unknown_services_become_counted_dead_letters(sut):
    before = sut.client.call("bus", "stats")["dead_letters"]
    sut.client.call("a", "forward", target="nobody", count=3)
    wait_for(lambda: sut.client.call("bus", "stats")["dead_letters"] >= before + 3, what="dead letters")
    letters = sut.client.call("bus", "dead_letters")
    assert {d["service"] for d in letters[-3:]} == {"nobody"}


def test_flow_control_delivers_everything_and_refuses_past_the_bound(sut):
    assert sut.client.call("a", "forward", target="b", count=20_000) == 20_000
    wait_for(lambda: len(sut.client.call("b", "received_values")) >= 20_000, timeout=60, what="all 20k")
    assert sut.client.call("b", "received_values") == list(range(20_000))  # none lost, in order
    with pytest.raises(BusyError, match="outbox to 'nobody-yet' is full"):
        sut.client.call("a", "forward", target="nobody-yet", count=25_000)


def test_every_listening_socket_is_on_loopback(sut):
    pids = sut.session_pids()
    assert len(pids) >= 5
    listening = []
    for c in psutil.net_connections(kind="inet"):
        if c.pid in pids and c.status == psutil.CONN_LISTEN:
            listening.append(c.laddr.ip)
    assert listening and set(listening) == {"127.0.0.1"}


def test_a_client_in_another_process_attaches_with_connect(sut, tmp_path):
    script = (
        "import symphony_actors, sys\n"
        f"with symphony_actors.connect({sut.port}) as c:\n"
        "    print(c.ask('a', {'method': 'echo', 'value': 'from afar'}))\n"
        "    print(sorted(n['name'] for n in c.status()['nodes']))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "from afar"
    assert "listener" in lines[1]


def test_connect_to_nothing_says_not_running():
    import symphony_actors
    from tests.integration.conftest import free_port

    port = free_port()
    with pytest.raises(NotRunningError, match=f"no Symphony system is listening on port {port}"):
        symphony_actors.connect(port)


def test_requests_go_over_the_direct_socket_and_it_is_removed_at_stop(make_system):
    from symphony_actors.runtime.direct import socket_dir

    sut = make_system(flat_tree(echo("d")))
    assert sut.client.call("d", "echo", value=1) == 1
    assert "d" in sut.client._endpoint._sockets  # the reply came over the data plane, not Thespian
    assert any(p.name.startswith("d-") for p in socket_dir(sut.port).iterdir())
    sut.system.stop()
    assert not socket_dir(sut.port).exists() or not any(socket_dir(sut.port).iterdir())


def test_everything_still_works_through_thespian_alone(make_system, monkeypatch):
    monkeypatch.setenv("SYMPHONY_DIRECT", "0")
    sut = make_system(flat_tree(echo("a"), echo("b")))
    assert sut.client.call("a", "ask_other", target="b", value=3) == {"via": "a", "result": 3}
    assert sut.client._endpoint._sockets == {}
    with pytest.raises(ServiceCrashed):
        sut.client.call("a", "die", timeout=30)
    assert sut.client.call("a", "echo", value=2) == 2
