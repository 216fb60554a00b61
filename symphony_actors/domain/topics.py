"""Topic patterns for publish/subscribe.

Topics are dotted names (``run.r1.node.succeeded``). In a pattern ``*`` matches
exactly one segment and ``#`` (last segment only) matches zero or more
trailing segments, as in AMQP topic exchanges.
"""

from __future__ import annotations

from functools import lru_cache

from symphony_actors.domain.errors import UsageError

__all__ = ["check_pattern", "matches"]


@lru_cache(maxsize=4096)
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split("."))


def check_pattern(pattern: str) -> str:
    """Return ``pattern`` if it is well formed, else raise ``UsageError`` saying why."""
    if not pattern:
        raise UsageError("empty topic pattern")
    parts = _split(pattern)
    for i, part in enumerate(parts):
        if part == "":
            raise UsageError(f"topic pattern {pattern!r} has an empty segment")
        if part == "#" and i != len(parts) - 1:
            raise UsageError(f"topic pattern {pattern!r}: '#' may only be the last segment")
    return pattern


def matches(pattern: str, topic: str) -> bool:
    """Whether ``topic`` matches ``pattern``."""
    if pattern == topic or pattern == "#":
        return True
    pp, tp = _split(pattern), _split(topic)
    for i, p in enumerate(pp):
        if p == "#":
            return True
        if i >= len(tp) or (p != "*" and p != tp[i]):
            return False
    return len(pp) == len(tp)
