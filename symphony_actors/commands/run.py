"""``symphony run FILE``, ``symphony runs``, ``symphony run-status RUN_ID``: run workflows from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import orjson

from symphony_actors.config import resolve
from symphony_actors.domain.errors import NotRunningError, UsageError

__all__ = ["follow_run", "parse_params", "register"]


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs; values parse as JSON when they can (``3``, ``true``, ``[1,2]``), else stay text."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            out[key] = orjson.loads(raw)
        except orjson.JSONDecodeError:
            out[key] = raw
    return out


def _client(args: argparse.Namespace) -> Any:
    from symphony_actors.client import Client

    addr = resolve(getattr(args, "port", None), getattr(args, "data_dir", None))
    try:
        return Client(addr.port, timeout=30.0)
    except NotRunningError as exc:
        raise NotRunningError(f"{exc}. Start it with 'symphony start' (or try 'symphony demo')") from None


def follow_run(run: Any, total: int | None = None, *, quiet: bool = False, poll: float = 0.1) -> dict[str, Any]:
    """Show a live progress bar until the run finishes; returns its final snapshot."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    snap = run.status()
    total = total or snap.get("total") or 0
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=quiet or not console.is_terminal, transient=False) as bar:
        task = bar.add_task(f"run {run.run_id[-12:]}", total=total, detail="")
        last_print = 0.0
        while True:
            snap = run.status()
            counts = snap.get("counts", {})
            done = sum(counts.get(k, 0) for k in ("succeeded", "failed", "skipped", "cancelled"))
            detail = "  ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "succeeded")
            bar.update(task, completed=done, detail=detail)
            if not console.is_terminal and not quiet and time.monotonic() - last_print > 2.0:
                print(f"  {done}/{total} nodes done {detail}", file=sys.stderr, flush=True)
                last_print = time.monotonic()
            if snap.get("finished") or snap.get("status") not in ("running", "queued", "cancelling"):
                return dict(run.wait(30))
            time.sleep(poll)  # polling the run's state for the display


def summary(snap: dict[str, Any], seconds: float | None = None) -> str:
    counts = snap.get("counts", {})
    lines = [f"run {snap.get('run_id')}: {snap.get('status', '?').upper()}"
             + (f" in {seconds:.2f} s" if seconds is not None else ""),
             "  " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))]
    failed = [(n, v) for n, v in (snap.get("nodes") or {}).items() if v.get("status") == "failed"]
    for node, v in failed[:10]:
        err = v.get("error") or {}
        lines.append(f"  failed {node}: {err.get('type', '')}: {err.get('message', '')}")
    if len(failed) > 10:
        lines.append(f"  ... and {len(failed) - 10} more failed nodes")
    return "\n".join(lines)


EXIT = {"succeeded": 0, "failed": 1, "cancelled": 3}


def cmd_run(args: argparse.Namespace) -> int:
    params = parse_params(args.param or [])
    with _client(args) as client:
        started = time.perf_counter()
        run = client.run_workflow(args.file, params)
        print(f"started run {run.run_id}", file=sys.stderr)
        try:
            snap = follow_run(run, quiet=args.json)
        except KeyboardInterrupt:
            run.cancel()
            snap = run.wait(30)
        seconds = time.perf_counter() - started
        full = run.status(nodes=True)
        if args.json:
            print(json.dumps({**full, "seconds": seconds}, default=str))
        else:
            print(summary(full, seconds))
        return EXIT.get(str(snap.get("status")), 1)


def cmd_runs(args: argparse.Namespace) -> int:
    if getattr(args, "queued", False):
        return _queued(args)
    with _client(args) as client:
        runs = client.runs(limit=args.limit)
    if args.json:
        print(json.dumps(runs, default=str))
        return 0
    print(f"{'run':<36} {'workflow':<24} {'status':<10} {'nodes':>7}  started")
    for r in runs:
        total = sum((r.get("counts") or {}).values())
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["created"])) if r.get("created") else "-"
        print(f"{r['run_id']:<36} {str(r['workflow'])[:24]:<24} {r['status']:<10} {total:>7}  {when}")
    return 0


def _queued(args: argparse.Namespace) -> int:
    """``symphony runs --queued``: the admission queue in arrival order (the engine serves it by priority)."""
    with _client(args) as client:
        queue = client.call("runs", "queued")
    if args.json:
        print(json.dumps(queue, default=str))
        return 0
    print(f"{'run':<36} {'workflow':<24} {'priority':>8}  tags")
    for q in queue:
        print(f"{q['run_id']:<36} {str(q['workflow'])[:24]:<24} {q['priority']:>8}  {','.join(q['tags']) or '-'}")
    return 0


def cmd_run_status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        snap = client.run(args.run_id).status(nodes=True)
    if args.json:
        print(json.dumps(snap, default=str))
    else:
        print(summary(snap))
        if args.nodes:
            for node, v in snap.get("nodes", {}).items():
                print(f"  {node:<40} {v['status']:<10} attempts {v.get('attempts', 0)}")
    return EXIT.get(str(snap.get("status")), 0) if snap.get("status") != "running" else 0


def cmd_run_cancel(args: argparse.Namespace) -> int:
    """Cancel a run: a running one stops dispatching; a queued one leaves the queue and never starts."""
    with _client(args) as client:
        out = client.run(args.run_id).cancel()
    if args.json:
        print(json.dumps(out, default=str))
    else:
        print(f"run {out['run_id']}: {'cancelled' if out.get('cancelled') else 'not cancelled'} ({out['status']})")
    return 0 if out.get("cancelled") else 1


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a workflow or template file with a live progress bar")
    p.add_argument("file", help="workflow or template (JSON or binary), or a WfFormat instance")
    p.add_argument("--param", "-p", action="append", metavar="NAME=VALUE", help="template parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print the final state as JSON, no progress bar")
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("runs", help="list recent runs")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--queued", action="store_true", help="only the runs waiting for admission, in line")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_runs)
    p = sub.add_parser("run-status", help="the state of one run")
    p.add_argument("run_id")
    p.add_argument("--nodes", action="store_true", help="list every node")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run_status)
    p = sub.add_parser("run-cancel", help="cancel a run (a queued one leaves the queue)")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run_cancel)
