"""Allow ``builtin.call`` callables in tests: in this process and in the systems booted inside the block."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from symphony_actors.config import ALLOWED_CALLABLES_ENV
from symphony_actors.domain.callables import CallablePolicy, using

__all__ = ["TEST_CALLABLES", "allow_callables"]

TEST_CALLABLES = "symphony_actors.testing.services:*"


@contextmanager
def allow_callables(*patterns: str) -> Iterator[CallablePolicy]:
    """``patterns`` (default: the test services) allowed here, and through ``$SYMPHONY_ALLOWED_CALLABLES``
    in every system booted (or ``symphony`` command run) inside the block; both restored after."""
    items = patterns or (TEST_CALLABLES,)
    before = os.environ.get(ALLOWED_CALLABLES_ENV)
    os.environ[ALLOWED_CALLABLES_ENV] = " ".join(items)
    try:
        with using(CallablePolicy.parse(items, "the test")) as policy:
            yield policy
    finally:
        if before is None:
            os.environ.pop(ALLOWED_CALLABLES_ENV, None)
        else:
            os.environ[ALLOWED_CALLABLES_ENV] = before
