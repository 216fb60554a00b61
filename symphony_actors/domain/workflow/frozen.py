"""Immutable JSON-like values: :class:`FrozenDict` and :func:`freeze` / :func:`thaw`.

Workflow parameters and metadata are JSON data. Inside the model they are frozen
(dicts become :class:`FrozenDict`, lists become tuples) so a workflow is a value:
hashable, safe to share between threads, picklable across processes (a
``types.MappingProxyType`` would not pickle).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeAlias, TypeVar

__all__ = ["EMPTY", "FrozenDict", "JsonValue", "freeze", "thaw"]

K = TypeVar("K")
V = TypeVar("V")

JsonValue: TypeAlias = "bool | int | float | str | tuple[Any, ...] | FrozenDict[str, Any] | None"


class FrozenDict(Mapping[K, V]):
    """A read-only, hashable, picklable mapping that keeps insertion order."""

    __slots__ = ("_d", "_h")

    _d: dict[K, V]
    _h: int | None

    def __init__(self, data: Mapping[K, V] | None = None, /, **kw: V) -> None:
        d: dict[Any, V] = dict(data) if data is not None else {}
        if kw:
            d.update(kw)
        object.__setattr__(self, "_d", d)
        object.__setattr__(self, "_h", None)

    @classmethod
    def _wrap(cls, d: dict[K, V]) -> FrozenDict[K, V]:
        """Adopt ``d`` without copying (the caller gives it up)."""
        self = cls.__new__(cls)
        object.__setattr__(self, "_d", d)
        object.__setattr__(self, "_h", None)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("FrozenDict is immutable")

    def __getitem__(self, key: K) -> V:
        return self._d[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def get(self, key: K, default: Any = None) -> Any:
        return self._d.get(key, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._d == other._d
        if isinstance(other, Mapping):
            return self._d == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        h = self._h
        if h is None:
            h = hash(frozenset(self._d.items()))
            object.__setattr__(self, "_h", h)
        return h

    def __repr__(self) -> str:
        return f"FrozenDict({self._d!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (self._d,))

    def to_dict(self) -> dict[K, V]:
        """A shallow, mutable copy."""
        return dict(self._d)


EMPTY: FrozenDict[str, Any] = FrozenDict()


def freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data: dicts to :class:`FrozenDict`, lists to tuples; scalars unchanged."""
    if isinstance(value, dict | FrozenDict):
        return FrozenDict._wrap({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists, ready for a JSON or CBOR encoder."""
    if isinstance(value, FrozenDict):
        return {k: thaw(v) for k, v in value._d.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value
