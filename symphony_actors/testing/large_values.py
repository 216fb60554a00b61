"""Operators for tests of large values between nodes (called through ``builtin.call``)."""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = ["digest", "make_bytes", "make_list", "make_parts", "payload", "size_of"]


def payload(size: int, seed: int = 0) -> bytes:
    """``size`` pseudo-random bytes, the same for the same seed (incompressible, as model outputs are)."""
    return random.Random(seed).randbytes(size)


def make_bytes(size: int, seed: int = 0, **_: Any) -> bytes:
    return payload(size, seed)


def make_parts(size: int, seed: int = 0, **_: Any) -> dict[str, Any]:
    """Two outputs: ``big`` (``size`` bytes) and ``small`` (its length)."""
    return {"big": payload(size, seed), "small": size}


def digest(data: Any = None, **_: Any) -> dict[str, Any]:
    """What arrived on ``data``: its type, its length and its SHA-256 (or its repr for small non-bytes)."""
    if isinstance(data, bytes | bytearray):
        return {"type": "bytes", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    return {"type": type(data).__name__, "value": repr(data)[:200]}


def size_of(item: Any = None, **_: Any) -> int:
    return len(item) if isinstance(item, bytes | str | list) else -1


def make_list(items: int, each: int, **_: Any) -> list[bytes]:
    """``items`` values of ``each`` bytes."""
    return [payload(each, i) for i in range(items)]
