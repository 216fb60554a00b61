"""Positions and ranges in a text buffer."""

from __future__ import annotations

from typing import Any

import pytest

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.text import Position, Range


def test_positions_order_by_line_then_character() -> None:
    assert Position(1, 9) < Position(2, 0) < Position(2, 1)
    assert sorted([Position(3, 0), Position(0, 5), Position(0, 1)]) == [Position(0, 1), Position(0, 5),
                                                                        Position(3, 0)]


@pytest.mark.parametrize(("line", "char"), [(-1, 0), (0, -1)])
def test_negative_positions_are_refused(line: int, char: int) -> None:
    with pytest.raises(UsageError):
        Position(line, char)


def test_a_range_never_ends_before_it_starts() -> None:
    with pytest.raises(UsageError) as info:
        Range(Position(2, 0), Position(1, 5))
    assert "before its start" in str(info.value)
    assert Range(Position(1, 1), Position(1, 1)).is_empty
    assert not Range(Position(1, 1), Position(1, 2)).is_empty


def test_wire_forms_round_trip() -> None:
    r = Range(Position(1, 2), Position(3, 4))
    assert r.to_wire() == {"start": {"line": 1, "character": 2}, "end": {"line": 3, "character": 4}}
    assert Range.from_wire(r.to_wire()) == r
    assert Position.from_wire({"line": 7, "character": 0}) == Position(7, 0)


@pytest.mark.parametrize("data", [{}, {"line": 1}, {"line": "1", "character": 2}, {"line": 1.5, "character": 0},
                                  None, [1, 2], {"line": True, "character": 0}, {"line": -1, "character": 0}])
def test_bad_wire_positions_are_usage_errors(data: Any) -> None:
    with pytest.raises(UsageError):
        Position.from_wire(data)


@pytest.mark.parametrize("data", [{}, {"start": {"line": 0, "character": 0}}, None, "x",
                                  {"start": {"line": 2, "character": 0}, "end": {"line": 1, "character": 0}}])
def test_bad_wire_ranges_are_usage_errors(data: Any) -> None:
    with pytest.raises(UsageError):
        Range.from_wire(data)
