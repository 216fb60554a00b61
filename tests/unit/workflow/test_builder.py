"""The builder reads well, infers the obvious wiring, fails early on typos and reports the rest at build."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import UsageError, ValidationError
from symphony_actors.domain.workflow import (
    Edge,
    EdgeKind,
    Join,
    JoinMode,
    Map,
    NodeKind,
    Port,
    RetryPolicy,
    Workflow,
    WorkflowBuilder,
    field,
    ports,
)


def test_then_wires_single_ports_with_a_data_edge() -> None:
    """then() connects the previous node's only output to the new node's only input."""
    wf = (Workflow.build("etl")
          .operator("read", "files.io/read", outputs={"text": "text"})
          .then("upper", "text.tools/upper", inputs={"t": "text"}, outputs={"t": "text"})
          .build())
    assert wf.edges == (Edge.data("read", "text", "upper", "t"),)


def test_then_without_inputs_is_a_control_edge_and_when_is_conditional() -> None:
    """A node without inputs is ordered after the previous one; when= makes the edge conditional."""
    wf = (Workflow.build("w")
          .operator("a", "t.x/a")
          .then("b", "t.x/b")
          .then("c", "t.x/c", when=field("ok") == True)  # noqa: E712  # builds a predicate
          .build())
    assert [e.kind for e in wf.edges] == [EdgeKind.CONTROL, EdgeKind.CONDITIONAL]
    assert wf.edges[1].when is not None and wf.edges[1].when.evaluate({"ok": True})


def test_then_refuses_to_guess() -> None:
    """Several outputs feeding several inputs must be connected by name."""
    b = Workflow.build("w").operator("a", "t.x/a", outputs={"x": "text", "y": "text"})
    with pytest.raises(UsageError, match="connect"):
        b.then("b", "t.x/b", inputs={"p": "text", "q": "text"})


def test_port_shorthand() -> None:
    """'type?' is optional, 'type*' accepts many, Port objects pass through renamed to their key."""
    spec: dict[str, str | Port] = {"a": "text", "b": "json?", "c": "any*", "d": Port("x", "image")}
    got = ports(spec, inputs=True)
    assert got == (Port("a", "text"), Port("b", "json", required=False), Port("c", "any", multi=True),
                   Port("d", "image"))
    assert ports({"o": "text"}, inputs=False) == (Port("o", "text", required=False),)
    with pytest.raises(UsageError):
        ports({"a": 3}, inputs=True)  # type: ignore[arg-type]


def test_control_node_shortcuts(sample: Workflow) -> None:
    """branch, join and map fill kind, type, control spec and default ports."""
    either, fan = sample.node("either"), sample.node("fan")
    assert either.kind is NodeKind.CONTROL and either.type == "builtin.join"
    assert either.control == Join(JoinMode.ANY)
    assert either.input("in") == Port("in", "any", required=False, multi=True)
    assert fan.control == Map(10, 2)
    assert sample.node("score").retry == RetryPolicy(3)
    assert sample.node("score").timeout_s == 30


def test_typos_fail_at_the_call() -> None:
    """Unknown nodes in connect/after/when and duplicate ids raise immediately, naming the node."""
    b = Workflow.build("w").operator("a", "t.x/a", outputs={"o": "text"})
    with pytest.raises(UsageError, match="'nope'"):
        b.connect("a.o", "nope.i")
    with pytest.raises(UsageError, match="exists already"):
        b.operator("a", "t.x/a")
    with pytest.raises(UsageError):
        b.after("a", "zz")
    with pytest.raises(UsageError):
        b.when("zz", "a", field("x").exists())
    with pytest.raises(UsageError, match="no previous node"):
        Workflow.build("empty").then("a", "t.x/a")
    with pytest.raises(UsageError, match="outputs"):
        Workflow.build("w").operator("a", "t.x/a").operator("b", "t.x/b", inputs={"i": "text"}).connect("a", "b")


def test_build_reports_every_problem() -> None:
    """build() validates and lists all problems; validate=False returns the raw workflow."""
    b = (Workflow.build("w").operator("a", "t.x/a", outputs={"o": "number"})
         .operator("b", "t.x/b", inputs={"i": "text", "j": "text"})
         .connect("a.o", "b.i").map("m", max_items=None))
    with pytest.raises(ValidationError) as info:
        b.build()
    assert {p.kind for p in info.value.problems} == {"type_mismatch", "unconnected_input", "uncapped_fanout"}
    assert len(b.build(validate=False).nodes) == 3


def test_when_accepts_the_json_form() -> None:
    """Predicates may be given as data."""
    wf = (Workflow.build("w").branch("r", inputs={}).operator("x", "t.x/x")
          .when("r", "x", {"field": "label", "op": "==", "value": "spam"}).build())
    assert wf.edges[0].when == (field("label") == "spam")


def test_edit_derives_a_changed_copy(sample: Workflow) -> None:
    """edit() starts a builder from a workflow; the original is untouched."""
    changed = sample.edit().at("fan").then("after", "builtin.identity", inputs={"in": "any"},
                                           outputs={"out": "any"}).build()
    assert len(changed.nodes) == len(sample.nodes) + 1
    assert changed.edges[-1] == Edge.data("fan", "item", "after", "in")
    assert "after" not in sample
    assert WorkflowBuilder.from_workflow(sample).peek() == sample


def test_entries_are_checked_for_reachability() -> None:
    """entry() declares starts; nodes they do not reach are reported."""
    b = Workflow.build("w").operator("a", "t.x/a").operator("b", "t.x/b").entry("a")
    with pytest.raises(ValidationError, match="unreachable"):
        b.build()
