"""load_factory and call_method: the same checks under test and in production."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from symphony_actors.domain.errors import InvalidTypeError, NotFoundError, UsageError
from symphony_actors.hosting import HOOKS, call_method, exported_methods, load_factory
from symphony_actors.ports.service import ServiceSettings


class Counter:
    """A tiny service."""

    def __init__(self, settings: ServiceSettings | None = None) -> None:
        self.n = 0

    def add(self, by: int = 1) -> int:
        self.n += by
        return self.n

    def broken(self) -> None:
        return len(5)  # type: ignore[arg-type,return-value]  # a TypeError deep inside: a bug

    def on_start(self, ctx: Any) -> None:
        pass

    def on_stop(self) -> None:
        pass

    def _private(self) -> None:
        pass


class Declared:
    EXPORTS: ClassVar[frozenset[str]] = frozenset({"ping"})

    def ping(self) -> str:
        return "pong"

    def hidden(self) -> str:
        return "no"


def build(settings: ServiceSettings) -> Counter:
    return Counter(settings)


NOT_CALLABLE = 42


class Holder:
    class Inner:
        @staticmethod
        def make(settings: ServiceSettings) -> Counter:
            return Counter(settings)


def test_load_factory_finds_a_callable_by_path(tmp_path: Path) -> None:
    factory = load_factory(f"{__name__}:build")
    service = factory(ServiceSettings("c", tmp_path))
    assert isinstance(service, Counter)
    assert load_factory(f"{__name__}:Holder.Inner.make") is Holder.Inner.make


@pytest.mark.parametrize("path", ["nocolon", ":build", "pkg.mod:", ""])
def test_malformed_factory_paths_are_usage_errors(path: str) -> None:
    with pytest.raises(UsageError) as info:
        load_factory(path)
    assert "package.module:callable" in str(info.value)


def test_missing_module_and_attribute_are_not_found() -> None:
    with pytest.raises(NotFoundError) as info:
        load_factory("symphony_actors.no_such_module:build")
    assert "cannot be imported" in str(info.value)
    with pytest.raises(NotFoundError) as info:
        load_factory(f"{__name__}:no_such_factory")
    assert "no attribute" in str(info.value)


def test_a_non_callable_factory_is_an_invalid_type() -> None:
    with pytest.raises(InvalidTypeError):
        load_factory(f"{__name__}:NOT_CALLABLE")


def test_exports_are_public_methods_without_hooks() -> None:
    assert exported_methods(Counter) == {"add", "broken"}
    assert not HOOKS & exported_methods(Counter)


def test_declared_exports_win() -> None:
    assert exported_methods(Declared) == {"ping"}
    with pytest.raises(NotFoundError):
        call_method(Declared(), "hidden", {})


def test_call_method_calls_with_keyword_arguments() -> None:
    c = Counter()
    assert call_method(c, "add", {"by": 5}) == 5
    assert call_method(c, "add", None) == 6


@pytest.mark.parametrize("method", ["nope", "_private", "on_start", "on_stop", "__init__"])
def test_unexported_methods_are_not_found(method: str) -> None:
    with pytest.raises(NotFoundError) as info:
        call_method(Counter(), method, {})
    assert repr(method) in str(info.value)


def test_bad_arguments_are_the_callers_mistake() -> None:
    with pytest.raises(InvalidTypeError) as info:
        call_method(Counter(), "add", {"by": 1, "extra": 2})
    assert "bad arguments for 'add'" in str(info.value)
    with pytest.raises(InvalidTypeError):
        call_method(Counter(), "add", {1: 2})
    with pytest.raises(InvalidTypeError):
        call_method(Counter(), "add", [1, 2])  # type: ignore[arg-type]


def test_a_type_error_inside_the_method_is_a_bug_and_propagates() -> None:
    with pytest.raises(TypeError) as info:
        call_method(Counter(), "broken", {})
    assert not isinstance(info.value, InvalidTypeError)
