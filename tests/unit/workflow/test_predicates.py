"""Predicates are data: parsed with paths in errors, evaluated without eval, total on any input."""

from __future__ import annotations

import pytest

from symphony_actors.domain.errors import ValidationError
from symphony_actors.domain.workflow import And, Compare, Const, Not, Or, Predicate, field, parse_predicate
from symphony_actors.domain.workflow.predicates import MAX_PREDICATE_DEPTH, OPERATORS, predicate_problems

RESULT = {"score": 0.7, "label": "spam", "tags": ["a", "b"], "usage": {"tokens": 120}, "ok": True,
          "items": [{"name": "x"}], "none": None}


@pytest.mark.parametrize(("data", "expected"), [
    ({"field": "score", "op": ">=", "value": 0.5}, True),
    ({"field": "score", "op": "<", "value": 0.5}, False),
    ({"field": "label", "op": "==", "value": "spam"}, True),
    ({"field": "label", "op": "!=", "value": "spam"}, False),
    ({"field": "label", "op": "in", "value": ["ham", "spam"]}, True),
    ({"field": "label", "op": "not_in", "value": ["ham"]}, True),
    ({"field": "tags", "op": "contains", "value": "b"}, True),
    ({"field": "label", "op": "startswith", "value": "sp"}, True),
    ({"field": "label", "op": "endswith", "value": "am"}, True),
    ({"field": "usage.tokens", "op": "<=", "value": 120}, True),
    ({"field": "items.0.name", "op": "==", "value": "x"}, True),
    ({"field": "items.5.name", "op": "exists"}, False),
    ({"field": "none", "op": "exists"}, True),
    ({"field": "missing", "op": "exists"}, False),
    ({"field": "missing", "op": "!=", "value": 1}, False),
    ({"field": "ok", "op": "==", "value": 1}, False),
    ({"field": "label", "op": ">", "value": 3}, False),
    ({"and": [{"field": "ok", "op": "==", "value": True}, {"not": {"field": "score", "op": "<", "value": 0.1}}]},
     True),
    ({"or": [{"const": False}, {"field": "label", "op": "==", "value": "ham"}]}, False),
    ({"and": []}, True),
    ({"or": []}, False),
])
def test_evaluation(data: dict[str, object], expected: bool) -> None:
    """Each operator on a sample result; missing fields and mismatched types make comparisons false."""
    assert parse_predicate(data).evaluate(RESULT) is expected


def test_python_operators_build_the_same_tree() -> None:
    """field(...) with ==, >=, &, |, ~ gives the parsed form."""
    p = (field("score") >= 0.5) & ~field("label").is_in(["ham"]) | field("ok").exists()
    assert isinstance(p, Or)
    assert parse_predicate(p.to_data()) == p
    assert p.evaluate(RESULT)
    assert (field("a") == 1) == Compare(("a",), "==", 1)
    assert isinstance((field("a") == 1) & (field("b") == 2) & (field("c") == 3), And)
    assert len(((field("a") == 1) & (field("b") == 2) & (field("c") == 3)).terms) == 3


def test_round_trip_through_data() -> None:
    """to_data() parses back to an equal predicate."""
    preds: list[Predicate] = [Const(True), Not(field("x").contains("y")), field("").exists(), field("a.b") != [1, 2]]
    for p in preds:
        assert parse_predicate(p.to_data()) == p


def test_whole_result_field() -> None:
    """An empty field path is the result itself."""
    assert (field("") == 3).evaluate(3)
    assert field("").contains("b").evaluate("abc")


def test_code_in_strings_is_only_data() -> None:
    """Strings that look like code are compared as strings, never run."""
    p = parse_predicate({"field": "__class__.__mro__", "op": "==", "value": "__import__('os').system('x')"})
    assert p.evaluate({"__class__": {"__mro__": "__import__('os').system('x')"}})
    assert not p.evaluate(object())


@pytest.mark.parametrize(("data", "path"), [
    ({"field": "x", "op": "=~", "value": 1}, "when.op"),
    ({"field": 3, "op": "==", "value": 1}, "when.field"),
    ({"field": "a..b", "op": "==", "value": 1}, "when.field"),
    ({"field": "x", "op": "=="}, "when"),
    ({"field": "x", "op": "exists", "value": 1}, "when.value"),
    ({"field": "x", "op": "in", "value": 1}, "when.value"),
    ({"field": "x", "op": "<", "value": [1]}, "when.value"),
    ({"field": "x", "op": "==", "value": float("nan")}, "when.value"),
    ({"field": "x", "op": "==", "value": object()}, "when.value"),
    ({"and": {"field": "x"}}, "when.and"),
    ({"and": [{"field": "x", "op": "==", "value": 1}, "junk"]}, "when.and[1]"),
    ({"not": {"bogus": 1}}, "when.not"),
    ({"const": "yes"}, "when.const"),
    ("x > 1", "when"),
    ({"field": "x", "op": "==", "value": 1, "extra": 2}, "when"),
])
def test_bad_predicates_name_their_path(data: object, path: str) -> None:
    """Each malformed predicate is a ValidationError whose problem points at the offending part."""
    with pytest.raises(ValidationError) as info:
        parse_predicate(data)
    assert path in [p.path for p in info.value.problems]
    assert all(p.kind == "invalid_predicate" for p in info.value.problems)


def test_hostile_depth_and_size_are_bounded() -> None:
    """Very deep or very wide predicates are refused quickly, not evaluated."""
    deep: object = {"field": "x", "op": "exists"}
    for _ in range(10_000):
        deep = {"not": deep}
    _, problems = predicate_problems(deep)
    assert problems and "deeper" in problems[0].message
    wide = {"or": [{"field": "x", "op": "exists"}] * 5_000}
    _, problems = predicate_problems(wide)
    assert any("more than" in p.message for p in problems)
    huge_value = {"field": "x", "op": "==", "value": "y" * 100_000}
    assert predicate_problems(huge_value)[1]


def test_every_problem_reported_at_once() -> None:
    """Two bad terms give two problems."""
    _, problems = predicate_problems({"and": [{"field": "x", "op": "??", "value": 1}, {"const": 3}]})
    assert [p.path for p in problems] == ["when.and[0].op", "when.and[1].const"]


def test_operator_list() -> None:
    """The documented operator set."""
    assert {"==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains", "startswith", "endswith",
            "exists"} == OPERATORS


def test_comparison_with_exotic_result_values_is_false() -> None:
    """Results holding values that refuse comparison make the comparison false, not an error."""
    class Weird:
        def __eq__(self, other: object) -> bool:
            raise TypeError("no")
        __hash__ = object.__hash__
    assert not (field("w") == 1).evaluate({"w": Weird()})
    assert MAX_PREDICATE_DEPTH == 32
