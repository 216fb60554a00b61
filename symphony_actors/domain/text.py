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
        """Read ``{"line": int, "character": int}`` (as clients send it); ``UsageError`` if it is not that."""
        try:
            line, character = data["line"], data["character"]
        except (KeyError, TypeError, IndexError):
            raise UsageError(f"position must be {{'line': int, 'character': int}}, got {data!r:.100}") from None
        if type(line) is not int or type(character) is not int:
            raise UsageError(f"position line and character must be integers, got {data!r:.100}")
        return cls(line, character)


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
        """Read ``{"start": position, "end": position}``; ``UsageError`` if it is not that."""
        try:
            start, end = data["start"], data["end"]
        except (KeyError, TypeError, IndexError):
            raise UsageError(f"range must be {{'start': position, 'end': position}}, got {data!r:.100}") from None
        return cls(Position.from_wire(start), Position.from_wire(end))
