"""The WebSocket gateway on a real system: invoke, listen, status, typed errors, access control, restarts."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from symphony_actors.ports.service import ChildSpec
from symphony_actors.testing.trees import echo, flat_tree
from symphony_actors.testing.waiting import wait_for
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from symphony_actors.client import Client
    from symphony_actors.runtime.system import boot, session_pids

    port, ws_port = free_port(), free_port()
    tree = flat_tree(echo("a"), ChildSpec("gateway", "symphony_actors.gateway.service:build",
                                          options={"system_port": port, "port": ws_port}))
    system = boot(tree, port, tmp_path_factory.mktemp("gw"))
    client = Client(port, timeout=30)
    try:
        info = client.call("gateway", "status")
        token = Path(info["token_file"]).read_text().strip()
        wait_for(lambda: _listening(ws_port), what="the gateway to listen")
        yield {"client": client, "port": ws_port, "token": token, "url": f"ws://127.0.0.1:{ws_port}/?token={token}"}
        pids = {client.call("gateway", "status")["pid"]}
    finally:
        client.close()
        system.stop()
    assert session_pids(system.session_id) == []
    assert not any(p and psutil.pid_exists(p) for p in pids)  # the gateway process went with its service


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def ask(ws: Any, msg: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(msg))
    while True:
        reply = json.loads(ws.recv(timeout=10))
        if reply.get("id") == msg.get("id"):
            return reply


def test_invoke_calls_a_service_and_errors_come_back_typed(gateway):
    with connect(gateway["url"]) as ws:
        assert ask(ws, {"id": 1, "cmd": "invoke", "service": "a", "method": "echo", "args": {"value": [1, "x"]}}) \
            == {"id": 1, "ok": True, "result": [1, "x"]}
        missing = ask(ws, {"id": 2, "cmd": "invoke", "service": "nobody", "method": "echo"})
        assert missing["ok"] is False and missing["error"]["code"] == "not_found"
        bad = ask(ws, {"id": 3, "cmd": "explode"})
        assert bad["error"]["code"] == "usage" and "unknown cmd" in bad["error"]["message"]


def test_malformed_json_is_answered_and_the_connection_goes_on(gateway):
    with connect(gateway["url"]) as ws:
        ws.send("{not json")
        reply = json.loads(ws.recv(timeout=10))
        assert reply["ok"] is False and reply["error"]["code"] == "protocol"
        assert ask(ws, {"id": 9, "cmd": "invoke", "service": "a", "method": "echo", "args": {"value": 1}})["ok"]


def test_listen_emits_bus_events_and_status_shows_the_tree(gateway):
    with connect(gateway["url"]) as ws:
        assert ask(ws, {"id": 1, "cmd": "listen", "pattern": "ui.#"})["ok"]
        gateway["client"].publish("ui.clicked", {"button": "run"})
        event = json.loads(ws.recv(timeout=10))
        assert event["event"] == "ui.clicked" and event["payload"] == {"button": "run"} and event["listen"] == 1
        status = ask(ws, {"id": 2, "cmd": "status"})["result"]
        assert {"root", "bus", "a", "gateway"} <= {n["name"] for n in status["nodes"]}
        assert ask(ws, {"id": 3, "cmd": "unlisten", "listen": 1})["ok"]


def test_connections_without_the_token_or_from_other_origins_are_refused(gateway):
    base = f"ws://127.0.0.1:{gateway['port']}/"
    with pytest.raises(InvalidStatus) as no_token:
        connect(base)
    assert no_token.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as foreign:
        connect(gateway["url"], origin="http://evil.example")
    assert foreign.value.response.status_code == 403
    with connect(gateway["url"], origin=f"http://127.0.0.1:{gateway['port']}") as ws:  # its own page
        assert ask(ws, {"id": 1, "cmd": "status"})["ok"]


def test_the_page_is_served_with_the_token_only(gateway):
    page = urllib.request.urlopen(f"http://127.0.0.1:{gateway['port']}/?token={gateway['token']}", timeout=10)
    assert b"<title>Symphony</title>" in page.read()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{gateway['port']}/", timeout=10)
    assert refused.value.code == 403


def test_a_crashed_gateway_process_is_restarted(gateway):
    client = gateway["client"]
    old = client.call("gateway", "status")["pid"]
    os.kill(old, signal.SIGKILL)
    new = wait_for(lambda: (p := client.call("gateway", "status")["pid"]) not in (None, old) and p,
                   timeout=15, what="a new gateway process")
    assert new != old
    wait_for(lambda: _listening(gateway["port"]), what="the new gateway to listen")
    with connect(gateway["url"]) as ws:
        assert ask(ws, {"id": 1, "cmd": "invoke", "service": "a", "method": "echo", "args": {"value": 2}})["ok"]
