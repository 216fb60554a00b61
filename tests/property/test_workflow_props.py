"""Property tests of the workflow model: formats round-trip, cycles are found with true paths,
topological order respects every edge, valid template parameters always give valid workflows."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from symphony_actors.domain.workflow import (
    Catalog,
    Edge,
    EdgeKind,
    Join,
    JoinMode,
    Map,
    Node,
    NodeKind,
    Param,
    ParamType,
    Port,
    ProblemKind,
    RetryPolicy,
    Workflow,
    check,
    dumps_binary,
    dumps_json,
    field,
    freeze,
    loads_binary,
    loads_json,
    ref,
)

validate_module = __import__("symphony_actors.domain.workflow.validate", fromlist=["_local_fast"])

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False) | st.text(max_size=12)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(min_size=1, max_size=6).filter(lambda k: k != "$param"), inner, max_size=3), max_leaves=8)
TYPES = ["text", "json", "any", "number", "integer"]
predicates = st.builds(lambda f, v: field(f) >= v, st.sampled_from(["score", "a.b", "items.0"]),
                       st.integers(-5, 5)) | st.builds(lambda f: field(f).exists(), st.sampled_from(["x", "y.z"]))


@st.composite
def dags(draw: st.DrawFn, min_nodes: int = 1, max_nodes: int = 20) -> Workflow:
    """A random valid workflow: edges only from earlier to later nodes in a hidden order, nodes then shuffled."""
    n = draw(st.integers(min_nodes, max_nodes))
    names = [f"n{i}" for i in range(n)]
    out_types = [draw(st.sampled_from(TYPES)) for _ in range(n)]
    inputs: list[list[Port]] = [[] for _ in range(n)]
    edges: list[Edge] = []
    for j in range(1, n):
        for i in sorted(set(draw(st.lists(st.integers(0, j - 1), max_size=3)))):
            kind = draw(st.sampled_from(["data", "data", "control", "conditional"]))
            if kind == "data":
                port = f"in{len(inputs[j])}"
                in_type = out_types[i] if draw(st.booleans()) else "any"
                inputs[j].append(Port(port, in_type, required=draw(st.booleans())))
                edges.append(Edge.data(names[i], "out", names[j], port))
            elif kind == "control":
                edges.append(Edge.control(names[i], names[j]))
            else:
                edges.append(Edge.conditional(names[i], names[j], draw(predicates)))
    nodes = []
    for k in range(n):
        control = draw(st.sampled_from([None, None, None, "join", "map"]))
        kind = NodeKind.CONTROL if control else draw(st.sampled_from([NodeKind.OPERATOR, NodeKind.INSTRUMENT]))
        spec = (Join(draw(st.sampled_from(list(JoinMode)))) if control == "join"
                else Map(draw(st.integers(1, 1000)), draw(st.none() | st.integers(1, 8))) if control == "map"
                else None)
        nodes.append(Node(names[k], kind, draw(st.sampled_from(["pub.ext/a", "pub.ext/b", "other.x"])),
                          freeze(draw(st.dictionaries(st.text(min_size=1, max_size=5).filter(lambda s: s != "$param"),
                                                      json_values, max_size=3))),
                          tuple(inputs[k]), (Port("out", out_types[k], required=False),), spec,
                          draw(st.none() | st.builds(RetryPolicy, st.integers(0, 5), st.floats(0, 10),
                                                     st.floats(1, 4), st.floats(10, 100),
                                                     st.lists(st.sampled_from(["busy", "x"]), max_size=2)
                                                     .map(tuple))),
                          draw(st.none() | st.floats(0.1, 1000)), draw(st.text(max_size=5)),
                          freeze(draw(st.dictionaries(st.text(min_size=1, max_size=4), json_values, max_size=2)))))
    order = draw(st.permutations(range(n)))
    return Workflow(draw(st.text(min_size=1, max_size=10).filter(str.strip)), tuple(nodes[k] for k in order),
                    tuple(draw(st.permutations(edges))))


@SETTINGS
@given(dags())
def test_random_valid_graphs_are_valid_and_round_trip(wf: Workflow) -> None:
    """Every generated workflow validates, and both formats give it back equal."""
    assert check(wf, catalog=Catalog()).problems == ()
    assert loads_json(dumps_json(wf)) == wf
    assert loads_binary(dumps_binary(wf)) == wf


@SETTINGS
@given(dags())
def test_topological_order_respects_every_edge(wf: Workflow) -> None:
    """Sources come before targets in the order, and in strictly earlier levels; all nodes appear once."""
    analysis = check(wf, catalog=Catalog())
    pos = {nid: i for i, nid in enumerate(analysis.order)}
    level = {nid: k for k, lvl in enumerate(analysis.levels) for nid in lvl}
    assert sorted(pos) == sorted(n.id for n in wf.nodes)
    for e in wf.edges:
        assert pos[e.source] < pos[e.target]
        assert level[e.source] < level[e.target]
    for lvl in analysis.levels:  # ties in insertion order
        assert [wf.index_of(x) for x in lvl] == sorted(wf.index_of(x) for x in lvl)


@SETTINGS
@given(dags(min_nodes=2), st.data())
def test_injected_cycle_is_rejected_with_a_true_path(wf: Workflow, data: st.DataObject) -> None:
    """Closing a path with a back edge is reported as a cycle whose every step is an edge of the graph."""
    succ: dict[str, list[str]] = {}
    for e in wf.edges:
        succ.setdefault(e.source, []).append(e.target)
    start = data.draw(st.sampled_from([n.id for n in wf.nodes]))
    path = [start]
    while succ.get(path[-1]) and data.draw(st.booleans()):
        path.append(data.draw(st.sampled_from(succ[path[-1]])))
    bad = wf.with_edges(Edge.control(path[-1], path[0]))
    analysis = check(bad, catalog=Catalog())
    assert any(p.kind == ProblemKind.CYCLE for p in analysis.problems)
    edges = {(e.source, e.target) for e in bad.edges}
    for cycle in analysis.cycles:
        assert cycle[0] == cycle[-1]
        assert len(cycle) >= 2
        assert all((a, b) in edges for a, b in itertools.pairwise(cycle))
    in_some_cycle = {x for c in analysis.cycles for x in c}
    assert in_some_cycle & set(path)


@SETTINGS
@given(dags(min_nodes=2), st.data())
def test_fast_and_slow_passes_agree(wf: Workflow, data: st.DataObject) -> None:
    """The bulk fast pass accepts exactly the workflows the slow pass finds no local problem in."""
    mutation = data.draw(st.sampled_from(["none", "dangling", "port", "type", "dup", "cap", "pred", "param"]))
    nodes, edges = list(wf.nodes), list(wf.edges)
    if mutation == "dangling":
        edges.append(Edge.control(nodes[0].id, "ghost"))
    elif mutation == "port" and edges:
        e = edges[0]
        edges[0] = Edge(e.source, e.target, EdgeKind.DATA, "nope", "in0")
    elif mutation == "type":
        nodes[0] = nodes[0].replace(outputs=(Port("out", "zzz", required=False),))
    elif mutation == "dup":
        nodes[1] = nodes[1].replace(id=nodes[0].id)
    elif mutation == "cap":
        nodes[0] = nodes[0].replace(kind=NodeKind.CONTROL, control=Map(None))
    elif mutation == "pred" and edges:
        e = edges[-1]
        edges[-1] = Edge(e.source, e.target, EdgeKind.CONDITIONAL)
    elif mutation == "param":
        nodes[0] = nodes[0].replace(params=freeze({"p": {"deep": [ref("x")]}}))
    mutated = Workflow(wf.name, tuple(nodes), tuple(edges))
    fast = validate_module._local_fast(mutated, Catalog()) is not None
    slow: list[Any] = []
    validate_module._local_slow(mutated, Catalog(), slow)
    assert fast == (not slow), slow


WIDTH = Param("width", ParamType.INTEGER, default=10, minimum=1, maximum=500)
TEMP = Param("temperature", ParamType.NUMBER, default=0.5, minimum=0, maximum=2)
MODEL = Param("model", ParamType.STRING, required=True, choices=("small", "large"))
TEMPLATE = (Workflow.build("fan")
            .operator("src", "builtin.const", params={"value": [1, 2, 3]}, outputs={"out": "any"})
            .map("each", max_items=ref("width")).connect("src", "each")
            .instrument("llm", "pub.llm/complete", inputs={"prompt": "any"}, outputs={"text": "text"},
                        params={"temperature": ref("temperature"), "model": ref("model")}, timeout=ref("timeout"))
            .connect("each", "llm")
            .template(WIDTH, TEMP, MODEL, Param("timeout", ParamType.NUMBER, default=60, minimum=0.5)))


@SETTINGS
@given(st.fixed_dictionaries({"model": st.sampled_from(["small", "large"])}, optional={
    "width": st.integers(1, 500), "temperature": st.floats(0, 2) | st.integers(0, 2),
    "timeout": st.floats(0.5, 1e6)}))
def test_valid_template_parameters_always_validate(values: dict[str, Any]) -> None:
    """Any values within the declared types and constraints give a valid workflow."""
    wf = TEMPLATE.instantiate(values)
    assert check(wf).ok
    each = wf.node("each").control
    assert isinstance(each, Map) and each.max_items == values.get("width", 10)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["width", "temperature", "model", "timeout", "extra"]),
                       json_values, max_size=5))
def test_any_template_parameters_either_validate_or_name_the_parameter(values: dict[str, Any]) -> None:
    """Arbitrary values never crash instantiation: a valid workflow or problems under params.*."""
    from symphony_actors.domain.errors import ValidationError

    try:
        wf = TEMPLATE.instantiate(values)
    except ValidationError as exc:
        assert all(p.path.startswith("params.") for p in exc.problems)
    else:
        assert assume(check(wf).ok) is None or True


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAMPLE_DOCS = None


def _sample_bytes() -> tuple[bytes, bytes]:
    global SAMPLE_DOCS
    if SAMPLE_DOCS is None:
        wf = (Workflow.build("fuzz").operator("a", "t.x/a", params={"k": [1, {"x": "y"}]}, outputs={"o": "text"})
              .then("b", "t.x/b", inputs={"i": "text"}, outputs={"o": "text"}, retry=2, timeout=3)
              .branch("r", inputs={}).when("r", "b", field("s") > 1).map("m", max_items=3).after("b", "m")
              .build(validate=False))
        SAMPLE_DOCS = (dumps_json(wf), dumps_binary(wf))
    return SAMPLE_DOCS


@FUZZ
@given(st.sampled_from([0, 1]), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1,
                                         max_size=8))
def test_damaged_files_give_typed_errors(which: int, flips: list[tuple[int, int]]) -> None:
    """Random byte damage to a JSON or binary file gives a workflow or a SymphonyError, never another exception."""
    from symphony_actors.domain.errors import SymphonyError
    from symphony_actors.domain.workflow import loads

    data = bytearray(_sample_bytes()[which])
    for pos, byte in flips:
        data[pos % len(data)] = byte
    try:
        loads(bytes(data))
    except SymphonyError:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from(["format", "version", "name", "nodes", "edges", "entries", "meta", "x"]),
                       st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                           st.sampled_from(["id", "kind", "type", "params", "inputs", "outputs", "control", "retry",
                                            "source", "target", "source_port", "target_port", "when", "field",
                                            "op", "value", "$param", "max_items"]), inner, max_size=5),
                                    max_leaves=25)))
def test_arbitrary_documents_give_typed_errors(doc: dict[str, Any]) -> None:
    """Any JSON-shaped document, right format or not, gives a workflow or a SymphonyError."""
    from symphony_actors.domain.errors import SymphonyError
    from symphony_actors.domain.workflow import from_document

    doc = {"format": "symphony.workflow", "version": 1, **doc} if "x" in doc else doc
    try:
        wf = from_document(doc)
    except SymphonyError:
        return
    if isinstance(wf, Workflow):
        check(wf)  # whatever loaded, validation runs without raising
