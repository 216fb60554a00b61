"""Large results between nodes, in the engine: a dropped value becomes an ArtifactRef downstream."""

from __future__ import annotations

import pickle

import pytest

from symphony_actors.domain.errors import NotFoundError
from symphony_actors.domain.workflow import Workflow
from symphony_actors.domain.workflow.model import Port
from symphony_actors.pit.dag.engine import ArtifactRef, RunEngine, has_refs, resolve_refs


def two_ports() -> Workflow:
    return (Workflow.build("w")
            .operator("a", "builtin.noop", outputs={"big": "any", "small": "any"})
            .operator("b", "builtin.noop", inputs={"x": "any", "y": "any"})
            .operator("c", "builtin.noop", inputs={"many": Port("many", multi=True)})
            .connect(("a", "big"), "b.x").connect(("a", "small"), "b.y").connect(("a", "big"), "c.many")
            .build(validate=False))


def test_a_result_sent_as_its_artifact_reaches_downstream_as_a_ref_per_port():
    engine = RunEngine("r", two_ports())
    (task,) = engine.start().dispatch
    d = engine.succeeded(task.key, None, artifact="A1")  # over the inline limit: only the artifact came back
    inputs = {t.node_id: t.inputs for t in d.dispatch}
    assert inputs["b"] == {"x": ArtifactRef("A1", "big"), "y": ArtifactRef("A1", "small")}
    assert inputs["c"] == {"many": [ArtifactRef("A1", "big")]}
    assert has_refs(inputs["b"]) and has_refs(inputs["c"])


def test_an_inline_result_is_passed_as_it_is():
    engine = RunEngine("r", two_ports())
    (task,) = engine.start().dispatch
    d = engine.succeeded(task.key, {"big": b"x", "small": 1}, artifact="A1")
    b = next(t for t in d.dispatch if t.node_id == "b")
    assert b.inputs == {"x": b"x", "y": 1} and not has_refs(b.inputs)


def test_resolve_refs_reads_each_ref_once_per_use_and_takes_its_port():
    stored = {"A1": {"big": b"B" * 10, "small": 10}, "A2": [1, 2]}
    read: list[str] = []

    def reader(aid: str) -> object:
        read.append(aid)
        return stored[aid]

    out = resolve_refs({"x": ArtifactRef("A1", "big"), "y": 3, "z": [ArtifactRef("A2"), 4]}, reader)
    assert out == {"x": b"B" * 10, "y": 3, "z": [[1, 2], 4]}
    assert sorted(read) == ["A1", "A2"]


def test_a_missing_artifact_fails_clearly():
    def reader(aid: str) -> object:
        raise NotFoundError(f"no artifact {aid}", artifact=aid)

    with pytest.raises(NotFoundError, match="no artifact A9"):
        resolve_refs({"x": ArtifactRef("A9")}, reader)


def test_refs_cross_processes_and_are_never_made_from_data():
    ref = ArtifactRef("A1", "big")
    assert pickle.loads(pickle.dumps(ref)) == ref
    # what a (possibly hostile) node returns is plain data: a look-alike dict is not a ref
    assert not has_refs({"x": {"artifact": "A1", "port": "big"}})


def test_a_map_in_the_tracker_reads_a_large_list_from_its_artifact():
    wf = (Workflow.build("m").operator("src", "builtin.noop", outputs={"out": "any"})
          .map("each", max_items=10).connect("src", "each")
          .operator("leaf", "builtin.noop", inputs={"item": "any"}).connect("each", "leaf.item")
          .build(validate=False))
    engine = RunEngine("r", wf, read_artifact={"A1": ["p", "q", "r"]}.__getitem__)
    (task,) = engine.start().dispatch
    d = engine.succeeded(task.key, None, artifact="A1")
    assert sorted(t.inputs["item"] for t in d.dispatch) == ["p", "q", "r"]
