"""Parameter schemas: every problem with a path; the bulk check agrees with the one-by-one check."""

from __future__ import annotations

import pickle

import pytest

from symphony_actors.domain.errors import ValidationError
from symphony_actors.domain.workflow import FrozenDict, Param, ParamRef, ParamSchema, ParamType, freeze

SCHEMA = ParamSchema.of(
    Param("temperature", ParamType.NUMBER, default=0.7, minimum=0, maximum=2),
    Param("model", ParamType.STRING, required=True, choices=("small", "large")),
    Param("stop", ParamType.ARRAY, default=(), items=ParamType.STRING, max_length=4),
    Param("n", ParamType.INTEGER, default=1, minimum=1),
    Param("name", ParamType.STRING, min_length=1, max_length=10),
    Param("extra", ParamType.ANY),
    Param("flag", ParamType.BOOLEAN, default=False),
)


def test_resolve_fills_defaults() -> None:
    """Missing optional params take their defaults."""
    got = SCHEMA.resolve({"model": "small"})
    assert got["temperature"] == 0.7 and got["n"] == 1 and got["stop"] == () and got["flag"] is False
    assert isinstance(got, FrozenDict)


def test_every_problem_with_its_path() -> None:
    """Type, range, choice, item type, length, unknown and missing are all reported together."""
    with pytest.raises(ValidationError) as info:
        SCHEMA.resolve({"temperature": "hot", "stop": ["a", 3], "n": 0, "name": "", "zz": 1, "flag": 1})
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["params.flag", "params.model", "params.n", "params.name", "params.stop[1]",
                     "params.temperature", "params.zz"]


@pytest.mark.parametrize(("values", "ok"), [
    ({"model": "small"}, True),
    ({"model": "medium"}, False),
    ({"model": "small", "temperature": 2.5}, False),
    ({"model": "small", "temperature": float("nan")}, False),
    ({"model": "small", "temperature": True}, False),
    ({"model": "small", "n": 1.0}, False),
    ({"model": "small", "n": 3}, True),
    ({"model": "small", "temperature": 1}, True),
    ({"model": "small", "stop": ["a", "b", "c", "d", "e"]}, False),
    ({"model": "small", "extra": {"any": ["thing"]}}, True),
    ({"model": "small", "temperature": None}, True),
    ({"model": "small", "unknown": 1}, False),
    ({"model": "small", "name": "x" * 11}, False),
    ({"model": "small", "temperature": ParamRef("t")}, False),
    ({}, False),
])
def test_bulk_check_agrees_with_check(values: dict[str, object], ok: bool) -> None:
    """bulk_ok (column-wise, used by fast validation), quick_ok and check() agree."""
    frozen = freeze(values)
    assert (not SCHEMA.check(frozen)) is ok
    assert SCHEMA.bulk_ok([frozen, freeze({"model": "large"})]) is ok
    assert SCHEMA.quick_ok(frozen) is ok


def test_placeholder_is_reported_as_unresolved() -> None:
    """A ParamRef where a value should be is an unresolved-parameter problem."""
    problems = SCHEMA.check({"model": ParamRef("m")})
    assert [(p.kind, p.path) for p in problems] == [("unresolved_param", "params.model")]


def test_schema_problems() -> None:
    """Bad declarations: duplicate names, non-identifiers, bounds out of order, bad defaults."""
    bad = ParamSchema.of(Param("a", ParamType.INTEGER, default="x"), Param("a"), Param("b c"),
                         Param("d", ParamType.NUMBER, minimum=3, maximum=1),
                         Param("e", ParamType.STRING, choices=("x", 1)))
    paths = [p.path for p in bad.schema_problems()]
    assert paths == ["params[0].default", "params[1].name", "params[2].name", "params[3]", "params[4].choices[1]"]


def test_open_schema_accepts_unknown_names() -> None:
    """closed=False lets undeclared names through unchanged."""
    schema = ParamSchema.of(Param("a", ParamType.INTEGER, default=1), closed=False)
    assert schema.resolve({"b": [1]}) == {"a": 1, "b": (1,)}
    assert schema.bulk_ok([freeze({"b": 2})])


def test_schema_pickles() -> None:
    """A schema (with its cached fast checker) pickles."""
    SCHEMA.quick_ok({"model": "small"})
    assert pickle.loads(pickle.dumps(SCHEMA)) == SCHEMA
