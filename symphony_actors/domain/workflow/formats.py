"""Workflow and template files: JSON (orjson) and a compact binary form (columnar CBOR in a zstd frame).

Both carry the same *document* (format version :data:`FORMAT_VERSION`)::

    {"format": "symphony.workflow", "version": 1, "name": "etl", "description": "...",
     "entries": [...], "meta": {...},
     "nodes": [{"id": "read", "kind": "operator", "type": "builtin.identity",
                "params": {...}, "inputs": {"in": "text"}, "outputs": {"out": {"type": "text"}},
                "control": {"kind": "map", "max_items": 100}, "retry": {"retries": 3},
                "timeout_s": 30, "label": "...", "meta": {...}}, ...],
     "edges": [{"source": "read", "source_port": "out", "target": "sum", "target_port": "in"},
               {"kind": "control", "source": "a", "target": "b"},
               {"kind": "conditional", "source": "a", "target": "b", "when": {...predicate...}}]}

    {"format": "symphony.template", "version": 1, "name": "...", "params": [{"name": ..., "type": ...}],
     "workflow": {...the fields of a workflow document...}}

A port is written as its type (``"text"``) or an object with ``type``,
``required``, ``multi``, ``description``. ``{"$param": "name"}`` is a template
placeholder.

Binary: ``MAGIC`` (4 bytes), a container version byte, a flags byte, then one
zstd frame holding CBOR of the document in columns: one string table, node and
edge fields as integer columns (edge ends as deltas), port signatures and params
stored once per distinct value. On a 10k-node workflow this is about 0.03 of
the JSON (``perf/workflow.py``).

Loading never lets a traceback out: undecodable bytes, oversize input, nesting
deeper than :attr:`Limits.max_depth` and unknown versions raise
:class:`ProtocolError` (``reason`` and ``path`` in ``details``); a document of the
wrong shape raises :class:`ValidationError` listing every problem by its path
(``nodes[12].params.temperature``). Older versions are upgraded by the
functions registered with :func:`register_migration`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final, TypeAlias

import cbor2
import orjson
import zstandard

from symphony_actors.domain.errors import Problem, ProtocolError, StorageError, UsageError, ValidationError
from symphony_actors.domain.workflow._columns import _Columns, _uncolumnar
from symphony_actors.domain.workflow._decode import (
    _WORKFLOW_KEYS,
    DEFAULT_LIMITS,
    Limits,
    _kind,
    _Reader,
    _short,
    _TooDeep,
)
from symphony_actors.domain.workflow._encode import _out, _param_out, _workflow_body
from symphony_actors.domain.workflow.model import Workflow
from symphony_actors.domain.workflow.templates import Template

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "Document",
    "Limits",
    "document_of",
    "dumps_binary",
    "dumps_json",
    "format_for",
    "from_document",
    "load",
    "loads",
    "loads_binary",
    "loads_json",
    "read_bytes",
    "register_migration",
    "save",
]

FORMAT_VERSION: Final[int] = 1
WORKFLOW_FORMAT: Final[str] = "symphony.workflow"
TEMPLATE_FORMAT: Final[str] = "symphony.template"
MAGIC: Final[bytes] = b"\x93SWF"
CONTAINER_VERSION: Final[int] = 1

Document: TypeAlias = Workflow | Template
Migration: TypeAlias = Callable[[dict[str, Any]], dict[str, Any]]

_MIGRATIONS: dict[int, Migration] = {}


def register_migration(from_version: int) -> Callable[[Migration], Migration]:
    """Register a function upgrading a document dict from ``from_version`` to ``from_version + 1``.

    Loading applies the chain from the document's version up to :data:`FORMAT_VERSION`.
    """
    def deco(fn: Migration) -> Migration:
        _MIGRATIONS[from_version] = fn
        return fn
    return deco


def document_of(obj: Document) -> dict[str, Any]:
    """The plain-data document (what JSON and binary encode) of a workflow or template."""
    if isinstance(obj, Workflow):
        return {"format": WORKFLOW_FORMAT, "version": FORMAT_VERSION, **_workflow_body(obj)}
    if isinstance(obj, Template):
        d: dict[str, Any] = {"format": TEMPLATE_FORMAT, "version": FORMAT_VERSION, "name": obj.name}
        if obj.description:
            d["description"] = obj.description
        d["template_version"] = obj.version
        if obj.meta:
            d["meta"] = _out(obj.meta)
        d["params"] = [_param_out(p) for p in obj.params.params]
        if not obj.params.closed:
            d["params_closed"] = False
        d["workflow"] = _workflow_body(obj.workflow)
        return d
    raise UsageError(f"cannot encode {type(obj).__name__}: expected a Workflow or a Template")


def _migrate(doc: dict[str, Any]) -> dict[str, Any]:
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ProtocolError(f"missing or bad format version {_short(version)}", reason="bad_version", path="version")
    if version > FORMAT_VERSION:
        raise ProtocolError(f"format version {version} is newer than this program reads ({FORMAT_VERSION}); "
                            "upgrade symphony-actors", reason="bad_version", path="version")
    while version < FORMAT_VERSION:
        step = _MIGRATIONS.get(version)
        if step is None:
            raise ProtocolError(f"format version {version} is too old: no migration to {version + 1}",
                                reason="bad_version", path="version")
        doc = step(dict(doc))
        version += 1
        doc["version"] = version
    return doc


def from_document(doc: Any, limits: Limits = DEFAULT_LIMITS) -> Document:
    """A :class:`Workflow` or :class:`Template` from a document dict (migrated first)."""
    if not isinstance(doc, dict):
        raise ValidationError([Problem("", f"expected a document object, got {_kind(doc)}")], subject="document")
    fmt = doc.get("format")
    if fmt not in (WORKFLOW_FORMAT, TEMPLATE_FORMAT):
        raise ProtocolError(f"not a symphony workflow document (format {_short(fmt)}; expected "
                            f"{WORKFLOW_FORMAT!r} or {TEMPLATE_FORMAT!r})", reason="unknown_kind", path="format")
    doc = _migrate(doc)
    reader = _Reader(limits)
    try:
        if fmt == WORKFLOW_FORMAT:
            reader.unknown_keys(doc, _WORKFLOW_KEYS, "")
            result: Document | None = reader.workflow(doc, "")
        else:
            result = reader.template(doc)
    except _TooDeep as exc:
        raise ProtocolError(f"nesting deeper than {limits.max_depth} levels at {exc.path}", reason="too_deep",
                            path=exc.path) from None
    if reader.problems or result is None:
        raise ValidationError(reader.problems, subject="workflow document" if fmt == WORKFLOW_FORMAT
                              else "template document")
    return result


# =========================================================================== JSON


def dumps_json(obj: Document, *, indent: bool = False) -> bytes:
    """UTF-8 JSON of a workflow or template."""
    option = orjson.OPT_INDENT_2 if indent else 0
    return orjson.dumps(document_of(obj), option=option)


def loads_json(data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Parse JSON text; :class:`ProtocolError` for undecodable input, :class:`ValidationError` for bad shape."""
    if len(data) > limits.max_bytes:
        raise ProtocolError(f"document of {len(data)} bytes is over the limit of {limits.max_bytes}",
                            reason="oversize")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        reason = "too_deep" if "depth" in msg or "recursion" in msg else "malformed"
        raise ProtocolError(f"not valid JSON: {msg}", reason=reason, position=exc.pos) from None
    return from_document(doc, limits)


def dumps_binary(obj: Document, *, level: int = 12) -> bytes:
    """The binary form: ``MAGIC``, container version, flags, then zstd(CBOR(columnar document))."""
    doc = document_of(obj)
    if doc["format"] == WORKFLOW_FORMAT:
        payload = _Columns().encode(doc)
    else:
        doc["workflow"] = _Columns().encode(doc["workflow"])
        payload = doc
    raw = cbor2.dumps(payload)
    return MAGIC + bytes((CONTAINER_VERSION, 0)) + zstandard.ZstdCompressor(level=level).compress(raw)


def loads_binary(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Parse the binary form; every kind of damage gives :class:`ProtocolError` or :class:`ValidationError`."""
    if len(data) > limits.max_bytes:
        raise ProtocolError(f"binary document of {len(data)} bytes is over the limit of {limits.max_bytes}",
                            reason="oversize")
    if not data.startswith(MAGIC):
        raise ProtocolError("not a binary symphony workflow (bad magic bytes)", reason="unknown_kind")
    if len(data) < len(MAGIC) + 2:
        raise ProtocolError("binary workflow truncated in its header", reason="truncated")
    version, flags = data[len(MAGIC)], data[len(MAGIC) + 1]
    if version != CONTAINER_VERSION:
        raise ProtocolError(f"binary container version {version} is not {CONTAINER_VERSION}", reason="bad_version",
                            path="version")
    if flags != 0:
        raise ProtocolError(f"unknown binary flags {flags:#x}", reason="malformed")
    frame = data[len(MAGIC) + 2:]
    try:
        params = zstandard.get_frame_parameters(frame)
        if params.content_size > limits.max_decompressed:
            raise ProtocolError(f"binary payload declares {params.content_size} bytes, over the limit of "
                                f"{limits.max_decompressed}", reason="oversize")
        raw = zstandard.ZstdDecompressor().decompress(frame, max_output_size=limits.max_decompressed)
    except zstandard.ZstdError as exc:
        reason = "truncated" if "did not decompress full frame" in str(exc) or len(frame) < 6 else "malformed"
        raise ProtocolError(f"binary payload does not decompress: {exc}", reason=reason) from None
    if len(raw) > limits.max_decompressed:
        raise ProtocolError("binary payload is over the decompressed size limit", reason="oversize")
    try:
        payload = cbor2.loads(raw)
    # cbor2 raises CBORDecodeError, but hostile input also reaches RecursionError, OverflowError, MemoryError
    # and errors from tag decoders (datetime, Decimal, regex, ...): all mean "these bytes do not decode".
    except Exception as exc:  # noqa: BLE001
        text = str(exc)
        reason = "too_deep" if isinstance(exc, RecursionError) or "nesting depth" in text else (
            "truncated" if "premature end" in text else "malformed")
        raise ProtocolError(f"binary payload is not valid CBOR: {type(exc).__name__}: {str(exc)[:200]}",
                            reason=reason) from None
    if not isinstance(payload, dict):
        raise ProtocolError("binary payload is not a document map", reason="malformed")
    fmt = payload.get("format")
    if fmt == WORKFLOW_FORMAT:
        doc = _uncolumnar(payload, limits)
    elif fmt == TEMPLATE_FORMAT:
        body = payload.get("workflow")
        if not isinstance(body, dict):
            raise ProtocolError("binary template has no workflow table", reason="malformed", path="workflow")
        payload["workflow"] = _uncolumnar(body, limits)
        doc = payload
    else:
        raise ProtocolError(f"not a symphony workflow document (format {_short(fmt)})", reason="unknown_kind",
                            path="format")
    return from_document(doc, limits)


# =========================================================================== files


def loads(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Binary or JSON, told apart by the magic bytes."""
    if data[:len(MAGIC)] == MAGIC:
        return loads_binary(data, limits)
    return loads_json(data, limits)


BINARY_SUFFIXES = (".wfb", ".cbor", ".bin")


def format_for(path: str | Path) -> str:
    """``"json"`` for ``*.json``, ``"binary"`` for ``*.wfb``/``*.cbor``/``*.bin``; :class:`UsageError` otherwise."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in BINARY_SUFFIXES:
        return "binary"
    raise UsageError(f"cannot tell the format of {str(path)!r} from its suffix: use .json or one of "
                     f"{', '.join(BINARY_SUFFIXES)}", path=str(path))


def read_bytes(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The file's bytes: a regular file only (a FIFO would block, ``/dev/urandom`` never end), at most
    ``limits.max_bytes`` of them (refused before reading when the size says so, and while reading)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        from symphony_actors.domain.errors import NotFoundError

        raise NotFoundError(f"no such file: {p}", file=str(p)) from None
    except OSError as exc:
        raise StorageError(f"cannot read {p}: {exc}", file=str(p)) from exc
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        what = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UsageError(f"{p} is {what}: a workflow is read from a regular file", file=str(p))
    with os.fdopen(fd, "rb") as f:
        try:
            if st.st_size > limits.max_bytes:
                raise ProtocolError(f"{p} is {st.st_size} bytes, over the limit of {limits.max_bytes}",
                                    reason="oversize", file=str(p))
            data = f.read(limits.max_bytes + 1)
        except OSError as exc:
            raise StorageError(f"cannot read {p}: {exc}", file=str(p)) from exc
    if len(data) > limits.max_bytes:
        raise ProtocolError(f"{p} grew over the limit of {limits.max_bytes} bytes while being read",
                            reason="oversize", file=str(p))
    return data


def load(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Read a workflow or template file in either format."""
    return loads(read_bytes(path, limits), limits)


def save(obj: Document, path: str | Path, *, format: str | None = None) -> Path:
    """Write ``obj`` as ``format`` (``"json"``/``"binary"``; default: by the file's suffix), atomically."""
    p = Path(path)
    fmt = format or format_for(p)
    if fmt not in ("json", "binary"):
        raise UsageError(f"unknown format {fmt!r}: expected json or binary")
    data = dumps_json(obj, indent=True) if fmt == "json" else dumps_binary(obj)
    tmp = p.with_name(f".{p.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(p)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot write {p}: {exc}", file=str(p)) from exc
    return p
