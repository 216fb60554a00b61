"""The client as a user meets it, on a real system: connect()'s keyword arguments, a supervisor subscription
on a healthy system, plain results, retry through the client, and the README's snippet run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import symphony_actors
from symphony_actors.domain.errors import NotRunningError, UsageError
from symphony_actors.domain.workflow import Workflow
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.trees import dag_tree
from tests.integration.conftest import SystemUnderTest, free_port, running_system


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    """Workflows are data: the builtin.call nodes of these tests call test callables, allowed here."""
    with allow_callables():
        yield

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def sut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SystemUnderTest]:
    with running_system(dag_tree(), tmp_path_factory.mktemp("client-api")) as (system, client):
        s = SystemUnderTest(system)
        s.client.close()
        s.client = client
        yield s


def test_connect_keyword_arguments_are_honoured(sut: SystemUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMPHONY_PORT", str(free_port()))  # the environment points elsewhere: port= wins
    with symphony_actors.connect(port=sut.port, timeout=3.5) as c:
        assert c.port == sut.port and c.timeout == 3.5 and c.status()["healthy"]
    with pytest.raises(NotRunningError):
        symphony_actors.connect(port=free_port())
    with pytest.raises(UsageError, match="give one"):
        symphony_actors.connect(sut.port + 1, port=sut.port)
    with pytest.raises(TypeError):
        symphony_actors.connect(prot=sut.port)  # type: ignore[call-arg]  # a typo is not silently ignored
    with pytest.raises(UsageError, match="timeout"):
        symphony_actors.connect(port=sut.port, timeout=0)


def test_connect_finds_the_system_running_on_a_data_dir(sut: SystemUnderTest,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMPHONY_PORT", raising=False)
    run_dir = sut.data_dir / "run"  # what `symphony start` leaves in its data directory (beside its key)
    run_dir.mkdir(mode=0o700, exist_ok=True)
    (run_dir / f"symphony-{sut.port}.pid").write_text("{}")
    with symphony_actors.connect(data_dir=str(sut.data_dir)) as c:
        assert c.port == sut.port and c.status()["healthy"]


def test_a_supervisor_subscription_first_yields_the_current_tree(sut: SystemUnderTest) -> None:
    with sut.client.subscribe("supervisor.#") as sub:
        first = sub.get(timeout=1.0)  # a healthy system publishes nothing on its own
        assert [e["topic"] for e in first] == ["supervisor.tree"] and first[0]["retained"]
        tree = first[0]["payload"]
        assert tree["healthy"] and {"bus", "pit", "dag", "runs"} <= {n["name"] for n in tree["nodes"]}
        pid = next(n["pid"] for n in tree["nodes"] if n["name"] == "exec-0")
        sut.client.kill("exec-0")  # then live events
        seen: list[dict[str, object]] = []
        for event in sub:
            seen.append(event)
            if event["topic"] == "supervisor.child.started" and event["payload"]["child"] == "exec-0":  # type: ignore[index]
                break
        assert any(e["topic"] == "supervisor.child.exited" for e in seen)
        sut.client.wait_healthy(30, after_pid_of=("exec-0", pid))
    with sut.client.subscribe("run.#") as other:  # a pattern the tree does not match: live events only
        assert other.get(timeout=0.2) == []
    with sut.client.subscribe("supervisor.#", initial=False) as live:
        assert live.get(timeout=0.2) == []


def test_results_are_plain_data_and_a_retry_through_the_client(sut: SystemUnderTest, tmp_path: Path) -> None:
    number = tmp_path / "n.txt"
    number.write_text("x")
    wf = (Workflow.build("plain")
          .operator("cfg", "builtin.const", params={"value": {"a": {"b": [1, {"c": 2}]}}}, outputs={"out": "any"})
          .operator("n", "builtin.call", params={"callable": "symphony_actors.testing.services:read_number",
                                                 "kwargs": {"path": str(number)}}, outputs={"out": "any"})
          .build())
    run = sut.client.run_workflow(wf)
    assert run.wait(60)["status"] == "failed"
    cfg = run.result("cfg")
    assert type(cfg) is dict and type(cfg["a"]) is dict and type(cfg["a"]["b"]) is list
    assert type(cfg["a"]["b"][1]) is dict
    assert type(sut.client.call("dag", "result", run_id=run.run_id, node_id="cfg")) is dict  # what any caller sees
    number.write_text("3")
    again = run.retry()
    snap = again.wait(60)
    assert snap["status"] == "succeeded" and again.result("n") == 3.0
    assert snap["retry_of"] == {"run_id": run.run_id, "from_node": None} and snap["reused_count"] == 1
    assert again.status(nodes=True)["reused"] == ["cfg"]


def readme_python() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python block"
    return "\n".join(blocks)


def test_the_readme_snippet_runs_as_written(sut: SystemUnderTest) -> None:
    env = {**os.environ, "SYMPHONY_PORT": str(sut.port)}
    out = subprocess.run([sys.executable, "-c", readme_python()], env=env, capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout.splitlines()[0] == "True"
    assert "succeeded" in out.stdout and "supervisor.tree" in out.stdout


def test_a_retry_reuses_map_branch_and_join_results_on_a_real_system(sut: SystemUnderTest, tmp_path: Path) -> None:
    from tests.unit.dag.test_retry import counted, routed

    log, number = tmp_path / "count.log", tmp_path / "number.txt"
    number.write_text("not yet")
    first = sut.client.run_workflow(routed(log, number))
    assert first.wait(60)["status"] == "failed"
    before = counted(log)
    assert sorted(n for _, n in before) == ["low", "m", "m", "m"]  # three mapped items, the taken branch
    number.write_text("7")
    again = first.retry()
    assert again.wait(60)["status"] == "succeeded"
    assert counted(log) == before  # nothing behind the map, the branch or the join ran again
    snap = again.status(nodes=True)
    assert {n: v["status"] for n, v in snap["nodes"].items()}["high"] == "skipped"
    assert set(snap["reused"]) == {"src", "each", "m", "score", "gate", "low", "j"}
    assert again.result("fin") == 7.0 and again.result("m") == [1, 2, 3]
    from_map = again.retry(from_node="each")
    assert from_map.wait(60)["status"] == "succeeded"
    assert sorted(n for r, n in counted(log) if r == from_map.run_id) == ["m", "m", "m"]
