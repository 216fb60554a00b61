"""The ``symphony`` command.

Each command group lives in its own module under ``symphony_actors/commands/``
and defines ``register(subparsers) -> None``, adding sub-commands whose parsers
set ``func=handler``; a handler takes the parsed arguments and returns an exit
code. Modules are discovered, so a feature adds its commands without editing
this file. Every ``SymphonyError`` is printed as one clear line (exit 2 for
misuse, 1 for failures); a traceback means a bug. When standard output is a pipe
that closes early (``symphony runs | head -1``), the command stops writing and
exits 141, as a Unix tool stopped by SIGPIPE does, without a traceback.
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import pkgutil
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from symphony_actors.config import cli_process
from symphony_actors.domain.errors import SymphonyError, UsageError

__all__ = ["PIPE_CLOSED", "build_parser", "main", "one_line", "stdout_closed", "to_json"]

PIPE_CLOSED = 141  # 128 + SIGPIPE: what a Unix tool returns when its reader went away


def add_system_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """``--port`` and ``--data-dir``, which every command accepts (defaults from the environment).

    The top-level parser sets the defaults; sub-commands suppress theirs so that
    ``symphony --port 5 status`` and ``symphony status --port 5`` mean the same.
    """
    default = None if top else argparse.SUPPRESS
    parser.add_argument("--port", type=int, default=default,
                        help="admin port of the system (default: $SYMPHONY_PORT or 19500)")
    parser.add_argument("--data-dir", default=default,
                        help="data directory (default: $SYMPHONY_HOME or ~/.local/share/symphony)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symphony", description="Symphony backend runtime")
    add_system_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import symphony_actors.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    # Sub-commands, and their own sub-commands (``symphony ext install``), accept
    # --port/--data-dir after their name too.
    _add_to_subcommands(parser)
    return parser


def _add_to_subcommands(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action.choices.values():
                if not any(a.dest == "port" for a in choice._actions):
                    add_system_options(choice)
                _add_to_subcommands(choice)


def one_line(exc: SymphonyError) -> str:
    """The error as one line: multi-line messages (a ValidationError's problems) joined by '; '."""
    lines = [ln.strip().removeprefix("- ") for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    head, rest = lines[0], lines[1:]
    return f"{head} {'; '.join(rest)}" if head.endswith(":") and rest else "; ".join(lines)


def _plain(value: object) -> Any:
    """``json`` cannot say: bytes (base64, marked), other mappings and sets, anything else as text."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


def to_json(value: object, *, indent: int | None = None) -> str:
    """Results as users read them: JSON, with bytes as ``{"$bytes": base64}``."""
    return json.dumps(value, default=_plain, ensure_ascii=False, indent=indent)


def stdout_closed() -> None:
    """The reader of standard output went away: send what is left to /dev/null (so that Python's flush at
    exit does not complain) and let the caller return."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        with cli_process(getattr(args, "port", None), getattr(args, "data_dir", None)):  # private writes, callables
            code = int(func(args) or 0)
            sys.stdout.flush()  # a reader that left shows here, not as a complaint from Python's flush at exit
            return code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        stdout_closed()
        return PIPE_CLOSED
    except SymphonyError as exc:
        print(f"symphony: {type(exc).__name__}: {one_line(exc)}", file=sys.stderr)
        return 2 if isinstance(exc, UsageError | TypeError | LookupError) else 1


if __name__ == "__main__":
    sys.exit(main())
