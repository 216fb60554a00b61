"""``symphony run FILE``, ``symphony runs``, ``symphony run-status RUN_ID``: run workflows from the terminal.

``symphony run`` follows the run to its end, also across restarts of the DAG tracker (the client finds
the restarted tracker, which resumes the run from its checkpoint), prints the results of its terminal
nodes as JSON on standard output and the summary on standard error, and exits with the run's outcome:
0 succeeded, 1 failed (the failed nodes and their errors are printed), 3 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import orjson

from symphony_actors.commands.workflow import add_max_size, suggest_size
from symphony_actors.config import resolve
from symphony_actors.domain.errors import NotRunningError, ProtocolError, UsageError

__all__ = ["follow_and_report", "follow_run", "node_value", "parse_params", "register", "report"]


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
    """Follow the run until it finishes (a live progress bar on a terminal, a line every 2 s otherwise);
    returns its final snapshot. The handle's queries survive restarts of the tracker."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    snap = run.status()
    total = total or snap.get("total") or 0
    live = console.is_terminal and not quiet
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[detail]}"), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not live, transient=False) as bar:
        task = bar.add_task(f"run {run.run_id[-12:]}", total=total, detail="")
        polled = False
        while True:
            counts = snap.get("counts", {})
            done = sum(counts.get(k, 0) for k in ("succeeded", "failed", "skipped", "cancelled"))
            detail = "  ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "succeeded")
            bar.update(task, completed=done, detail=detail)
            if snap.get("finished") or snap.get("status") not in ("running", "queued", "cancelling"):
                return dict(run.wait(30))
            if not live and not quiet and polled:
                print(f"  {done}/{total} nodes done {detail}", file=sys.stderr, flush=True)
            polled = True
            if live:
                time.sleep(poll)  # polling the run's state for the display
                snap = run.status()
                continue
            # Not on a terminal: one long poll at a time (the tracker answers as soon as the run ends).
            snap = run.poll(2.0)


def summary(snap: dict[str, Any], seconds: float | None = None, restarts: int = 0) -> str:
    counts = snap.get("counts", {})
    lines = [f"run {snap.get('run_id')}: {snap.get('status', '?').upper()}"
             + (f" in {seconds:.2f} s" if seconds is not None else ""),
             "  " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))]
    origin = snap.get("retry_of")
    if origin:
        lines.append(f"  retry of {origin.get('run_id')}"
                     + (f" from node {origin['from_node']}" if origin.get("from_node") else " (its failed part)"))
    reused = snap.get("reused") or []
    if reused:
        shown = ", ".join(reused[:10]) + (f" and {len(reused) - 10} more" if len(reused) > 10 else "")
        lines.append(f"  reused {len(reused)} node(s) from earlier runs: {shown}")
    if restarts:
        lines.append(f"  followed across {restarts} restart(s) of the tracker")
    failed = [(n, v) for n, v in (snap.get("nodes") or {}).items() if v.get("status") == "failed"]
    for node, v in failed[:10]:
        err = v.get("error") or {}
        lines.append(f"  failed {node}: {err.get('type', '')}: {err.get('message', '')}")
    if len(failed) > 10:
        lines.append(f"  ... and {len(failed) - 10} more failed nodes")
    return "\n".join(lines)


EXIT = {"succeeded": 0, "failed": 1, "cancelled": 3}
RESULTS_SHOWN = 20  # terminal nodes whose results `symphony run` prints; `symphony result` shows any


def node_value(client: Any, run: Any, node: str, artifact: str | None) -> Any:
    """A node's result; one too large to travel inline is read from its artifact."""
    value = run.result(node)
    if value is None and artifact:
        import cbor2

        from symphony_actors.domain.workflow import thaw
        from symphony_actors.pit.artifacts.client import ArtifactClient

        value = thaw(cbor2.loads(ArtifactClient(client).retrieve(artifact)))
    return value


def terminal_results(client: Any, run: Any, snap: dict[str, Any]) -> dict[str, Any]:
    """The results of the run's terminal nodes (those nothing depends on) that succeeded."""
    nodes = snap.get("nodes") or {}
    done = [n for n in snap.get("terminal") or () if nodes.get(n, {}).get("status") == "succeeded"]
    if len(done) > RESULTS_SHOWN:
        print(f"  {len(done)} terminal nodes; showing {RESULTS_SHOWN} (symphony result {snap.get('run_id')} NODE "
              f"shows any)", file=sys.stderr)
    return {n: node_value(client, run, n, nodes[n].get("artifact")) for n in done[:RESULTS_SHOWN]}


def report(client: Any, run: Any, args: argparse.Namespace, seconds: float | None = None) -> int:
    """Print a finished run's outcome (summary on stderr; results, or the whole state with --json, on stdout)
    and return its exit code: 0 succeeded, 1 failed, 3 cancelled."""
    from symphony_actors.cli import stdout_closed, to_json

    full = run.status(nodes=True)
    code = EXIT.get(str(full.get("status")), 1)
    quiet = bool(getattr(args, "quiet", False))
    results = {} if quiet else terminal_results(client, run, full)
    try:
        if getattr(args, "json", False):
            print(to_json({**full, "seconds": seconds, "results": results}))
        else:
            if not quiet or code:
                print(summary(full, seconds, getattr(run, "restarts_seen", 0)), file=sys.stderr)
            if results:
                print(to_json(results, indent=2))
        sys.stdout.flush()
    except BrokenPipeError:  # `symphony run ... | head -1`: the reader has what it wanted; the outcome stands
        stdout_closed()
    return code


def cmd_run(args: argparse.Namespace) -> int:
    params = parse_params(args.param or [])
    with _client(args) as client:
        started = time.perf_counter()
        try:
            run = client.run_workflow(args.file, params, max_size=args.max_size)
        except ProtocolError as exc:
            if exc.reason != "oversize":
                raise
            raise ProtocolError(f"{exc}: pass --max-size (e.g. --max-size {suggest_size(args.file)}) to read it",
                                reason="oversize", file=str(args.file)) from None
        if not args.quiet:
            print(f"started run {run.run_id}", file=sys.stderr)
        return follow_and_report(client, run, args, started)


def follow_and_report(client: Any, run: Any, args: argparse.Namespace, started: float) -> int:
    """Follow a started run to its end (Ctrl-C cancels it), print its results; the exit code is its outcome."""
    try:
        follow_run(run, quiet=args.json or args.quiet)
    except KeyboardInterrupt:
        run.cancel()
        run.wait(30)
    return report(client, run, args, time.perf_counter() - started)


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
        run = client.run(args.run_id)
        snap = run.status(nodes=True)
        timings = node_timings(run.logs(output=False))
    if args.json:
        print(json.dumps({**snap, "timings": timings}, default=str))
    else:
        print(summary(snap))
        if args.nodes:
            reused = set(snap.get("reused") or ())
            for node, v in snap.get("nodes", {}).items():
                print(f"  {node:<40} {v['status']:<10} attempts {v.get('attempts', 0)}{_timing(timings.get(node))}"
                      + ("  (reused)" if node in reused else ""))
    return EXIT.get(str(snap.get("status")), 0) if snap.get("status") != "running" else 0


def node_timings(attempts: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per node: first start, last end, seconds spent in attempts, and the workers that ran them."""
    out: dict[str, dict[str, Any]] = {}
    for a in attempts:
        t = out.setdefault(a["node"], {"started": a["started"], "ended": a["ended"], "seconds": 0.0, "workers": []})
        t["started"] = min(t["started"], a["started"]) if a["started"] is not None else t["started"]
        t["ended"] = max(t["ended"] or 0.0, a["ended"] or 0.0) or None
        t["seconds"] += a.get("seconds") or 0.0
        where = f"{a.get('worker')}@{a.get('host')}"
        if where not in t["workers"]:
            t["workers"].append(where)
    return out


def _timing(t: dict[str, Any] | None) -> str:
    if not t:
        return ""
    start = time.strftime("%H:%M:%S", time.localtime(t["started"])) if t.get("started") else "-"
    return f"  {start} {t['seconds']:8.2f} s  on {', '.join(t['workers'])}"


def _clock(at: float | None) -> str:
    if at is None:
        return "-"
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


def cmd_logs(args: argparse.Namespace) -> int:
    """``symphony logs RUN [NODE]``: each attempt's times, worker and host, stdout, stderr and log lines."""
    with _client(args) as client:
        attempts = client.run(args.run_id).logs(args.node)
    if args.json:
        print(json.dumps(attempts, default=str))
        return 0
    if not attempts:
        print(f"run {args.run_id}: no attempts recorded" + (f" for node {args.node}" if args.node else ""))
        return 0
    for a in attempts:
        item = f"[{a['item']}]" if a.get("item", -1) >= 0 else ""
        seconds = f"{a['seconds']:.2f} s" if a.get("seconds") is not None else "?"
        print(f"== {a['node']}{item} attempt {a['attempt']}  {'ok' if a.get('ok') else 'FAILED'}  "
              f"{a.get('worker')}@{a.get('host')}  {_clock(a.get('started'))} -> {_clock(a.get('ended'))} ({seconds})")
        err = a.get("error")
        if err:
            print(f"  error: {err.get('type', '')}: {err.get('message', '')}")
        for stream in ("stdout", "stderr"):
            text = a.get(stream) or ""
            if text:
                print(f"  [{stream}]")
                print("\n".join("    " + line for line in text.rstrip("\n").split("\n")))
        for at, level, message, fields in a.get("log") or []:
            extra = " " + json.dumps(fields, default=str) if fields else ""
            print(f"  {_clock(at)} {level:<7} {message}{extra}")
    return 0
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
    add_max_size(p)
    p.add_argument("--quiet", "-q", action="store_true",
                   help="print nothing but failures; the exit code tells the outcome")
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
    p = sub.add_parser("logs", help="each attempt's output, log lines, times and worker, for a run or one node")
    p.add_argument("run_id")
    p.add_argument("node", nargs="?", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_logs)
    p = sub.add_parser("run-cancel", help="cancel a run (a queued one leaves the queue)")
    p.add_argument("run_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_run_cancel)
