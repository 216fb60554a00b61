"""Values over the inline limit between nodes, on a real system.

An executor sends a result over 64 KiB back as its artifact only; the next node's input is then an
artifact reference that the executor running it reads from the store (as do control nodes in the tracker,
and the client). These were once ``None`` downstream.
"""

from __future__ import annotations

import hashlib

import pytest

from symphony_actors.domain.workflow import Workflow
from symphony_actors.testing.callables import allow_callables
from symphony_actors.testing.large_values import payload
from symphony_actors.testing.trees import dag_tree

pytestmark = pytest.mark.integration

LV = "symphony_actors.testing.large_values"
MIB = 1024 * 1024


@pytest.fixture(scope="module", autouse=True)
def _allowed_callables():
    with allow_callables(f"{LV}:*"):
        yield


@pytest.fixture(scope="module")
def sut(tmp_path_factory):
    from tests.integration.conftest import SystemUnderTest, running_system

    with running_system(dag_tree(), tmp_path_factory.mktemp("large"), timeout=120) as (system, client):
        s = SystemUnderTest(system)
        s.client.close()
        s.client = client
        yield s


def call(fn: str, **kwargs: object) -> dict[str, object]:
    return {"callable": f"{LV}:{fn}", "kwargs": kwargs}


@pytest.mark.parametrize("size", [70 * 1024, MIB, 100 * MIB], ids=["70KiB", "1MiB", "100MiB"])
def test_a_large_result_reaches_the_next_node_and_the_client_whole(sut, size):
    wf = (Workflow.build("large")
          .operator("make", "builtin.call", params=call("make_bytes", size=size, seed=size), outputs={"out": "any"})
          .operator("check", "builtin.call", params=call("digest"), inputs={"data": "any"})
          .connect("make", "check.data").build())
    run = sut.client.run_workflow(wf)
    assert run.wait(300)["status"] == "succeeded"
    expected = payload(size, size)
    assert run.result("check") == {"type": "bytes", "size": size,
                                   "sha256": hashlib.sha256(expected).hexdigest()}
    info = run.status(nodes=True)["nodes"]["make"]
    assert info["artifact"], info  # it travelled as its artifact
    assert run.result("make") == expected


def test_one_port_of_a_large_multi_output_result(sut):
    size = 200 * 1024
    wf = (Workflow.build("ports")
          .operator("make", "builtin.call", params=call("make_parts", size=size),
                    outputs={"big": "any", "small": "any"})
          .operator("check", "builtin.call", params=call("digest"), inputs={"data": "any"})
          .operator("count", "builtin.identity", inputs={"in": "any"})
          .connect(("make", "big"), "check.data").connect(("make", "small"), "count.in").build())
    run = sut.client.run_workflow(wf)
    assert run.wait(120)["status"] == "succeeded"
    assert run.result("check")["sha256"] == hashlib.sha256(payload(size)).hexdigest()
    assert run.result("count") == size


def test_a_map_over_a_large_list_fans_out_every_item(sut):
    """The map runs in the tracker: it reads the list from the artifact to split it."""
    items, each = 2_000, 64  # about 130 KiB of list
    wf = (Workflow.build("fan")
          .operator("make", "builtin.call", params=call("make_list", items=items, each=each), outputs={"out": "any"})
          .map("each", max_items=items, concurrency=16).connect("make", "each")
          .operator("size", "builtin.call", params=call("size_of"), inputs={"item": "any"})
          .connect("each", "size.item").build())
    run = sut.client.run_workflow(wf)
    assert run.wait(300)["status"] == "succeeded"
    assert run.result("size") == [each] * items


def test_a_run_with_a_large_document_resumes_after_the_tracker_is_killed(sut):
    """The tracker decodes a large run's document on its job thread when it restarts (a 100k-node one takes
    tens of seconds: on its loop, the supervisor would kill it as hung while starting, again and again)."""
    from symphony_actors.domain.workflow import dumps_binary
    from symphony_actors.pit.dag.service import OFF_LOOP_BYTES
    from symphony_actors.testing.waiting import wait_for

    n = 1_500
    b = Workflow.build("big-doc")
    for i in range(n):
        b = b.operator(f"s{i:04d}", "builtin.sleep", params={"seconds": 0.005, "note": payload(48, i).hex()})
    wf = b.build()
    assert len(dumps_binary(wf, level=3)) > OFF_LOOP_BYTES  # the path under test
    run = sut.client.run_workflow(wf)
    wait_for(lambda: run.status()["counts"].get("succeeded", 0) >= 100, timeout=60, what="progress")
    old = next(node["pid"] for node in sut.client.status()["nodes"] if node["name"] == "dag")
    sut.client.kill("dag")
    snap = run.wait(300)
    assert snap["status"] == "succeeded" and snap["counts"] == {"succeeded": n}, snap
    assert any(e["topic"].endswith(".resumed") for e in run.events())
    assert next(node["pid"] for node in sut.client.status()["nodes"] if node["name"] == "dag") != old
