"""Turn what a user hands in to run into a :class:`Workflow`.

A workflow, a template (instantiated with ``params``), or the document of
either as JSON or binary bytes, a JSON string or a parsed dict. Parameters given
for a plain workflow are an error rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symphony_actors.domain.errors import UsageError
from symphony_actors.domain.workflow.formats import from_document, loads
from symphony_actors.domain.workflow.model import Workflow
from symphony_actors.domain.workflow.templates import Template

__all__ = ["to_workflow"]


def to_workflow(obj: Any, params: Mapping[str, Any] | None = None) -> Workflow:
    """The workflow to run for ``obj`` and ``params`` (not yet validated)."""
    if isinstance(obj, bytes | bytearray | memoryview):
        obj = loads(bytes(obj))
    elif isinstance(obj, str):
        obj = loads(obj.encode())
    elif isinstance(obj, dict):
        obj = from_document(obj)
    if isinstance(obj, Template):
        return obj.instantiate(dict(params or {}))
    if isinstance(obj, Workflow):
        if params:
            raise UsageError(f"parameters {sorted(params)} given, but {obj.name!r} is a workflow, not a template")
        return obj
    raise UsageError(f"cannot run a {type(obj).__name__}: give a workflow, a template or their document")
