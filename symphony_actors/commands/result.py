"""``symphony result RUN NODE`` and ``symphony retry RUN [--from NODE]``: a node's result; run a run again.

``result`` prints a node's result as JSON (``--raw``: a text or bytes result as it is, any other as the
bytes of its stored artifact, CBOR). ``retry`` starts a new run linked to RUN that reruns RUN's failed part
(or, with ``--from NODE``, that node and everything downstream of it), reusing the results of every other
node, and follows it as ``symphony run`` does (same output, same exit codes).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from symphony_actors.commands.run import _client, follow_and_report, node_value
from symphony_actors.domain.errors import NotFoundError

__all__ = ["register"]


def cmd_result(args: argparse.Namespace) -> int:
    from symphony_actors.cli import to_json

    with _client(args) as client:
        run = client.run(args.run_id)
        snap = run.status(nodes=True)
        info = (snap.get("nodes") or {}).get(args.node)
        if info is None:
            raise NotFoundError(f"run {args.run_id} has no node {args.node!r}", run_id=args.run_id, node=args.node)
        if info.get("status") != "succeeded":
            raise NotFoundError(f"node {args.node!r} of run {args.run_id} has no result: it {info.get('status')}",
                                run_id=args.run_id, node=args.node, status=info.get("status"))
        artifact = info.get("artifact")
        value = node_value(client, run, args.node, artifact)
        if args.raw and artifact and not _is_text(value):
            from symphony_actors.pit.artifacts.client import ArtifactClient

            sys.stdout.buffer.write(ArtifactClient(client).retrieve(artifact))
            sys.stdout.buffer.flush()
            return 0
    if args.raw and _is_text(value):
        sys.stdout.buffer.write(value.encode() if isinstance(value, str) else bytes(value))
        sys.stdout.buffer.flush()
    else:
        print(to_json(value, indent=2))
    return 0


def _is_text(value: Any) -> bool:
    return isinstance(value, str | bytes | bytearray)


def cmd_retry(args: argparse.Namespace) -> int:
    with _client(args) as client:
        started = time.perf_counter()
        run = client.run(args.run_id).retry(from_node=args.from_node)
        if not args.quiet:
            what = f"from node {args.from_node}" if args.from_node else "its failed part"
            print(f"started run {run.run_id}: retry of {args.run_id}, {what}", file=sys.stderr)
        return follow_and_report(client, run, args, started)


def register(sub: Any) -> None:
    p = sub.add_parser("result", help="print a node's result (JSON, or raw bytes with --raw)")
    p.add_argument("run_id")
    p.add_argument("node")
    p.add_argument("--raw", action="store_true",
                   help="text or bytes as they are; any other result as its stored artifact's bytes (CBOR)")
    p.set_defaults(func=cmd_result)
    p = sub.add_parser("retry", help="run a run's failed part (or a node and what is downstream) again")
    p.add_argument("run_id")
    p.add_argument("--from", dest="from_node", metavar="NODE",
                   help="re-execute this node and everything downstream of it (default: what did not succeed)")
    p.add_argument("--json", action="store_true", help="print the final state as JSON, no progress bar")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing but failures; the exit code tells the outcome")
    p.set_defaults(func=cmd_retry)
