"""Extension actors on a real actor system: examples as DAG nodes, hostile extensions contained and audited.

One system for the module (booting one costs seconds on two shared cores); each test installs what it
needs under its own ids or reuses the module's loaded extensions. At the end, the system is stopped and
neither its actors nor any extension worker or zygote may be left.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from symphony_actors.client import Client
from symphony_actors.domain.errors import ExtensionFailed, PermissionDenied
from symphony_actors.domain.workflow import RetryPolicy, Workflow
from symphony_actors.extension_host.service import ExtensionPortClient
from symphony_actors.runtime.system import boot, session_pids
from symphony_actors.testing.trees import extensions_tree
from symphony_actors.testing.waiting import wait_for
from tests.integration.conftest import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "extensions"
FIXTURES = ROOT / "tests" / "fixtures" / "extensions"
HOSTILE, STEADY = "test.hostile", "test.steady"


class Env:
    def __init__(self, client: Client, data: Path, workspace: Path) -> None:
        self.client = client
        self.data = data
        self.workspace = workspace
        self.port = ExtensionPortClient(client)
        self.pids: set[int] = set()

    def worker_pid(self, ext_id: str) -> int:
        status = self.client.call(f"ext:{ext_id}", "status")
        pid = int(status["pid"])
        self.pids.update({pid, int(status["zygote_pid"])})
        return pid

    def audit(self, ext_id: str) -> list[dict[str, Any]]:
        path = self.data / "extensions" / "audit.jsonl"
        lines = path.read_text().splitlines() if path.exists() else []
        return [r for r in map(json.loads, lines) if r["extension"] == ext_id]

    def node_gone(self, name: str) -> bool:
        return all(n["name"] != name for n in self.client.status()["nodes"])

    def core_answers(self) -> None:
        assert self.client.call("dag", "stats")["tasks_done"] >= 0
        assert self.client.call("bus", "stats") is not None


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    root = tmp_path_factory.mktemp("ext-actors")
    ws = root / "workspace"
    (ws / "docs").mkdir(parents=True)
    (ws / "docs" / "a.md").write_text("# Alpha\n\nThe alpha document.\nIt has lines.\n")
    (ws / "docs" / "b.txt").write_text("Beta text.\n" * 20)
    (ws / "docs" / "tool.py").write_text("def f(x):\n    if x:\n        return 1\n    return 2\n")
    data = root / "data"
    system = boot(extensions_tree({"workspace": str(ws), "executors": 1}), free_port(), data)
    client = Client(system.port, timeout=60)
    e = Env(client, data, ws)
    try:
        e.port.install(str(FIXTURES / "hostile"))
        e.port.install(str(FIXTURES / "steady"))
        e.port.activate(HOSTILE)
        e.port.activate(STEADY)
        yield e
        for ext in e.port.loaded_extensions():
            e.pids.update(p for p in (ext.get("pid"), ext.get("zygote_pid")) if p)
    finally:  # the system is stopped whatever happened above
        client.close()
        system.stop()
    assert session_pids(system.session_id) == []
    wait_for(lambda: not any(psutil.pid_exists(p) for p in e.pids), timeout=10, what="workers and zygotes to exit")


def run_workflow(env: Env, wf: Workflow, timeout: float = 60) -> dict[str, Any]:
    run = env.client.run_workflow(wf)
    snap: dict[str, Any] = run.wait(timeout=timeout)
    return env.client.call("dag", "status", run_id=snap["run_id"], nodes=True)  # type: ignore[no-any-return]


def test_examples_run_as_dag_nodes_in_their_extension_actors(env: Env) -> None:
    for name in ("read-files", "chunk-text", "py-metrics"):
        env.port.install(str(EXAMPLES / name))
    assert env.port.load("symphony.read-files")["state"] == "loaded"
    env.port.load("symphony.chunk-text")
    env.port.load("symphony.py-metrics")
    wf = (Workflow.build("examples")
          .operator("read", "symphony.read-files/read-files", params={"include": ["*.md", "*.txt", "*.py"]},
                    inputs={"root": "string"}, outputs={"root": "string", "files": "list", "skipped": "list"})
          .operator("root", "builtin.const", params={"value": str(env.workspace / "docs")}, outputs={"out": "string"})
          .operator("chunk", "symphony.chunk-text/chunk", params={"size": 64, "overlap": 0},
                    inputs={"files": "list"}, outputs={"chunks": "list"})
          .operator("metrics", "symphony.py-metrics/py-metrics", inputs={"files": "list"},
                    outputs={"modules": "list", "functions": "list", "errors": "list", "summary": "object"})
          .connect("root", "read.root").connect("read.files", "chunk.files").connect("read.files", "metrics.files")
          .build(validate=False))
    snap = run_workflow(env, wf)
    assert snap["status"] == "succeeded", snap
    rid = snap["run_id"]
    files = env.client.call("dag", "result", run_id=rid, node_id="read")["files"]
    assert [Path(f["path"]).name for f in files] == ["a.md", "b.txt", "tool.py"]
    chunks = env.client.call("dag", "result", run_id=rid, node_id="chunk")
    assert len(chunks) > 3 and {c["source"] for c in chunks} >= {f["path"] for f in files}
    functions = env.client.call("dag", "result", run_id=rid, node_id="metrics")["functions"]
    assert [(f["name"], f["complexity"]) for f in functions] == [("f", 2)]
    assert snap["nodes"]["chunk"]["artifact"]            # outputs recorded as artifacts, like executors do
    # Workflows activated them; the host knows, and each ran in its own sandboxed worker.
    # The actors tell the host they activated (asynchronously): its view catches up within moments.
    def states() -> dict[str, str]:
        return {e["id"]: e["state"] for e in env.port.list()}

    wait_for(lambda: states()["symphony.read-files"] == states()["symphony.chunk-text"] == "active",
             what="the host to record both activations")
    assert len({env.worker_pid(x) for x in ("symphony.read-files", "symphony.chunk-text", "symphony.py-metrics")}) == 3


def test_a_node_of_an_extension_that_is_not_loaded_fails_with_not_found(env: Env) -> None:
    wf = (Workflow.build("missing")
          .operator("x", "nobody.here/thing", outputs={"out": "any"})
          .build(validate=False))
    snap = run_workflow(env, wf)
    assert snap["status"] == "failed"
    err = snap["nodes"]["x"]["error"]
    assert err["code"] == "not_found" and "nobody.here is not loaded" in err["message"]


def test_an_extension_node_that_crashes_fails_alone_and_its_worker_comes_back(env: Env) -> None:
    wf = (Workflow.build("crashy")
          .operator("mode", "builtin.const", params={"value": "crash"}, outputs={"out": "string"})
          .operator("bad", "test.hostile/act", inputs={"mode": "string"}, outputs={"result": "any"},
                    retry=RetryPolicy(retries=0))
          .operator("good", "test.steady/count", outputs={"calls": "integer"})
          .connect("mode", "bad.mode")
          .build(validate=False))
    snap = run_workflow(env, wf)
    assert snap["status"] == "failed"
    assert snap["nodes"]["good"]["status"] == "succeeded"
    err = snap["nodes"]["bad"]["error"]
    assert err["code"] == "extension_failed" and err["details"]["reason"] == "crash"
    assert env.port.send(HOSTILE, "process", {"inputs": {"mode": "ok"}})["result"]["calls"] == 1


@pytest.mark.parametrize(("mode", "reason", "permission"), [
    ("crash", "crash", "worker.crash"),
    ("hang", "timeout", "resource.time"),
    ("memory", "memory", "resource.memory"),
])
def test_a_dying_worker_is_a_typed_error_an_event_an_audit_record_and_a_restart(
        env: Env, mode: str, reason: str, permission: str) -> None:
    before = env.worker_pid(HOSTILE)
    steady_before = env.port.send(STEADY, "process", {"inputs": {}})["calls"]
    events = env.client.subscribe(f"extensions.{HOSTILE}.failed")
    try:
        with pytest.raises(ExtensionFailed) as info:
            env.port.send(HOSTILE, "process", {"inputs": {"mode": mode}})
        assert info.value.details["reason"] == reason
        got = wait_for(lambda: events.get(timeout=0.5), timeout=10, what="the failed event")
        assert got[0]["payload"]["reason"] == reason
    finally:
        events.close()
    assert any(r["permission"] == permission for r in env.audit(HOSTILE))
    # Restarted: a new worker, active again, answering; the others and the core never noticed.
    after = env.worker_pid(HOSTILE)
    assert after != before and not psutil.pid_exists(before)
    assert env.port.send(HOSTILE, "process", {"inputs": {"mode": "ok"}})["result"]["pid"] == after
    assert env.port.send(STEADY, "process", {"inputs": {}})["calls"] == steady_before + 1
    env.core_answers()
    health = env.port.health(HOSTILE)
    assert health["restarts"] >= 1 and health["last_error"]["code"] == "extension_failed"


@pytest.mark.parametrize(("mode", "permission", "target"), [
    ("read", "fs.read", "/etc/passwd"),
    ("exec", "process.spawn", "/bin/sh"),
])
def test_forbidden_file_reads_and_exec_are_denied_and_audited(env: Env, mode: str, permission: str,
                                                              target: str) -> None:
    pid = env.worker_pid(HOSTILE)
    with pytest.raises(PermissionDenied) as info:
        env.port.send(HOSTILE, "process", {"inputs": {"mode": mode}})
    assert info.value.details["permission"] == permission
    assert any(r["permission"] == permission and target in str(r["target"]) and r["decision"] == "denied"
               for r in env.audit(HOSTILE))
    assert env.worker_pid(HOSTILE) == pid          # a refusal does not kill the worker
    env.core_answers()


def test_publishing_outside_the_grants_is_refused_at_the_boundary(env: Env) -> None:
    events = env.client.subscribe("#")
    try:
        with pytest.raises(PermissionDenied):        # through the context: refused in the worker, audited here
            env.port.send(HOSTILE, "process", {"inputs": {"mode": "publish"}})
        with pytest.raises(PermissionDenied):        # around the context: refused by the host's guard
            env.port.send(HOSTILE, "process", {"inputs": {"mode": "bypass"}})
        env.port.send(HOSTILE, "process", {"inputs": {"mode": "ok"}})   # a granted topic goes through
        seen = wait_for(lambda: [e for e in events.get(timeout=0.5) if e["topic"].startswith("test.hostile.")],
                        timeout=10, what="the granted event")
        assert seen
    finally:
        events.close()
    records = [r for r in env.audit(HOSTILE) if r["permission"] == "bus.publish"]
    assert {r["source"] for r in records if r["target"] == "core.secrets"} >= {"context", "host"}


def test_artifact_writes_travel_back_and_are_stored_only_when_granted(env: Env) -> None:
    reply = env.port.send(STEADY, "process", {"inputs": {"x": "store"}})
    stored = env.client.call("artifacts", "retrieve", artifact_id=reply["artifact"])
    assert stored == f"call {reply['calls']}".encode()      # the id the extension got is the store's
    for mode in ("artifact", "bypass-artifact"):
        with pytest.raises(PermissionDenied):
            env.port.send(HOSTILE, "process", {"inputs": {"mode": mode}})
    sources = {r["source"] for r in env.audit(HOSTILE) if r["permission"] == "artifact.write"}
    assert sources >= {"context", "host"}


def test_info_and_status_report_the_guarantees_achieved(env: Env) -> None:
    info = env.port.info(STEADY)
    assert info["state"] == "active"
    assert set(info["guarantees"]) >= {"filesystem", "network", "syscalls", "memory", "cpu", "call_timeout"}
    assert info["runtime"]["pid"] and info["runtime"]["guarantee_summary"]
    loaded = {e["id"]: e for e in env.port.loaded_extensions()}
    assert {HOSTILE, STEADY} <= set(loaded)
    assert os.getpid() not in {e["pid"] for e in loaded.values()}


def test_the_cli_loads_shows_guarantees_status_and_audit_then_unloads(cli: Any) -> None:
    assert cli("start", "--tree", "symphony_actors.testing.trees:extensions_tree").returncode == 0
    assert cli("ext", "install", str(FIXTURES / "hostile")).returncode == 0
    assert "not running" not in cli("ext", "info", HOSTILE).stdout
    loaded = cli("ext", "load", HOSTILE, "--activate")
    assert loaded.returncode == 0, loaded.stderr
    assert f"active {HOSTILE}" in loaded.stdout and "worker pid" in loaded.stdout
    info = cli("ext", "info", HOSTILE)
    assert "state: active" in info.stdout and "filesystem" in info.stdout and "enforced" in info.stdout
    status = cli("status")
    assert "guarantees" in status.stdout and HOSTILE in status.stdout
    as_json = json.loads(cli("status", "--json").stdout)
    (entry,) = as_json["extensions"]
    assert entry["id"] == HOSTILE and entry["guarantees"]["filesystem"] in ("enforced", "best_effort", "none")
    with Client(cli.port, timeout=30) as client, pytest.raises(PermissionDenied):
        ExtensionPortClient(client).send(HOSTILE, "process", {"inputs": {"mode": "read"}})
    audit = cli("ext", "audit", HOSTILE)
    assert "fs.read" in audit.stdout and "/etc/passwd" in audit.stdout and "worker" in audit.stdout
    assert cli("ext", "unload", HOSTILE).returncode == 0
    assert HOSTILE not in cli("status").stdout
    pid = entry["pid"]
    assert cli("stop").returncode == 0
    assert not psutil.pid_exists(pid)


def test_a_killed_extension_actor_is_restarted_by_its_supervisor_and_answers_again(env: Env) -> None:
    old_actor = env.client.status()
    before = next(n for n in old_actor["nodes"] if n["name"] == f"ext:{STEADY}")
    old_worker = env.worker_pid(STEADY)
    old_zygote = int(env.client.call(f"ext:{STEADY}", "status")["zygote_pid"])
    env.client.kill(f"ext:{STEADY}")
    env.client.wait_healthy(timeout=20, after_pid_of=(f"ext:{STEADY}", before["pid"]))
    # Its zygote saw the control socket close and took its worker with it.
    wait_for(lambda: not psutil.pid_exists(old_worker) and not psutil.pid_exists(old_zygote), timeout=10,
             what="the killed actor's zygote and worker to exit")
    # A fresh actor, a fresh worker: the host still counts it active, and it activates again on use.
    assert env.port.send(STEADY, "process", {"inputs": {}}) == {"calls": 1}
    assert env.port.send(HOSTILE, "process", {"inputs": {"mode": "ok"}})["result"]["calls"] >= 1
    env.core_answers()


def test_a_restarted_extension_host_still_knows_the_loaded_extensions(env: Env) -> None:
    before = next(n for n in env.client.status()["nodes"] if n["name"] == "exthost")
    env.client.kill("exthost")
    env.client.wait_healthy(timeout=20, after_pid_of=("exthost", before["pid"]))
    states = {e["id"]: e["state"] for e in env.port.list()}
    assert states[HOSTILE] == states[STEADY] == "active"
    assert env.port.send(STEADY, "process", {"inputs": {}})["calls"] >= 1


def test_the_demo_installs_loads_and_runs_the_example_extensions(cli: Any) -> None:
    out = cli("demo", timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "loaded and activated 6 extensions" in out.stdout
    assert "Running a workflow of extension nodes" in out.stdout and "succeeded in" in out.stdout
    assert "py-metrics over symphony_actors:" in out.stdout
    assert "todo-finder (addon hook, from a real editor buffer): [{" in out.stdout
    assert "no process left behind" in out.stdout


def test_an_extension_that_cannot_load_is_refused_and_its_actor_stopped(env: Env) -> None:
    env.port.install(str(FIXTURES / "broken"))
    with pytest.raises(ExtensionFailed, match=r"cannot even be imported"):
        env.port.load("test.broken")
    assert {e["id"]: e["state"] for e in env.port.list()}["test.broken"] == "installed"
    wait_for(lambda: env.node_gone("ext:test.broken"), timeout=10, what="the failed actor to be stopped")
    assert env.port.send(STEADY, "process", {"inputs": {}})["calls"] >= 1
    env.core_answers()
