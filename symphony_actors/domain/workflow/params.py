"""Parameter schemas: typed parameters with defaults and constraints.

Used twice: a node type declares the parameters its nodes accept (see
:mod:`.catalog`), and a template declares the parameters it is instantiated
with. A :class:`ParamRef` (JSON ``{"$param": "name"}``) stands for a template
parameter inside a node's params or in structural fields such as a map's
``max_items``; instantiation replaces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from operator import methodcaller
from typing import Any

from symphony_actors.domain.errors import Problem, ValidationError
from symphony_actors.domain.workflow.frozen import FrozenDict, freeze

__all__ = ["Param", "ParamRef", "ParamSchema", "ParamType", "check_value"]


@dataclass(frozen=True, slots=True)
class ParamRef:
    """A reference to a template parameter; JSON form ``{"$param": "name"}``."""

    name: str

    def to_data(self) -> dict[str, str]:
        return {"$param": self.name}


class ParamType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"
    ANY = "any"


def _type_ok(t: ParamType, v: Any) -> bool:
    if t is ParamType.ANY:
        return True
    if t is ParamType.STRING:
        return isinstance(v, str)
    if t is ParamType.BOOLEAN:
        return isinstance(v, bool)
    if t is ParamType.INTEGER:
        return isinstance(v, int) and not isinstance(v, bool)
    if t is ParamType.NUMBER:
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if t is ParamType.ARRAY:
        return isinstance(v, tuple | list)
    return isinstance(v, Mapping)


@dataclass(frozen=True, slots=True)
class Param:
    """One typed parameter. ``required`` parameters have no default; others default to ``default``."""

    name: str
    type: ParamType = ParamType.ANY
    default: Any = None
    required: bool = False
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Any, ...] | None = None
    items: ParamType | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ParamType(self.type))
        if self.items is not None:
            object.__setattr__(self, "items", ParamType(self.items))
        object.__setattr__(self, "default", freeze(self.default))
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(freeze(c) for c in self.choices))

    def problems(self, value: Any, path: str) -> list[Problem]:
        """Every way ``value`` breaks this parameter's type and constraints."""
        return check_value(self, value, path)

    def schema_problems(self, path: str) -> list[Problem]:
        """Problems with the declaration itself (bounds out of order, a default that breaks them)."""
        out: list[Problem] = []
        if not self.name or not self.name.isidentifier():
            out.append(Problem(f"{path}.name", f"parameter name {self.name!r} must be an identifier", "invalid"))
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            out.append(Problem(path, f"minimum {self.minimum} is above maximum {self.maximum}", "invalid"))
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            out.append(Problem(path, f"min_length {self.min_length} is above max_length {self.max_length}",
                               "invalid"))
        if not self.required and self.default is not None:
            out.extend(check_value(self, self.default, f"{path}.default"))
        if self.choices is not None:
            for i, c in enumerate(self.choices):
                if not _type_ok(self.type, c):
                    out.append(Problem(f"{path}.choices[{i}]", f"choice is not of type {self.type}", "invalid"))
        return out


def check_value(p: Param, value: Any, path: str) -> list[Problem]:
    """Problems of ``value`` against parameter ``p`` (``None`` is allowed only as the default)."""
    kind = "invalid_param"
    if isinstance(value, ParamRef):
        return [Problem(path, f"unresolved template parameter {value.name!r}", "unresolved_param")]
    if not _type_ok(p.type, value):
        return [Problem(path, f"expected {p.type}, got {_describe(value)}", kind)]
    out: list[Problem] = []
    if p.type in (ParamType.INTEGER, ParamType.NUMBER) or (p.type is ParamType.ANY and _type_ok(ParamType.NUMBER,
                                                                                                 value)):
        if p.minimum is not None and value < p.minimum:
            out.append(Problem(path, f"{value} is below the minimum {p.minimum:g}", kind))
        if p.maximum is not None and value > p.maximum:
            out.append(Problem(path, f"{value} is above the maximum {p.maximum:g}", kind))
    if isinstance(value, str | tuple | list | Mapping):
        n = len(value)
        if p.min_length is not None and n < p.min_length:
            out.append(Problem(path, f"length {n} is below the minimum {p.min_length}", kind))
        if p.max_length is not None and n > p.max_length:
            out.append(Problem(path, f"length {n} is above the maximum {p.max_length}", kind))
    if p.items is not None and isinstance(value, tuple | list):
        for i, v in enumerate(value):
            if not _type_ok(p.items, v):
                out.append(Problem(f"{path}[{i}]", f"expected {p.items}, got {_describe(v)}", kind))
                break
    if p.choices is not None and freeze(value) not in p.choices:
        shown = ", ".join(repr(c) for c in p.choices[:10])
        out.append(Problem(path, f"{_short(value)} is not one of {shown}", kind))
    return out


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number" if math.isfinite(v) else "a non-finite number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, tuple | list):
        return "array"
    if isinstance(v, Mapping):
        return "object"
    return type(v).__name__


def _short(v: Any) -> str:
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


_EXACT: dict[ParamType, tuple[type, ...] | None] = {
    ParamType.STRING: (str,),
    ParamType.INTEGER: (int,),
    ParamType.NUMBER: (int, float),
    ParamType.BOOLEAN: (bool,),
    ParamType.ARRAY: (tuple, list),
    ParamType.OBJECT: (FrozenDict, dict),
    ParamType.ANY: None,
}
class _NoValue:
    __slots__ = ()


_NO_VALUE = _NoValue()


def _fast_checker(params: tuple[Param, ...], closed: bool) -> Callable[[Mapping[str, Any]], bool]:
    """A quick yes/no for the common case (valid values); ``False`` sends the caller to :meth:`ParamSchema.check`
    for the messages. Exact type tests: data from our decoders holds only plain JSON types."""
    names = frozenset(p.name for p in params)
    specs = []
    for p in params:
        exact = _EXACT[p.type]
        simple = (p.minimum is None and p.maximum is None and p.min_length is None and p.max_length is None
                  and p.choices is None and p.items is None and p.type is not ParamType.NUMBER)
        specs.append((p.name, frozenset(exact) if exact is not None else None, p.required, simple, p))

    def ok(values: Mapping[str, Any]) -> bool:
        d = values._d if type(values) is FrozenDict else values
        if closed and not d.keys() <= names:
            return False
        get = d.get
        for name, exact, required, simple, p in specs:
            v = get(name, _NO_VALUE)
            if v is _NO_VALUE:
                if required:
                    return False
                continue
            if v is None and not required:
                continue
            if exact is not None and type(v) not in exact:
                return False
            if not simple and check_value(p, v, ""):
                return False
        return True

    return ok


@dataclass(frozen=True, slots=True)
class ParamSchema:
    """An ordered set of parameters. ``closed`` schemas reject names they do not declare."""

    params: tuple[Param, ...] = ()
    closed: bool = True
    _ok: Callable[[Mapping[str, Any]], bool] | None = field(default=None, init=False, repr=False, compare=False,
                                                          hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", tuple(self.params))

    def quick_ok(self, values: Mapping[str, Any]) -> bool:
        """True when ``values`` has no problem (fast); ``False`` means: call :meth:`check` for them."""
        ok = self._ok
        if ok is None:
            ok = _fast_checker(self.params, self.closed)
            object.__setattr__(self, "_ok", ok)
        return ok(values)

    def bulk_ok(self, dicts: list[Mapping[str, Any]]) -> bool:
        """True when every mapping in ``dicts`` passes (checked column by column with C-level builtins);
        ``False`` means at least one may not: check them one by one for the messages."""
        return self.bulk_types(dicts) is not None

    def bulk_types(self, dicts: list[Mapping[str, Any]]) -> set[type] | None:
        """Like :meth:`bulk_ok`; on success the set of value types met (for a closed schema: all of them)."""
        seen: set[type] = set()
        if not dicts:
            return seen
        declared_values = 0
        for p in self.params:
            vals = list(map(methodcaller("get", p.name, _NO_VALUE), dicts))
            present = set(map(type, vals))
            if _NoValue in present:
                if p.required:
                    return None
                vals = [v for v in vals if v is not _NO_VALUE]
                present.discard(_NoValue)
            declared_values += len(vals)
            seen |= present
            if type(None) in present:
                if p.required:
                    return None
                vals = [v for v in vals if v is not None]
                present.discard(type(None))
            if not vals:
                continue
            exact = _EXACT[p.type]
            if exact is not None and not present.issubset(exact):
                return None
            if p.type is ParamType.ANY:
                if any(check_value(p, v, "") for v in vals):
                    return None
                continue
            # sum() is finite when every value is (an overflow only sends us to the exact test).
            if float in present and not math.isfinite(sum(vals)) and not all(map(math.isfinite, vals)):
                return None
            numeric = p.type in (ParamType.INTEGER, ParamType.NUMBER)
            sized = p.type in (ParamType.STRING, ParamType.ARRAY, ParamType.OBJECT)
            if numeric and p.minimum is not None and min(vals) < p.minimum:
                return None
            if numeric and p.maximum is not None and max(vals) > p.maximum:
                return None
            if sized and p.min_length is not None and min(map(len, vals)) < p.min_length:
                return None
            if sized and p.max_length is not None and max(map(len, vals)) > p.max_length:
                return None
            if p.choices is not None and not set(map(freeze, vals)).issubset(p.choices):
                return None
            if p.items is not None and not all(not check_value(p, v, "") for v in vals):
                return None
        if self.closed and sum(map(len, dicts)) != declared_values:
            return None  # some mapping has a name the schema does not declare
        return seen

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.params, self.closed)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        object.__setattr__(self, "params", state[0])
        object.__setattr__(self, "closed", state[1])
        object.__setattr__(self, "_ok", None)

    @classmethod
    def of(cls, *params: Param, closed: bool = True) -> ParamSchema:
        return cls(tuple(params), closed)

    def __iter__(self) -> Any:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def get(self, name: str) -> Param | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def check(self, values: Mapping[str, Any], path: str = "params") -> list[Problem]:
        """Every problem with ``values``: unknown names, missing required ones, bad types, broken constraints."""
        out: list[Problem] = []
        declared = {p.name: p for p in self.params}
        if self.closed:
            for name in values:
                if name not in declared:
                    out.append(Problem(f"{path}.{name}", f"unknown parameter {name!r}"
                                       + (f"; expected one of {', '.join(sorted(declared))}" if declared else ""),
                                       "invalid_param"))
        for p in self.params:
            if p.name in values:
                v = values[p.name]
                if v is None and not p.required:
                    continue
                out.extend(check_value(p, v, f"{path}.{p.name}"))
            elif p.required:
                out.append(Problem(f"{path}.{p.name}", f"required parameter {p.name!r} is missing", "invalid_param"))
        return out

    def resolve(self, values: Mapping[str, Any] | None = None, path: str = "params",
                subject: str = "parameters") -> FrozenDict[str, Any]:
        """``values`` with defaults filled in; raises :class:`ValidationError` listing every problem."""
        values = values or {}
        problems = self.check(values, path)
        if problems:
            raise ValidationError(problems, subject=subject)
        out = {p.name: (freeze(values[p.name]) if p.name in values else p.default) for p in self.params}
        for k, v in values.items():
            if k not in out:
                out[k] = freeze(v)
        return FrozenDict(out)

    def schema_problems(self, path: str = "params") -> list[Problem]:
        out: list[Problem] = []
        seen: set[str] = set()
        for i, p in enumerate(self.params):
            if p.name in seen:
                out.append(Problem(f"{path}[{i}].name", f"duplicate parameter {p.name!r}", "duplicate"))
            seen.add(p.name)
            out.extend(p.schema_problems(f"{path}[{i}]"))
        return out


def params_from(items: Iterable[Param]) -> ParamSchema:
    return ParamSchema(tuple(items))
