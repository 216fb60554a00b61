"""`symphony run | result | retry | run-status | artifact get` as a user runs them: real subprocesses of the
CLI against a real system (started with `symphony start`), real pipes, a real tracker crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cbor2
import psutil
import pytest

from symphony_actors.client import Client
from symphony_actors.config import resolve
from symphony_actors.domain.workflow import Workflow, save
from symphony_actors.runtime.launcher import read_run_file
from symphony_actors.runtime.system import session_pids
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.waiting import wait_for
from tests.integration.conftest import free_port


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: the builtin.call nodes of these tests call test callables, allowed here."""
    with allow_callables():
        yield

pytestmark = pytest.mark.integration

CLI = [sys.executable, "-m", "symphony_actors.cli"]
READ = {"callable": "symphony_actors.testing.services:read_number"}


@dataclass
class Sym:
    port: int
    home: Path
    env: dict[str, str]
    client: Client

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, text=True, capture_output=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def shell(self, pipeline: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A real shell pipeline; ``symphony`` in it is this checkout's CLI; prints the CLI's exit code last."""
        cli = " ".join(CLI)
        script = f"{pipeline.replace('symphony ', cli + ' ', 1)}; echo \"cli_rc=${{PIPESTATUS[0]}}\" >&2"
        return subprocess.run(["bash", "-c", script], env=self.env, text=True, capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def sym(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sym]:
    home = tmp_path_factory.mktemp("cli-runs")
    port = free_port()
    env = {**os.environ, "SYMPHONY_PORT": str(port), "SYMPHONY_HOME": str(home)}
    started = subprocess.run([*CLI, "start", "--tree", "symphony_actors.testing.trees:dag_tree"], env=env,
                             text=True, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert started.returncode == 0, started.stderr
    info = read_run_file(resolve(port, str(home)))
    assert info is not None
    client = Client(port, timeout=30)
    try:
        yield Sym(port, home, env, client)
    finally:
        client.close()
        subprocess.run([*CLI, "stop"], env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        left = [p for p in session_pids(info["session_id"]) if psutil.pid_exists(p)]
        assert left == [], f"processes left behind: {left}"


def run_id_of(stderr: str) -> str:
    line = next(ln for ln in stderr.splitlines() if ln.startswith("started run "))
    return line.split()[2].rstrip(":")


def counted(log: Path) -> list[tuple[str, str]]:
    return [(ln.split()[0], ln.split()[1]) for ln in log.read_text().splitlines()] if log.exists() else []


def test_run_prints_the_terminal_results_and_exits_0(sym: Sym, tmp_path: Path) -> None:
    wf = (Workflow.build("hello")
          .operator("a", "builtin.const", params={"value": {"greeting": "hi", "nested": {"k": [1, 2]}}},
                    outputs={"out": "any"})
          .operator("b", "builtin.identity", inputs={"in": "any"}, outputs={"out": "any"}).connect("a", "b")
          .operator("t", "builtin.const", params={"value": "plain text"}, outputs={"out": "string"}).build())
    path = save(wf, tmp_path / "hello.json")
    out = sym("run", str(path))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"b": {"greeting": "hi", "nested": {"k": [1, 2]}}, "t": "plain text"}
    assert "SUCCEEDED" in out.stderr
    rid = run_id_of(out.stderr)

    quiet = sym("run", str(path), "--quiet")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    as_json = json.loads(sym("run", str(path), "--json").stdout)
    assert as_json["status"] == "succeeded" and as_json["results"]["t"] == "plain text"

    # One node's result: JSON; --raw: text as it is, structured data as its stored artifact (CBOR).
    assert json.loads(sym("result", rid, "b").stdout) == {"greeting": "hi", "nested": {"k": [1, 2]}}
    assert sym("result", rid, "t", "--raw").stdout == "plain text"
    raw = subprocess.run([*CLI, "result", rid, "b", "--raw"], env=sym.env, capture_output=True, timeout=120)
    assert cbor2.loads(raw.stdout) == {"greeting": "hi", "nested": {"k": [1, 2]}}
    missing = sym("result", rid, "nosuch")
    assert missing.returncode == 2 and "has no node 'nosuch'" in missing.stderr

    # The artifact of a node's result: JSON on standard output, the CBOR bytes with --raw.
    artifact = sym.client.run(rid).status(nodes=True)["nodes"]["b"]["artifact"]
    got = sym("artifact", "get", artifact)
    assert got.returncode == 0 and json.loads(got.stdout) == {"greeting": "hi", "nested": {"k": [1, 2]}}
    raw = subprocess.run([*CLI, "artifact", "get", artifact, "--raw"], env=sym.env, capture_output=True,
                         timeout=120)
    assert cbor2.loads(raw.stdout) == {"greeting": "hi", "nested": {"k": [1, 2]}}


def chain(log: Path, number: Path) -> Workflow:
    return (Workflow.build("chain")
            .operator("a", "builtin.count", params={"path": str(log)})
            .operator("b", "builtin.call", params={**READ, "kwargs": {"path": str(number)}}, outputs={"out": "any"})
            .operator("c", "builtin.count", params={"path": str(log)}, inputs={"in": "any"}, outputs={"out": "any"})
            .after("a", "b").connect("b", "c").build())


def test_a_failed_run_exits_1_and_a_retry_reruns_only_its_failed_part(sym: Sym, tmp_path: Path) -> None:
    log, number = tmp_path / "count.log", tmp_path / "number.txt"
    number.write_text("oops")
    path = save(chain(log, number), tmp_path / "chain.json")
    failed = sym("run", str(path))
    assert failed.returncode == 1
    assert "FAILED" in failed.stderr and "failed b: UsageError" in failed.stderr
    assert "does not hold a number" in failed.stderr
    first = run_id_of(failed.stderr)
    assert counted(log) == [(first, "a")]

    number.write_text("41")  # the cause, fixed
    retried = sym("retry", first)
    assert retried.returncode == 0, retried.stderr
    second = run_id_of(retried.stderr)
    assert json.loads(retried.stdout) == {"c": 41.0}
    assert counted(log) == [(first, "a"), (second, "c")]  # a did not run again; b and c did
    status = sym("run-status", second, "--nodes")
    assert f"retry of {first} (its failed part)" in status.stdout
    assert "reused 1 node(s) from earlier runs: a" in status.stdout
    a_line = next(ln for ln in status.stdout.splitlines() if ln.strip().startswith("a "))
    assert "(reused)" in a_line
    again = sym("retry", second)
    assert again.returncode == 2 and "nothing failed to retry" in again.stderr

    number.write_text("5")
    from_b = sym("retry", second, "--from", "b")
    assert from_b.returncode == 0, from_b.stderr
    third = run_id_of(from_b.stderr)
    assert json.loads(from_b.stdout) == {"c": 5.0}  # b read the file again
    assert [n for r, n in counted(log) if r == third] == ["c"]
    snap = sym.client.run(third).status(nodes=True)
    assert snap["retry_of"] == {"run_id": second, "from_node": "b"} and snap["reused"] == ["a"]
    assert sym("retry", second, "--from", "zz").returncode == 2


def test_run_follows_a_tracker_restart_and_exits_0(sym: Sym, tmp_path: Path) -> None:
    b = Workflow.build("slow").operator("s0", "builtin.const", params={"value": "x"}, outputs={"out": "any"})
    for i in range(1, 9):
        b = b.operator(f"s{i}", "builtin.sleep", params={"seconds": 0.4}, inputs={"in": "any"},
                       outputs={"out": "any"}).connect(f"s{i - 1}", f"s{i}")
    path = save(b.build(), tmp_path / "slow.json")
    proc = subprocess.Popen([*CLI, "run", str(path)], env=sym.env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert proc.stderr is not None
        rid = run_id_of(proc.stderr.readline())
        run = sym.client.run(rid)
        wait_for(lambda: run.status()["counts"].get("succeeded", 0) >= 2, timeout=60, what="two nodes done")
        old_pid = next(n["pid"] for n in sym.client.status()["nodes"] if n["name"] == "dag")
        sym.client.kill("dag")  # while the CLI waits on the tracker for the run's end
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr and "SUCCEEDED" in stderr
    assert json.loads(stdout) == {"s8": "x"}
    dag = next(n for n in sym.client.status()["nodes"] if n["name"] == "dag")
    assert dag["pid"] != old_pid and dag["restarts"] >= 1
    assert sym.client.run(rid).status()["status"] == "succeeded"


def test_a_closed_pipe_ends_the_output_without_a_traceback(sym: Sym, tmp_path: Path) -> None:
    listing = sym.shell("symphony runs | head -c0")  # the reader is gone before the first line
    assert "cli_rc=141" in listing.stderr
    assert "Traceback" not in listing.stderr and "Exception ignored" not in listing.stderr
    big = (Workflow.build("big").operator("big", "builtin.const", params={"value": list(range(30_000))},
                                          outputs={"out": "any"}).build())
    path = save(big, tmp_path / "big.json")
    head = sym.shell(f"symphony run {path} | head -1")  # more than a pipe holds: head leaves after a line
    assert head.stdout == "{\n"
    assert "cli_rc=0" in head.stderr, head.stderr
    assert "Traceback" not in head.stderr and "Exception ignored" not in head.stderr
    full = sym("run", str(path))  # a result too large to travel inline comes from its artifact
    assert json.loads(full.stdout) == {"big": list(range(30_000))}


def test_a_handle_waiting_on_the_tracker_gets_the_outcome_across_its_restart(sym: Sym) -> None:
    import threading

    b = Workflow.build("slow2").operator("s0", "builtin.const", params={"value": 1}, outputs={"out": "any"})
    for i in range(1, 7):
        b = b.operator(f"s{i}", "builtin.sleep", params={"seconds": 0.4}, inputs={"in": "any"},
                       outputs={"out": "any"}).connect(f"s{i - 1}", f"s{i}")
    run = sym.client.run_workflow(b.build())
    outcome: dict[str, object] = {}
    waiting = threading.Event()

    def wait() -> None:
        with Client(sym.port, timeout=30) as other:  # its own connection, blocked in the tracker's wait
            handle = other.run(run.run_id)
            waiting.set()
            try:
                outcome["snap"] = handle.wait(120)
                outcome["restarts"] = handle.restarts_seen
            except Exception as exc:  # noqa: BLE001 - the assertion below reports it
                outcome["error"] = exc

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait(30)
    wait_for(lambda: run.status()["counts"].get("succeeded", 0) >= 2, timeout=60, what="two nodes done")
    sym.client.kill("dag")
    thread.join(150)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["snap"]["status"] == "succeeded"  # type: ignore[index]
    assert outcome["restarts"] >= 1  # type: ignore[operator]
