"""Wait for a condition by polling against a deadline (tests never sleep to wait)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.01, what: str = "") -> T:
    """Return the first truthy value of ``predicate()``; AssertionError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: T = predicate()
    while not last:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or predicate!r} (last: {last!r})")
        time.sleep(interval)
        last = predicate()
    return last
