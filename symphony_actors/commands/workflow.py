"""``symphony validate FILE`` and ``symphony convert IN OUT``: workflow files, checked and converted offline.

FILE may be a workflow or template in our JSON or binary form, or a WfCommons
WfFormat 1.4/1.5/1.6 instance (imported on the fly). Files over 64 MiB are
refused unless ``--max-size`` allows more (a 50k-task WfFormat file is ~100 MB). ``validate`` prints every problem
(exit 1) or a summary: nodes, edges, depth, width (exit 0). ``convert`` writes
OUT as JSON (``*.json``) or binary (``*.wfb``, ``*.cbor``, ``*.bin``; or ``--to``).
Undecodable input exits 2 with one line naming what is wrong.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import orjson

from symphony_actors.domain.errors import Problem, ProtocolError, UsageError, ValidationError
from symphony_actors.domain.workflow._decode import DEFAULT_LIMITS, Limits
from symphony_actors.domain.workflow.formats import (
    MAGIC,
    Document,
    format_for,
    from_document,
    loads_binary,
    read_bytes,
    save,
)
from symphony_actors.domain.workflow.templates import Template
from symphony_actors.domain.workflow.validate import check
from symphony_actors.domain.workflow.wfformat import import_wfformat, is_wfformat

__all__ = ["add_max_size", "limits_for", "parse_size", "read_document", "register", "suggest_size"]

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    """``"200M"`` -> bytes (suffixes K, M, G in powers of 1024, optional ``B``/``iB``)."""
    raw = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = raw[-1:] if raw[-1:] in _UNITS and raw[-1:] else ""
    try:
        value = float(raw[:-1] if unit else raw)
    except ValueError:
        raise UsageError(f"bad size {text!r}: expected a number with an optional K, M or G") from None
    if not value > 0:
        raise UsageError(f"bad size {text!r}: must be positive")
    return int(value * _UNITS[unit])


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_max_size(p: Any) -> None:
    p.add_argument("--max-size", type=_size_arg, metavar="SIZE", default=None,
                   help=f"largest file to read (default {DEFAULT_LIMITS.max_bytes // 2**20}M; e.g. 512M)")


def limits_for(max_size: int | None) -> Limits:
    return DEFAULT_LIMITS if max_size is None else Limits(max_bytes=max_size,
                                                         max_decompressed=max(max_size * 4,
                                                                              DEFAULT_LIMITS.max_decompressed))


def _read(path: Path, limits: Limits) -> bytes:
    try:
        return read_bytes(path, limits)
    except ProtocolError as exc:
        if exc.details.get("reason") != "oversize":
            raise
        raise ProtocolError(f"{exc}: pass --max-size (e.g. --max-size {suggest_size(path)}) to read it",
                            reason="oversize", file=str(path)) from None


def suggest_size(path: str | Path) -> str:
    """A ``--max-size`` value that admits the file at ``path``."""
    return f"{-(-Path(path).stat().st_size // 2**20) + 1}M"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("validate", help="check a workflow file and print every problem or a summary",
                              description="Check a workflow, template or WfFormat file: print every problem "
                                          "(exit 1) or a summary (exit 0).")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_max_size(p)
    p.set_defaults(func=_validate)

    p = subparsers.add_parser("convert", help="convert a workflow file between JSON and binary",
                              description="Convert a workflow or template (or import a WfFormat instance) to "
                                          "JSON or binary.")
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--to", choices=("json", "binary"), help="output format (default: by OUT's suffix)")
    add_max_size(p)
    p.set_defaults(func=_convert)


def read_document(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[Document, str]:
    """The workflow or template in ``path`` and the format it was in (json, binary, wfformat)."""
    data = _read(path, limits)
    if data[:len(MAGIC)] == MAGIC:
        return loads_binary(data, limits), "binary"
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{path}: neither a binary workflow nor valid JSON: {exc}", reason="malformed",
                            file=str(path)) from None
    if is_wfformat(doc):
        return import_wfformat(doc), "wfformat"
    return from_document(doc), "json"


def _problems_of(obj: Document) -> tuple[list[Problem], dict[str, Any]]:
    if isinstance(obj, Template):
        analysis = check(obj.workflow)
        return obj.problems(), {"template": obj.name, "params": list(obj.params.names), **analysis.summary()}
    analysis = check(obj)
    return list(analysis.problems), analysis.summary()


def _print_problems(path: Path, problems: list[Problem] | tuple[Problem, ...], as_json: bool,
                    summary: dict[str, Any] | None = None) -> int:
    if as_json:
        out = {"file": str(path), "valid": False, "problems": [p.to_wire() for p in problems]}
        if summary:
            out["summary"] = summary
        print(json.dumps(out))
        return 1
    print(f"{path}: invalid ({len(problems)} problem{'s' if len(problems) != 1 else ''})")
    for p in problems:
        print(f"  {p.path or '(document)'}: {p.message} [{p.kind}]")
    return 1


def _validate(args: argparse.Namespace) -> int:
    try:
        obj, fmt = read_document(args.file, limits_for(args.max_size))
    except ValidationError as exc:  # the document's shape is wrong: list every problem
        return _print_problems(args.file, exc.problems, args.json)
    problems, summary = _problems_of(obj)
    summary["format"] = fmt
    if problems:
        return _print_problems(args.file, problems, args.json, summary)
    if args.json:
        print(json.dumps({"file": str(args.file), "valid": True, "summary": summary}))
    else:
        what = f"template {summary['template']!r}" if "template" in summary else f"workflow {summary['name']!r}"
        print(f"{args.file}: valid {what} ({fmt}): {summary['nodes']} nodes, {summary['edges']} edges, "
              f"depth {summary['depth']}, width {summary['width']}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    fmt = args.to or format_for(args.output)
    try:
        obj, source = read_document(args.input, limits_for(args.max_size))
    except ValidationError as exc:
        return _print_problems(args.input, exc.problems, False)
    save(obj, args.output, format=fmt)
    kind = "template" if isinstance(obj, Template) else "workflow"
    size = args.output.stat().st_size
    nodes = len(obj.workflow.nodes if isinstance(obj, Template) else obj.nodes)
    print(f"{args.input} ({source}) -> {args.output} ({fmt}, {size} bytes): {kind} with {nodes} nodes",
          file=sys.stdout)
    return 0


