"""Operators for tests of long and hung tasks and of per-attempt logs (called through ``builtin.call``)."""

from __future__ import annotations

import sys
import threading
from typing import Any

from symphony_actors.pit.dag.operators import log

__all__ = ["block_forever", "chatty", "count_then_wait"]


def block_forever(**_: Any) -> None:
    """A genuinely hung task: waits on an event nobody sets, and ignores its time limit."""
    threading.Event().wait()


def chatty(lines: int = 3, big: int = 0, **_: Any) -> int:
    """Prints to stdout and stderr and logs ``lines`` lines; ``big`` more characters of stdout (truncation)."""
    for i in range(lines):
        print(f"out line {i}")
        print(f"err line {i}", file=sys.stderr)
        log(f"log line {i}", level="info", index=i)
    if big:
        sys.stdout.write("x" * big + "\n")
    return lines


def count_then_wait(path: str, seconds: float = 0.5, **_: Any) -> int:
    """Appends a line to ``path`` (one per execution), then waits ``seconds`` ignoring any cancellation:
    a task that is mid-flight when its executor is asked to stop."""
    import os

    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"ran\n")
    finally:
        os.close(fd)
    threading.Event().wait(seconds)  # not builtin.sleep: this task does not cooperate with cancellation
    return 1
