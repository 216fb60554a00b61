"""Predicates on an upstream result: data, not code.

A conditional edge carries a predicate that the DAG tracker evaluates on the
result of the edge's source node. Predicates are small trees, evaluated by
walking them (never ``eval``), and have one JSON form::

    {"field": "score", "op": ">=", "value": 0.5}          comparison
    {"field": "error", "op": "exists"}                    presence test (no value)
    {"and": [p, ...]}   {"or": [p, ...]}   {"not": p}     logic
    {"const": true}                                       always / never

``field`` is a dotted path into the result (``"usage.tokens"``, ``"items.0"``;
an all-digit segment indexes a list); ``""`` is the result itself. Operators:
``== != < <= > >= in not_in contains startswith endswith exists``.

Evaluation is total: a missing field or values that cannot be compared make a
comparison false (``!=`` and ``not_in`` too), never an exception. In Python::

    from symphony_actors.domain.workflow import field
    p = (field("score") >= 0.5) & ~field("flagged").exists()
    p.evaluate({"score": 0.7})   # True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from symphony_actors.domain.errors import Problem, ValidationError
from symphony_actors.domain.workflow.frozen import freeze, thaw

__all__ = [
    "MAX_PREDICATE_DEPTH",
    "MAX_PREDICATE_TERMS",
    "OPERATORS",
    "And",
    "Compare",
    "Const",
    "Field",
    "Not",
    "Or",
    "Predicate",
    "field",
    "parse_predicate",
    "predicate_problems",
]

MAX_PREDICATE_DEPTH = 32
MAX_PREDICATE_TERMS = 1_000
MAX_FIELD_SEGMENTS = 32
MAX_VALUE_CHARS = 10_000

_MISSING = object()


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _ordered(a: Any, b: Any) -> bool:
    """Both numbers or both strings: the only pairs we order."""
    return (_num(a) and _num(b)) or (isinstance(a, str) and isinstance(b, str))


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _in(a: Any, b: Any) -> bool:
    return isinstance(b, tuple | list) and any(_eq(a, x) for x in b)


def _contains(a: Any, b: Any) -> bool:
    if isinstance(a, str):
        return isinstance(b, str) and b in a
    if isinstance(a, tuple | list):
        return any(_eq(x, b) for x in a)
    if isinstance(a, Mapping):
        return isinstance(b, str) and b in a
    return False


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": _eq,
    "!=": lambda a, b: not _eq(a, b),
    "<": lambda a, b: _ordered(a, b) and a < b,
    "<=": lambda a, b: _ordered(a, b) and a <= b,
    ">": lambda a, b: _ordered(a, b) and a > b,
    ">=": lambda a, b: _ordered(a, b) and a >= b,
    "in": _in,
    "not_in": lambda a, b: isinstance(b, tuple | list) and not _in(a, b),
    "contains": _contains,
    "startswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.startswith(b),
    "endswith": lambda a, b: isinstance(a, str) and isinstance(b, str) and a.endswith(b),
}
OPERATORS: frozenset[str] = frozenset([*_OPS, "exists"])


def _lookup(result: Any, path: tuple[str, ...]) -> Any:
    cur = result
    for seg in path:
        if isinstance(cur, Mapping):
            cur = cur.get(seg, _MISSING)
        elif isinstance(cur, list | tuple) and seg.isdigit():
            i = int(seg)
            cur = cur[i] if i < len(cur) else _MISSING
        else:
            return _MISSING
        if cur is _MISSING:
            return _MISSING
    return cur


class _Combinators:
    """``&``, ``|`` and ``~`` on predicates (mixed into every predicate class)."""

    __slots__ = ()

    def __and__(self, other: Predicate) -> And:
        left = self.terms if isinstance(self, And) else (self,)
        right = other.terms if isinstance(other, And) else (other,)
        return And((*left, *right))

    def __or__(self, other: Predicate) -> Or:
        left = self.terms if isinstance(self, Or) else (self,)
        right = other.terms if isinstance(other, Or) else (other,)
        return Or((*left, *right))

    def __invert__(self) -> Not:
        return Not(self)  # type: ignore[arg-type]  # self is a Predicate


@dataclass(frozen=True, slots=True)
class Compare(_Combinators):
    """``field op value``; ``op == "exists"`` ignores ``value``."""

    field: tuple[str, ...]
    op: str
    value: Any = None

    def evaluate(self, result: Any) -> bool:
        got = _lookup(result, self.field)
        if self.op == "exists":
            return got is not _MISSING
        if got is _MISSING:
            return False
        try:
            return _OPS[self.op](got, self.value)
        except (TypeError, ValueError, OverflowError):  # exotic values from an extension: not comparable
            return False

    def to_data(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": ".".join(self.field), "op": self.op}
        if self.op != "exists":
            out["value"] = thaw(self.value)
        return out


@dataclass(frozen=True, slots=True)
class And(_Combinators):
    """True when every term is (``and``; an empty one is true)."""

    terms: tuple[Predicate, ...]

    def evaluate(self, result: Any) -> bool:
        return all(t.evaluate(result) for t in self.terms)

    def to_data(self) -> dict[str, Any]:
        return {"and": [t.to_data() for t in self.terms]}


@dataclass(frozen=True, slots=True)
class Or(_Combinators):
    """True when some term is (``or``; an empty one is false)."""

    terms: tuple[Predicate, ...]

    def evaluate(self, result: Any) -> bool:
        return any(t.evaluate(result) for t in self.terms)

    def to_data(self) -> dict[str, Any]:
        return {"or": [t.to_data() for t in self.terms]}


@dataclass(frozen=True, slots=True)
class Not(_Combinators):
    term: Predicate

    def evaluate(self, result: Any) -> bool:
        return not self.term.evaluate(result)

    def to_data(self) -> dict[str, Any]:
        return {"not": self.term.to_data()}


@dataclass(frozen=True, slots=True)
class Const(_Combinators):
    value: bool

    def evaluate(self, result: Any) -> bool:
        return self.value

    def to_data(self) -> dict[str, Any]:
        return {"const": self.value}


Predicate: TypeAlias = Compare | And | Or | Not | Const


class Field:
    """A field of the upstream result, for writing predicates with Python operators."""

    __slots__ = ("path",)
    __hash__: ClassVar[None]  # type: ignore[assignment]  # == builds a predicate, so no hashing

    def __init__(self, path: str | Sequence[str]) -> None:
        self.path: tuple[str, ...] = _split(path) if isinstance(path, str) else tuple(path)

    def _cmp(self, op: str, value: Any) -> Compare:
        return Compare(self.path, op, freeze(value))

    def __eq__(self, value: object) -> Compare:  # type: ignore[override]  # a builder, not equality
        return self._cmp("==", value)

    def __ne__(self, value: object) -> Compare:  # type: ignore[override]  # a builder, not equality
        return self._cmp("!=", value)

    def __lt__(self, value: Any) -> Compare:
        return self._cmp("<", value)

    def __le__(self, value: Any) -> Compare:
        return self._cmp("<=", value)

    def __gt__(self, value: Any) -> Compare:
        return self._cmp(">", value)

    def __ge__(self, value: Any) -> Compare:
        return self._cmp(">=", value)

    def is_in(self, values: Sequence[Any]) -> Compare:
        return self._cmp("in", list(values))

    def not_in(self, values: Sequence[Any]) -> Compare:
        return self._cmp("not_in", list(values))

    def contains(self, value: Any) -> Compare:
        return self._cmp("contains", value)

    def startswith(self, prefix: str) -> Compare:
        return self._cmp("startswith", prefix)

    def endswith(self, suffix: str) -> Compare:
        return self._cmp("endswith", suffix)

    def exists(self) -> Compare:
        return Compare(self.path, "exists")

    def __repr__(self) -> str:
        return f"field({'.'.join(self.path)!r})"


def field(path: str = "") -> Field:
    """``field("usage.tokens") < 1000``: start a predicate on a field of the upstream result."""
    return Field(path)


def _split(path: str) -> tuple[str, ...]:
    return tuple(path.split(".")) if path else ()


# --------------------------------------------------------------------------- parsing


class _Budget:
    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_PREDICATE_TERMS


def _value_ok(value: Any, depth: int) -> bool:
    """JSON scalars, lists and string-keyed objects, bounded in depth and size."""
    if value is None or isinstance(value, bool | int | str):
        return not isinstance(value, str) or len(value) <= MAX_VALUE_CHARS
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if depth > 8:
        return False
    if isinstance(value, list | tuple):
        return len(value) <= 1_000 and all(_value_ok(v, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return len(value) <= 1_000 and all(isinstance(k, str) and _value_ok(v, depth + 1) for k, v in value.items())
    return False


def _parse(data: Any, path: str, depth: int, budget: _Budget, problems: list[Problem]) -> Predicate | None:
    budget.left -= 1
    if budget.left < 0:
        if budget.left == -1:
            problems.append(Problem(path, f"predicate has more than {MAX_PREDICATE_TERMS} terms", "invalid_predicate"))
        return None
    if depth > MAX_PREDICATE_DEPTH:
        problems.append(Problem(path, f"predicate nested deeper than {MAX_PREDICATE_DEPTH}", "invalid_predicate"))
        return None
    if isinstance(data, Compare | And | Or | Not | Const):
        data = data.to_data()
    if not isinstance(data, Mapping):
        problems.append(Problem(path, f"predicate must be an object, got {type(data).__name__}", "invalid_predicate"))
        return None
    keys = set(data)
    if keys == {"and"} or keys == {"or"}:
        key = "and" if "and" in data else "or"
        items = data[key]
        if not isinstance(items, list | tuple):
            problems.append(Problem(f"{path}.{key}", "expected a list of predicates", "invalid_predicate"))
            return None
        terms = [_parse(t, f"{path}.{key}[{i}]", depth + 1, budget, problems) for i, t in enumerate(items)]
        if any(t is None for t in terms):
            return None
        clean = tuple(t for t in terms if t is not None)
        return And(clean) if key == "and" else Or(clean)
    if keys == {"not"}:
        term = _parse(data["not"], f"{path}.not", depth + 1, budget, problems)
        return None if term is None else Not(term)
    if keys == {"const"}:
        if not isinstance(data["const"], bool):
            problems.append(Problem(f"{path}.const", "expected true or false", "invalid_predicate"))
            return None
        return Const(data["const"])
    if "field" in keys and "op" in keys and keys <= {"field", "op", "value"}:
        return _parse_compare(data, path, problems)
    problems.append(Problem(path, f"unknown predicate form with keys {sorted(map(str, keys))}; expected "
                                  "field/op/value, and, or, not or const", "invalid_predicate"))
    return None


def _parse_compare(data: Mapping[str, Any], path: str, problems: list[Problem]) -> Compare | None:
    ok = True
    fld, op = data["field"], data["op"]
    if not isinstance(fld, str) or len(fld) > 1_000:
        problems.append(Problem(f"{path}.field", "expected a dotted field path (a string)", "invalid_predicate"))
        ok = False
    elif fld and (any(not seg for seg in fld.split(".")) or fld.count(".") >= MAX_FIELD_SEGMENTS):
        problems.append(Problem(f"{path}.field", f"bad field path {fld!r}", "invalid_predicate"))
        ok = False
    if not isinstance(op, str) or op not in OPERATORS:
        shown = op if isinstance(op, str) and len(op) < 40 else type(op).__name__
        problems.append(Problem(f"{path}.op", f"unknown operator {shown!r}; expected one of "
                                              f"{', '.join(sorted(OPERATORS))}", "invalid_predicate"))
        return None
    if op == "exists":
        if "value" in data:
            problems.append(Problem(f"{path}.value", "'exists' takes no value", "invalid_predicate"))
            ok = False
    elif "value" not in data:
        problems.append(Problem(path, f"operator {op!r} needs a value", "invalid_predicate"))
        ok = False
    else:
        value = data["value"]
        if not _value_ok(value, 0):
            problems.append(Problem(f"{path}.value", "value must be bounded JSON data", "invalid_predicate"))
            ok = False
        elif op in ("in", "not_in") and not isinstance(value, list | tuple):
            problems.append(Problem(f"{path}.value", f"operator {op!r} needs a list", "invalid_predicate"))
            ok = False
        elif op in ("<", "<=", ">", ">=") and not (_num(value) or isinstance(value, str)):
            problems.append(Problem(f"{path}.value", f"operator {op!r} needs a number or a string",
                                    "invalid_predicate"))
            ok = False
        elif op in ("startswith", "endswith") and not isinstance(value, str):
            problems.append(Problem(f"{path}.value", f"operator {op!r} needs a string", "invalid_predicate"))
            ok = False
    if not ok:
        return None
    return Compare(_split(fld), op, freeze(data.get("value")))


def predicate_problems(data: Any, path: str = "when") -> tuple[Predicate | None, list[Problem]]:
    """Parse ``data`` (the JSON form or a predicate object), returning it and every problem found."""
    problems: list[Problem] = []
    pred = _parse(data, path, 0, _Budget(), problems)
    return (pred if not problems else None), problems


def parse_predicate(data: Any, path: str = "when") -> Predicate:
    """Parse the JSON form; raise :class:`ValidationError` naming every problem by its path."""
    pred, problems = predicate_problems(data, path)
    if problems or pred is None:
        raise ValidationError(problems, subject="predicate")
    return pred

