"""``symphony demo``: the whole system in one minute.

Starts a system if none runs (and stops it again at the end unless
``--keep``), shows the supervision tree, runs a real workflow end to end
through the tracker and executor processes, crashes a service and shows its
supervisor restart it, and sends a message through the bus.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from symphony_actors.config import resolve

__all__ = ["demo_workflow", "register"]


def demo_workflow() -> Any:
    """Paragraphs fan out to the executors (a BLAKE2b digest each), are summarised, and a branch routes on it."""
    from symphony_actors.domain.workflow import RetryPolicy, Workflow, field

    text = [
        "Symphony runs every backend component as a supervised actor.",
        "Workflows run as message cascades between the DAG tracker and executors.",
        "Extensions run in sandboxed processes with their permissions enforced by the kernel.",
        "A crashed component is restarted by its supervisor, and a run resumes from its checkpoint.",
    ]
    summarise = "symphony_actors.commands.demo:digest_summary"
    return (Workflow.build("demo", description="paragraphs -> fan-out -> hash -> summary -> branch")
            .operator("paragraphs", "builtin.const", params={"value": text}, outputs={"out": "any"})
            .map("each", max_items=100, concurrency=4).connect("paragraphs", "each")
            .operator("digest", "builtin.hash", params={"rounds": 20_000}, inputs={"in": "any"},
                      outputs={"out": "any"}, retry=RetryPolicy(retries=2, backoff_s=0.1))
            .connect("each", "digest")
            .operator("summary", "builtin.call", params={"callable": summarise}, inputs={"digests": "any"},
                      outputs={"out": "any"})
            .connect("digest", "summary.digests")
            .branch("check").connect("summary", "check")
            .operator("report", "builtin.const", params={"value": "all paragraphs digested"})
            .operator("alarm", "builtin.fail", params={"message": "some digests are missing"})
            .when("check", "report", field("complete") == True)  # noqa: E712 - builds a predicate
            .when("check", "alarm", field("complete") == False)  # noqa: E712
            .build())


def digest_summary(digests: list[str]) -> dict[str, Any]:
    """Used by the demo workflow through ``builtin.call``."""
    return {"count": len(digests), "complete": all(isinstance(d, str) and len(d) == 64 for d in digests),
            "first": digests[0][:16] if digests else None}


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from symphony_actors.client import Client
    from symphony_actors.commands.run import follow_run, summary
    from symphony_actors.commands.system import ensure_running, render_tree, stop_system

    addr = resolve(getattr(args, "port", None), getattr(args, "data_dir", None))
    _say(f"Starting Symphony on 127.0.0.1:{addr.port} (data in {addr.data_dir})")
    _info, started_here = ensure_running(addr)
    print("started a new system" if started_here else "a system was already running: using it")
    try:
        with Client(addr.port, timeout=30.0) as client:
            _say("The supervision tree: every component is an actor process under a supervisor")
            print(render_tree(client.status()))

            _say("Running a workflow: fan-out over paragraphs, hash each in the executors, join, branch")
            wf = demo_workflow()
            events = client.subscribe("run.#")
            t0 = time.perf_counter()
            run = client.run_workflow(wf)
            snap = follow_run(run, total=len(wf.nodes))
            full = run.status(nodes=True)
            print(summary(full, time.perf_counter() - t0))
            print(f"result of 'report': {run.result('report')}")
            seen = events.get(timeout=0.5)
            print(f"the bus carried {len(seen)} events of this run, e.g. "
                  f"{', '.join(sorted({e['topic'].split('.', 2)[2] for e in seen})[:6])}")
            events.close()

            _say("Crashing the DAG tracker (kill -9 of its process); its supervisor restarts it")
            old = next(n for n in client.status()["nodes"] if n["name"] == "dag")
            client.kill("dag")
            client.wait_healthy(timeout=15, after_pid_of=("dag", old["pid"]))
            new = next(n for n in client.status()["nodes"] if n["name"] == "dag")
            print(f"dag: pid {old['pid']} -> {new['pid']}, restarts {new['restarts']}; "
                  f"the finished run is still there: {client.run(run.run_id).status()['status']}")

            _say("Request/reply and publish/subscribe through the bus")
            sub = client.subscribe("demo.#")
            reached = client.publish("demo.hello", {"from": "symphony demo"})
            got = sub.get(timeout=2.0)
            print(f"published demo.hello to {reached} subscription(s); received: {got[0]['payload'] if got else None}")
            print(f"bus stats: {client.call('bus', 'stats')}")
            sub.close()
            ok = snap.get("status") == "succeeded"
    finally:
        if started_here and not args.keep:
            _say("Stopping the system the demo started (use --keep to leave it running)")
            stop_system(addr)
            print("stopped; no process left behind")
        elif started_here:
            print(f"\nThe system keeps running: try 'symphony status', 'symphony kill pool', 'symphony stop' "
                  f"(port {addr.port}).")
    return 0 if ok else 1


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="start a system, run a workflow, crash and heal a service")
    p.add_argument("--keep", action="store_true", help="leave the system running afterwards")
    p.set_defaults(func=cmd_demo)


if __name__ == "__main__":
    sys.exit(cmd_demo(argparse.Namespace(port=None, data_dir=None, keep=False)))
