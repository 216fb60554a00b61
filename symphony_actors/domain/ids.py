"""Typed identifiers.

Identifiers are plain ``str`` at run time (cheap to hash, encode and log) and
distinct types for mypy, so a ``RunId`` cannot be passed where a ``NodeId`` is
expected. ``new_*`` functions make fresh ones; ``ExtensionId`` is validated
because users type it.
"""

from __future__ import annotations

import os
import re
import time
from typing import NewType

from symphony_actors.domain.errors import UsageError

__all__ = [
    "ArtifactId",
    "BufferId",
    "ExtensionId",
    "ModelId",
    "NodeId",
    "RunId",
    "ViewId",
    "WorkflowId",
    "extension_id",
    "new_id",
    "new_run_id",
]

RunId = NewType("RunId", str)
NodeId = NewType("NodeId", str)
WorkflowId = NewType("WorkflowId", str)
ExtensionId = NewType("ExtensionId", str)
ArtifactId = NewType("ArtifactId", str)
BufferId = NewType("BufferId", str)
ViewId = NewType("ViewId", str)
ModelId = NewType("ModelId", str)

_EXTENSION_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}\.[a-z0-9][a-z0-9_.-]{0,63}")


def new_id(prefix: str = "") -> str:
    """A sortable unique id: milliseconds since the epoch, then 64 random bits, in hex."""
    stamp = int(time.time() * 1000)
    return f"{prefix}{stamp:012x}{os.urandom(8).hex()}"


def new_run_id() -> RunId:
    return RunId(new_id("run-"))


def extension_id(text: str) -> ExtensionId:
    """Validate ``publisher.name`` (lower case letters, digits, ``_``, ``-``)."""
    # fullmatch: with match(), "$" also matched before a trailing newline ("pub.name\n").
    if not isinstance(text, str) or not _EXTENSION_ID.fullmatch(text):
        raise UsageError(f"invalid extension id {text!r}: expected 'publisher.name' in lower case", value=text)
    return ExtensionId(text)
