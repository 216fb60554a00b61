"""Positions and ranges in a text buffer (zero-based line and character, as in LSP)."""

from __future__ import annotations

from dataclasses import dataclass

from symphony_actors.domain.errors import UsageError

__all__ = ["Position", "Range"]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A place between characters: ``line`` and ``character`` both count from zero."""

    line: int
    character: int

    def __post_init__(self) -> None:
        if self.line < 0 or self.character < 0:
            raise UsageError(f"position {self.line}:{self.character} is negative",
                             line=self.line, character=self.character)

    def to_wire(self) -> dict[str, int]:
        return {"line": self.line, "character": self.character}

    @classmethod
    def from_wire(cls, data: dict[str, int]) -> Position:
        return cls(int(data["line"]), int(data["character"]))


@dataclass(frozen=True, slots=True)
class Range:
    """A half-open span ``[start, end)``; ``start`` never after ``end``."""

    start: Position
    end: Position

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise UsageError(f"range end {self.end} is before its start {self.start}")

    @property
    def is_empty(self) -> bool:
        return self.start == self.end

    def to_wire(self) -> dict[str, dict[str, int]]:
        return {"start": self.start.to_wire(), "end": self.end.to_wire()}

    @classmethod
    def from_wire(cls, data: dict[str, dict[str, int]]) -> Range:
        return cls(Position.from_wire(data["start"]), Position.from_wire(data["end"]))
