"""Validation names every problem at once, by kind and path; order and levels are deterministic."""

from __future__ import annotations

import itertools

import pytest

from symphony_actors.domain.errors import ValidationError
from symphony_actors.domain.workflow import (
    Branch,
    Catalog,
    Edge,
    EdgeKind,
    Join,
    Map,
    Node,
    NodeKind,
    NodeType,
    Param,
    ParamRef,
    ParamSchema,
    ParamType,
    Port,
    ProblemKind,
    RetryPolicy,
    Workflow,
    check,
    field,
    freeze,
    validate,
)

validate_module = __import__("symphony_actors.domain.workflow.validate", fromlist=["_local_fast"])


def op(nid: str, ins: tuple[str, ...] = (), outs: tuple[str, ...] = ("out",), **kw: object) -> Node:
    return Node(nid, NodeKind.OPERATOR, "test.ops/step", inputs=tuple(Port(p, "text") for p in ins),
                outputs=tuple(Port(p, "text", required=False) for p in outs), **kw)  # type: ignore[arg-type]


def chain(*ids: str) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
    nodes = [op(ids[0])] + [op(i, ("in",)) for i in ids[1:]]
    edges = [Edge.data(a, "out", b, "in") for a, b in itertools.pairwise(ids)]
    return tuple(nodes), tuple(edges)


def problems(wf: Workflow, **kw: object) -> list[tuple[str, str]]:
    return [(p.kind, p.path) for p in check(wf, **kw).problems]  # type: ignore[arg-type]


def test_valid_sample_has_no_problems(sample: Workflow) -> None:
    """The sample using every node and edge kind is valid."""
    analysis = check(sample)
    assert analysis.problems == ()
    assert analysis.ok
    assert analysis.order[0] == "read"


def test_cycle_reported_with_its_path() -> None:
    """A cycle is one problem whose message walks the cycle back to its start."""
    nodes, edges = chain("a", "b", "c", "d")
    wf = Workflow("w", nodes, (*edges, Edge.control("d", "b")))
    analysis = check(wf)
    cycle = [p for p in analysis.problems if p.kind == ProblemKind.CYCLE]
    assert len(cycle) == 1
    assert cycle[0].message == "cycle: b -> c -> d -> b"
    assert cycle[0].path == "nodes[1]"
    assert analysis.cycles == (("b", "c", "d", "b"),)


def test_self_loop_and_two_separate_cycles() -> None:
    """Every cyclic component is reported, a self-loop as 'a -> a'."""
    nodes = tuple(op(x) for x in "abcde")
    edges = (Edge.control("a", "a"), Edge.control("b", "c"), Edge.control("c", "b"), Edge.control("d", "e"))
    analysis = check(Workflow("w", nodes, edges))
    assert analysis.cycles == (("a", "a"), ("b", "c", "b"))


def test_nodes_behind_a_cycle_are_unreachable() -> None:
    """A node that only a cycle leads to is reported as unreachable, not as part of the cycle."""
    nodes, edges = chain("a", "b", "c")
    wf = Workflow("w", nodes, (*edges, Edge.control("b", "a")))
    assert (ProblemKind.UNREACHABLE, "nodes[2]") in problems(wf)


def test_dangling_references() -> None:
    """Edges and entries naming missing nodes are dangling, each with its path."""
    nodes, edges = chain("a", "b")
    wf = Workflow("w", nodes, (*edges, Edge.control("a", "ghost"), Edge.control("nobody", "b")), entries=("zz",))
    got = problems(wf)
    assert (ProblemKind.DANGLING, "edges[1].target") in got
    assert (ProblemKind.DANGLING, "edges[2].source") in got
    assert (ProblemKind.DANGLING, "entries[0]") in got


def test_duplicate_ids_ports_and_edges() -> None:
    """Duplicate node ids, port names and repeated control edges are reported."""
    n = Node("a", NodeKind.OPERATOR, "test.ops/x", inputs=(Port("p"), Port("p")))
    wf = Workflow("w", (op("a"), n, op("b")), (Edge.control("a", "b"), Edge.control("a", "b")))
    got = problems(wf)
    assert (ProblemKind.DUPLICATE, "nodes[1].id") in got
    assert (ProblemKind.DUPLICATE, "nodes[1].inputs.p") in got
    assert (ProblemKind.DUPLICATE, "edges[1]") in got


def test_port_type_mismatch_and_unknown_ports() -> None:
    """A data edge must join existing ports of compatible types."""
    a = Node("a", NodeKind.OPERATOR, "t.x/a", outputs=(Port("n", "number"),))
    b = Node("b", NodeKind.OPERATOR, "t.x/b", inputs=(Port("t", "text"),))
    wf = Workflow("w", (a, b), (Edge.data("a", "n", "b", "t"), Edge.data("a", "zz", "b", "yy")))
    got = problems(wf)
    assert (ProblemKind.TYPE_MISMATCH, "edges[0]") in got
    assert (ProblemKind.UNKNOWN_PORT, "edges[1].source_port") in got
    assert (ProblemKind.UNKNOWN_PORT, "edges[1].target_port") in got
    msg = next(p.message for p in check(wf).problems if p.kind == ProblemKind.TYPE_MISMATCH)
    assert "'number'" in msg and "'text'" in msg


def test_any_type_connects_to_everything() -> None:
    """'any' on either end is compatible."""
    a = Node("a", NodeKind.OPERATOR, "t.x/a", outputs=(Port("o", "any"),))
    b = Node("b", NodeKind.OPERATOR, "t.x/b", inputs=(Port("i", "image"),))
    assert check(Workflow("w", (a, b), (Edge.data("a", "o", "b", "i"),))).ok


def test_required_input_unconnected_and_optional_is_fine() -> None:
    """A required input without a data edge is reported; an optional one is not."""
    b = Node("b", NodeKind.OPERATOR, "t.x/b", inputs=(Port("need", "text"), Port("maybe", "text", required=False)))
    got = problems(Workflow("w", (op("a"), b), (Edge.control("a", "b"),)))
    assert got == [(ProblemKind.UNCONNECTED_INPUT, "nodes[1].inputs.need")]


def test_single_input_fed_twice_conflicts_multi_input_does_not() -> None:
    """Two data edges into a single-valued input conflict; a multi input accepts both."""
    single = Node("c", NodeKind.OPERATOR, "t.x/c", inputs=(Port("in", "text"),))
    multi = Node("c", NodeKind.OPERATOR, "t.x/c", inputs=(Port("in", "text", multi=True),))
    edges = (Edge.data("a", "out", "c", "in"), Edge.data("b", "out", "c", "in"))
    assert problems(Workflow("w", (op("a"), op("b"), single), edges)) == [(ProblemKind.PORT_CONFLICT,
                                                                           "edges[1].target_port")]
    assert check(Workflow("w", (op("a"), op("b"), multi), edges)).ok


def test_conditional_edge_without_predicate() -> None:
    """A conditional edge needs a predicate; other edges must not carry one."""
    wf = Workflow("w", (op("a"), op("b"), op("c")),
                  (Edge.conditional("a", "b", None), Edge(source="a", target="c", kind=EdgeKind.CONTROL,
                                                          when=field("x") == 1)))
    got = problems(wf)
    assert (ProblemKind.MISSING_PREDICATE, "edges[0].when") in got
    assert (ProblemKind.INVALID, "edges[1].when") in got


def test_invalid_params_against_catalog() -> None:
    """Params are checked against the node type's schema: type, range, unknown and missing names."""
    cat = Catalog.of([NodeType("llm.chat/complete", NodeKind.INSTRUMENT, ParamSchema.of(
        Param("temperature", ParamType.NUMBER, minimum=0, maximum=2),
        Param("model", ParamType.STRING, required=True)))])
    bad = Node("x", NodeKind.INSTRUMENT, "llm.chat/complete", freeze({"temperature": 9, "colour": "red"}))
    got = problems(Workflow("w", (bad,)), catalog=cat)
    assert (ProblemKind.INVALID_PARAM, "nodes[0].params.temperature") in got
    assert (ProblemKind.INVALID_PARAM, "nodes[0].params.colour") in got
    assert (ProblemKind.INVALID_PARAM, "nodes[0].params.model") in got


def test_catalog_kind_mismatch_and_strict_unknown_types() -> None:
    """A catalog type used as the wrong kind is a problem; strict catalogs reject unknown types."""
    cat = Catalog.of([NodeType("llm.chat/complete", NodeKind.INSTRUMENT)], strict=True)
    wf = Workflow("w", (Node("x", NodeKind.OPERATOR, "llm.chat/complete"), op("y")))
    got = problems(wf, catalog=cat)
    assert (ProblemKind.INVALID, "nodes[0].kind") in got
    assert (ProblemKind.UNKNOWN_TYPE, "nodes[1].type") in got


def test_builtin_catalog_checks_builtin_params() -> None:
    """builtin.const needs its value parameter."""
    wf = Workflow("w", (Node("c", NodeKind.OPERATOR, "builtin.const", outputs=(Port("out"),)),))
    assert problems(wf) == [(ProblemKind.INVALID_PARAM, "nodes[0].params.value")]


def test_fan_out_without_cap() -> None:
    """A map node must cap its items; caps must be positive integers."""
    m1 = Node("m1", NodeKind.CONTROL, "builtin.map", control=Map())
    m2 = Node("m2", NodeKind.CONTROL, "builtin.map", control=Map(max_items=0, concurrency=-1))
    got = problems(Workflow("w", (m1, m2)))
    assert (ProblemKind.UNCAPPED_FANOUT, "nodes[0].control.max_items") in got
    assert (ProblemKind.INVALID, "nodes[1].control.max_items") in got
    assert (ProblemKind.INVALID, "nodes[1].control.concurrency") in got


def test_unreachable_from_declared_entries() -> None:
    """With entries declared, nodes they do not lead to are unreachable."""
    nodes, edges = chain("a", "b")
    wf = Workflow("w", (*nodes, op("island")), edges, entries=("a",))
    assert problems(wf) == [(ProblemKind.UNREACHABLE, "nodes[2]")]


def test_unresolved_template_references_in_a_workflow() -> None:
    """ParamRef placeholders left in a workflow are reported wherever they are."""
    n = Node("a", NodeKind.OPERATOR, "t.x/a", freeze({"deep": {"list": [1, ParamRef("p")]}}),
             timeout_s=ParamRef("t"))
    m = Node("m", NodeKind.CONTROL, "builtin.map", control=Map(max_items=ParamRef("w")))
    got = problems(Workflow("w", (n, m)))
    assert (ProblemKind.UNRESOLVED_PARAM, "nodes[0].params.deep.list[1]") in got
    assert (ProblemKind.UNRESOLVED_PARAM, "nodes[0].timeout_s") in got
    assert (ProblemKind.UNRESOLVED_PARAM, "nodes[1].control.max_items") in got


def test_malformed_fields() -> None:
    """Bad ids, types, retry policies, timeouts and control specs are each reported."""
    nodes = (
        Node("has space", NodeKind.OPERATOR, "t.x/a"),
        Node("b", NodeKind.OPERATOR, "NoDots"),
        Node("c", NodeKind.OPERATOR, "t.x/c", retry=RetryPolicy(retries=-1, multiplier=0.5), timeout_s=0),
        Node("d", NodeKind.CONTROL, "builtin.branch"),
        Node("e", NodeKind.OPERATOR, "t.x/e", control=Join()),
    )
    got = problems(Workflow("", nodes))
    for expected in [(ProblemKind.INVALID, "name"), (ProblemKind.INVALID, "nodes[0].id"),
                     (ProblemKind.INVALID, "nodes[1].type"), (ProblemKind.INVALID, "nodes[2].retry.retries"),
                     (ProblemKind.INVALID, "nodes[2].retry.multiplier"), (ProblemKind.INVALID, "nodes[2].timeout_s"),
                     (ProblemKind.INVALID, "nodes[3].control"), (ProblemKind.INVALID, "nodes[4].control")]:
        assert expected in got


def test_branch_needs_conditional_edges() -> None:
    """A branch node that routes nothing is reported."""
    br = Node("br", NodeKind.CONTROL, "builtin.branch", control=Branch())
    assert problems(Workflow("w", (br,))) == [(ProblemKind.INVALID, "nodes[0]")]


def test_every_problem_at_once_and_validate_raises() -> None:
    """One call reports problems of different kinds together; validate() raises with all of them."""
    nodes, edges = chain("a", "b", "c")
    wf = Workflow("w", (*nodes, Node("m", NodeKind.CONTROL, "builtin.map", control=Map())),
                  (*edges, Edge.control("c", "a"), Edge.control("x", "a"), Edge.conditional("a", "m", None)))
    kinds = {k for k, _ in problems(wf)}
    assert {ProblemKind.CYCLE, ProblemKind.DANGLING, ProblemKind.MISSING_PREDICATE,
            ProblemKind.UNCAPPED_FANOUT} <= kinds
    with pytest.raises(ValidationError) as info:
        validate(wf)
    assert len(info.value.problems) == len(check(wf).problems)
    assert "cycle: a -> b -> c -> a" in str(info.value)


def test_topological_order_and_levels_are_stable() -> None:
    """Order is level by level, ties by position in the node list; levels group parallel nodes."""
    nodes = tuple(op(x, ("in",) if x in "cd" else ()) for x in "dbca")
    edges = (Edge.data("b", "out", "d", "in"), Edge.data("a", "out", "c", "in"))
    analysis = check(Workflow("w", nodes, edges))
    assert analysis.levels == (("b", "a"), ("d", "c"))
    assert analysis.order == ("b", "a", "d", "c")
    assert (analysis.depth, analysis.width) == (2, 2)
    assert analysis.summary()["nodes"] == 4


def test_graph_exposes_adjacency_and_edge_indices(sample: Workflow) -> None:
    """The compiled graph gives successors, predecessors and edge indices per node."""
    g = check(sample).graph
    i = g.index["route"]
    assert {g.ids[k] for k in g.succ[i]} == {"keep", "drop"}
    assert {g.ids[k] for k in g.pred[g.index["either"]]} == {"keep", "drop"}
    assert all(sample.edges[j].target == "either" for j in g.in_edges(g.index["either"]))
    assert all(sample.edges[j].source == "route" for j in g.out_edges(i))
    dag = g.incremental()
    assert dag.cycle_if_added(g.index["fan"], g.index["read"]) is not None


def test_fast_pass_agrees_with_slow_pass(sample: Workflow) -> None:
    """The bulk fast pass accepts a valid workflow and refuses any with a local problem."""
    assert validate_module._local_fast(sample, Catalog()) is not None
    broken = sample.with_edges(Edge.data("read", "text", "keep", "in"))
    assert validate_module._local_fast(broken, Catalog()) is None
    assert [p.kind for p in check(broken).problems] == [ProblemKind.PORT_CONFLICT]
