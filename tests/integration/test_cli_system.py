"""`symphony start | status | kill | stop` as a user runs them, as real subprocesses."""

from __future__ import annotations

import json
import socket

import psutil
import pytest

from symphony_actors.config import resolve
from symphony_actors.runtime.launcher import read_run_file
from symphony_actors.runtime.system import session_pids

pytestmark = pytest.mark.integration

TREE = ("--tree", "symphony_actors.testing.trees:small_tree")


def test_start_status_kill_stop_leaves_no_process(cli):
    out = cli("start", *TREE)
    assert out.returncode == 0, out.stderr
    assert f"running on 127.0.0.1:{cli.port}" in out.stdout
    again = cli("start", *TREE)
    assert again.returncode == 0 and "already running" in again.stdout

    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    tree = json.loads(status.stdout)
    nodes = {n["name"]: n for n in tree["nodes"]}
    assert set(nodes) == {"root", "bus", "pit", "alpha", "beta"}
    assert tree["healthy"] and all(n["state"] == "running" for n in nodes.values())

    killed = cli("kill", "alpha")
    assert killed.returncode == 0, killed.stderr
    assert "restarted by its supervisor" in killed.stdout
    after = {n["name"]: n for n in json.loads(cli("status", "--json").stdout)["nodes"]}
    assert after["alpha"]["restarts"] == 1 and after["alpha"]["pid"] != nodes["alpha"]["pid"]
    human = cli("status")
    assert "alpha" in human.stdout and "healthy: yes" in human.stdout

    info = read_run_file(resolve(cli.port, cli.env["SYMPHONY_HOME"]))
    stopped = cli("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert not psutil.pid_exists(info["launcher_pid"]) or psutil.Process(info["launcher_pid"]).status() == "zombie"
    assert session_pids(info["session_id"]) == []
    assert cli("status").returncode == 3
    assert "not running" in cli("stop").stdout


def test_kill_of_an_unknown_name_is_a_clear_error(cli):
    assert cli("start", *TREE).returncode == 0
    out = cli("kill", "nosuch")
    assert out.returncode == 2
    assert "no service named 'nosuch'" in out.stderr


def test_a_port_taken_by_another_program_gets_a_clear_message(cli):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", cli.port))
        s.listen()
        out = cli("start", *TREE)
    assert out.returncode == 2
    assert f"port {cli.port} is already in use" in out.stderr


def test_a_stale_run_file_is_noted_and_replaced(cli):
    addr = resolve(cli.port, cli.env["SYMPHONY_HOME"])
    addr.run_dir.mkdir(parents=True)
    addr.pid_file.write_text(json.dumps({"launcher_pid": 999_999, "state": "running", "session_id": 999_999}))
    out = cli("start", *TREE)
    assert out.returncode == 0, out.stderr
    assert "stale run file" in out.stdout


def test_commands_without_a_system_say_so(cli):
    out = cli("status")
    assert out.returncode == 3 and "not running" in out.stdout
    out = cli("kill", "bus")
    assert out.returncode == 1 and "NotRunningError" in out.stderr


def test_a_crashed_admin_is_noticed_cleaned_up_and_the_port_reusable(cli):
    import os
    import signal

    from symphony_actors.testing.waiting import wait_for

    assert cli("start", *TREE).returncode == 0
    addr = resolve(cli.port, cli.env["SYMPHONY_HOME"])
    info = read_run_file(addr)
    os.kill(info["admin_pid"], signal.SIGKILL)
    final = wait_for(lambda: (r := read_run_file(addr)) and r["state"] == "stopped" and r, timeout=30,
                     what="the launcher to stop the system")
    assert "admin" in final["reason"]
    assert session_pids(info["session_id"]) == []  # the orphaned logger holding the port is gone too
    again = cli("start", *TREE)
    assert again.returncode == 0, again.stderr
