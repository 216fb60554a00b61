"""The model is made of immutable values: hashable, comparable, picklable."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from symphony_actors.domain.errors import NotFoundError
from symphony_actors.domain.workflow import (
    Edge,
    EdgeKind,
    FrozenDict,
    Node,
    NodeKind,
    Port,
    RetryPolicy,
    Workflow,
    freeze,
    thaw,
    types_compatible,
)


def test_values_are_frozen(sample: Workflow) -> None:
    """Nodes, edges and workflows refuse assignment; params refuse item assignment."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sample.nodes[0].id = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        sample.nodes[0].params["path"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        sample.nodes[0].params.x = 1


def test_workflow_pickles_and_hashes(sample: Workflow) -> None:
    """A workflow crosses processes intact and can key a dict."""
    again = pickle.loads(pickle.dumps(sample))
    assert again == sample
    assert hash(again) == hash(sample)
    assert again.node("score").retry == RetryPolicy(3)


def test_node_lookup(sample: Workflow) -> None:
    """node() finds by id; a missing id is a NotFoundError naming it."""
    assert sample.node("score").kind is NodeKind.INSTRUMENT
    assert "score" in sample
    assert sample.index_of("clean") == 1
    with pytest.raises(NotFoundError, match="nope"):
        sample.node("nope")


def test_edges_into_and_from(sample: Workflow) -> None:
    """Edge queries by node."""
    assert {e.source for e in sample.edges_into("either")} == {"keep", "drop"}
    assert {e.kind for e in sample.edges_from("route")} == {EdgeKind.CONDITIONAL}


def test_frozen_dict_behaves_like_a_mapping() -> None:
    """FrozenDict: equality with dicts, stable hash, order kept, round trip through thaw."""
    d = freeze({"b": [1, {"c": 2}], "a": None})
    assert isinstance(d, FrozenDict)
    assert d == {"b": (1, FrozenDict({"c": 2})), "a": None}
    assert list(d) == ["b", "a"]
    assert hash(d) == hash(freeze({"a": None, "b": [1, {"c": 2}]}))
    assert thaw(d) == {"b": [1, {"c": 2}], "a": None}
    assert pickle.loads(pickle.dumps(d)) == d


def test_retry_delay_grows_and_caps() -> None:
    """Backoff is exponential up to max_backoff_s; retry_on decides which codes retry."""
    r = RetryPolicy(retries=5, backoff_s=1, multiplier=2, max_backoff_s=5, retry_on=("busy",))
    assert [r.delay(k) for k in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert r.retries_code("busy", False)
    assert not r.retries_code("extension_failed", True)
    assert RetryPolicy().retries_code("extension_failed", True)
    assert not RetryPolicy().retries_code("validation", False)


def test_type_compatibility() -> None:
    """Equal types, 'any' on either side, and integer into number are compatible."""
    assert types_compatible("text", "text")
    assert types_compatible("any", "json")
    assert types_compatible("json", "any")
    assert types_compatible("integer", "number")
    assert not types_compatible("number", "integer")
    assert not types_compatible("text", "json")


def test_edge_constructors_and_str() -> None:
    """Edge.data/control/conditional fill the kind; str() reads as an arrow."""
    assert str(Edge.data("a", "out", "b", "in")) == "a.out -> b.in"
    assert str(Edge.control("a", "b")) == "a -> b (control)"
    assert Edge.conditional("a", "b", None).kind is EdgeKind.CONDITIONAL


def test_node_make_and_replace() -> None:
    """Node.make freezes params; replace gives a changed copy."""
    n = Node.make("a", "operator", "x.y", params={"k": [1]}, inputs=[Port("in")])
    assert n.params == {"k": (1,)}
    assert n.input("in") == Port("in")
    assert n.output("out") is None
    assert n.replace(label="A").label == "A"
    assert n.label == ""
