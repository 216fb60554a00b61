"""Reading TOML written by someone else (extension manifests): bounded, typed errors, never a traceback.

Python's ``tomllib`` raises ``RecursionError`` on deeply nested arrays or inline tables and
``ValueError`` on an integer of more than 4300 digits; a FIFO or device would block or never end.
:func:`read_toml` turns each into a :class:`ValidationError` naming the file and the problem.
"""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import Problem, ValidationError

__all__ = ["MAX_DEPTH", "read_toml"]

MAX_DEPTH = 32  # nesting of tables and arrays (a manifest's schemas need a dozen levels at most)


def read_toml(path: Path, limit: int) -> dict[str, Any]:
    """A TOML file's table (an extension manifest); every kind of hostile file is a ``ValidationError`` naming the file.

    Only a regular file is read (a FIFO or a device swapped in would block or never end), at most ``limit``
    bytes; no NUL bytes, UTF-8; tomllib's own failures on hostile input (``RecursionError`` on deep
    nesting, ``ValueError`` on an integer of more than 4300 digits) become problems too; then the table
    may nest at most :data:`MAX_DEPTH` levels and hold only 64-bit integers.
    """
    def bad(message: str, kind: str = "invalid") -> ValidationError:
        return ValidationError([Problem(path.name, message, kind)], subject="manifest")

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except OSError as exc:
        raise bad(f"cannot be read: {exc.strerror or exc}", "missing") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise bad("is not a regular file")
    with os.fdopen(fd, "rb") as f:
        raw = f.read(limit + 1)
    if len(raw) > limit:
        raise bad(f"is larger than the limit of {limit} bytes", "too_large")
    if b"\0" in raw:
        raise bad("is not valid TOML: it is binary (contains NUL bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"is not valid TOML: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise bad(f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise bad(f"nests arrays or tables too deeply (at most {MAX_DEPTH} levels)", "too_deep") from None
    except ValueError as exc:  # int() refuses more than 4300 digits (CVE-2020-10735 guard)
        raise bad(f"holds a number too large to read: {str(exc)[:120]}", "too_large") from None
    problem = _shape_problem(data)
    if problem is not None:
        raise bad(*problem)
    return data


def _shape_problem(data: object) -> tuple[str, str] | None:
    """Why ``data`` nests deeper than :data:`MAX_DEPTH` or holds an integer beyond 64 bits (iteratively)."""
    stack: list[tuple[object, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            return "holds an integer outside the 64-bit range", "too_large"
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                return f"nests arrays or tables deeper than {MAX_DEPTH} levels", "too_deep"
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
    return None
