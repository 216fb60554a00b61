"""A small JSON Schema subset for parameter and configuration schemas in manifests.

Supported keywords: ``type`` (string, number, integer, boolean, array, object, null, or a list of them),
``properties``, ``required``, ``additionalProperties`` (bool), ``items``, ``enum``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``, ``minItems``, ``maxItems``, ``default``, ``description``,
``title``. Anything else is reported, so an author learns at install time, not at run time, that a
keyword is ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from symphony_actors.domain.errors import Problem

__all__ = ["TYPES", "apply_defaults", "check_schema", "validate"]

TYPES = frozenset({"string", "number", "integer", "boolean", "array", "object", "null"})
_KEYWORDS = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "minimum",
                       "maximum", "minLength", "maxLength", "minItems", "maxItems", "default", "description",
                       "title"})
MAX_DEPTH = 16


def check_schema(schema: object, path: str, depth: int = 0) -> list[Problem]:
    """Problems with a schema itself (unknown keywords, bad types), each located by ``path``."""
    if depth > MAX_DEPTH:
        return [Problem(path, f"schema nested deeper than {MAX_DEPTH} levels")]
    if not isinstance(schema, Mapping):
        return [Problem(path, f"a schema must be a table/object, not {type(schema).__name__}")]
    problems: list[Problem] = []
    for key in schema:
        if key not in _KEYWORDS:
            problems.append(Problem(f"{path}.{key}", f"unsupported schema keyword {key!r}"))
    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not names or not all(isinstance(n, str) and n in TYPES for n in names):
            problems.append(Problem(f"{path}.type", f"type must be one of {', '.join(sorted(TYPES))} or a list"))
    props = schema.get("properties")
    if props is not None:
        if not isinstance(props, Mapping):
            problems.append(Problem(f"{path}.properties", "properties must be a table"))
        else:
            for name, sub in props.items():
                problems.extend(check_schema(sub, f"{path}.properties.{name}", depth + 1))
    req = schema.get("required")
    if req is not None and not (isinstance(req, list) and all(isinstance(r, str) for r in req)):
        problems.append(Problem(f"{path}.required", "required must be a list of property names"))
    if "items" in schema:
        problems.extend(check_schema(schema["items"], f"{path}.items", depth + 1))
    if "additionalProperties" in schema and not isinstance(schema["additionalProperties"], bool):
        problems.append(Problem(f"{path}.additionalProperties", "additionalProperties must be true or false"))
    if "enum" in schema and not (isinstance(schema["enum"], list) and schema["enum"]):
        problems.append(Problem(f"{path}.enum", "enum must be a non-empty list"))
    for key in ("minimum", "maximum"):
        if key in schema and not _is_number(schema[key]):
            problems.append(Problem(f"{path}.{key}", f"{key} must be a finite number"))
    for key in ("minLength", "maxLength", "minItems", "maxItems"):
        if key in schema and not (isinstance(schema[key], int) and not isinstance(schema[key], bool)
                                  and schema[key] >= 0):
            problems.append(Problem(f"{path}.{key}", f"{key} must be a non-negative integer"))
    if not problems and "default" in schema:
        problems.extend(validate(schema["default"], schema, f"{path}.default"))
    return problems


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _type_ok(value: object, t: str) -> bool:
    if t == "string":
        return isinstance(value, str)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return _is_number(value)
    if t == "boolean":
        return isinstance(value, bool)
    if t == "array":
        return isinstance(value, list | tuple)
    if t == "object":
        return isinstance(value, Mapping)
    return value is None


def validate(value: object, schema: Mapping[str, Any], path: str = "", depth: int = 0) -> list[Problem]:
    """Problems with ``value`` against ``schema`` (which :func:`check_schema` accepted)."""
    if depth > MAX_DEPTH:
        return [Problem(path, "value nested too deeply")]
    t = schema.get("type")
    if t is not None:
        names = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, n) for n in names):
            return [Problem(path, f"expected {' or '.join(names)}, got {type(value).__name__}")]
    problems: list[Problem] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(Problem(path, f"must be one of {schema['enum']!r}"))
    if _is_number(value):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(Problem(path, f"must be >= {schema['minimum']}"))
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(Problem(path, f"must be <= {schema['maximum']}"))
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            problems.append(Problem(path, f"must be at least {schema['minLength']} characters"))
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(Problem(path, f"must be at most {schema['maxLength']} characters"))
    if isinstance(value, list | tuple):
        if "minItems" in schema and len(value) < schema["minItems"]:
            problems.append(Problem(path, f"needs at least {schema['minItems']} items"))
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(Problem(path, f"allows at most {schema['maxItems']} items"))
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                problems.extend(validate(item, items, f"{path}[{i}]", depth + 1))
    if isinstance(value, Mapping):
        props = schema.get("properties") or {}
        for name in schema.get("required") or ():
            if name not in value:
                problems.append(Problem(f"{path}.{name}" if path else name, "is required", kind="missing"))
        for name, item in value.items():
            sub = props.get(name)
            where = f"{path}.{name}" if path else str(name)
            if sub is not None:
                problems.extend(validate(item, sub, where, depth + 1))
            elif schema.get("additionalProperties") is False:
                problems.append(Problem(where, "is not a known property", kind="unknown"))
    return problems


def apply_defaults(value: Mapping[str, Any] | None, schema: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``value`` with each missing top-level property set to its schema ``default``."""
    out = dict(value or {})
    for name, sub in (schema.get("properties") or {}).items():
        if name not in out and isinstance(sub, Mapping) and "default" in sub:
            out[name] = sub["default"]
    return out
