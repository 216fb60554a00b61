"""``symphony demo``: the whole system in one minute.

Starts a system if none runs (and stops it again at the end unless
``--keep``), shows the supervision tree, runs a real workflow end to end
through the tracker and executor processes, crashes a service and shows its
supervisor restart it, and sends a message through the bus. Then it installs
the example extensions from ``extensions/``, loads them (each in its own
sandboxed worker) and runs a second workflow made of their nodes over a small
workspace the demo writes and a copy of the ``symphony_actors`` sources.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from symphony_actors.config import ALLOWED_CALLABLES_ENV, callable_policy, resolve
from symphony_actors.domain import callables

__all__ = ["chunk_texts", "demo_workflow", "examples_folder", "extension_workflow", "join_texts", "register"]

#: The demo's own functions its workflows call through ``builtin.call``: allowed for the system the demo
#: starts (through its environment), never added to the user's allow-list.
DEMO_CALLABLES = ("symphony_actors.commands.demo:digest_summary", "symphony_actors.commands.demo:chunk_texts",
                  "symphony_actors.commands.demo:join_texts")
EXAMPLES = ("hash-embed", "summarise", "read-files", "chunk-text", "py-metrics", "todo-finder")
DEMO_DOCS = {
    "supervision.md": "# Supervision\n\nEvery component of Symphony is an actor process under a supervisor. "
                      "When a component crashes, its supervisor restarts it with clean state. "
                      "Restart intensity limits stop a crash loop from spinning forever.\n",
    "workflows.md": "# Workflows\n\nA workflow is a graph of nodes. The DAG tracker sends ready nodes to executors "
                    "and folds their results back in. Each transition is checkpointed, so a restarted tracker "
                    "resumes where it stopped. Extension nodes run inside the extension's own actor.\n",
    "sandbox.md": "# Sandbox\n\nExtensions are untrusted code. Each one runs in a worker process confined by "
                  "Landlock and seccomp, with memory and CPU limits. A crash or a hang becomes a typed error, "
                  "and the worker is restarted. Every denial is written to the audit log.\n",
    "notes.txt": "Open questions: how many executors per core? Should summaries use the embedder or word "
                 "frequencies? The sandbox reports its guarantee level per dimension.\n",
}


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


def chunk_texts(chunks: list[dict[str, Any]]) -> list[str]:
    """Used by the extension workflow through ``builtin.call``: the text of each chunk."""
    return [str(c["text"]) for c in chunks]


def join_texts(files: list[dict[str, Any]]) -> str:
    """Used by the extension workflow through ``builtin.call``: every document's text, one after the other."""
    return "\n".join(str(f["text"]).split("\n", 1)[-1].strip() for f in files if str(f["path"]).endswith(".md"))


def examples_folder() -> Path | None:
    """``extensions/`` of a checkout (beside the package), if there is one."""
    import symphony_actors

    folder = Path(symphony_actors.__file__).resolve().parents[1] / "extensions"
    return folder if (folder / "hash-embed" / "extension.toml").is_file() else None


def extension_workflow(docs: str, sources: str) -> Any:
    """read-files -> chunk-text -> hash-embed ranking; read-files -> summarise; read-files -> py-metrics."""
    from symphony_actors.domain.workflow import Workflow

    files_out = {"root": "string", "files": "list", "skipped": "list"}
    return (Workflow.build("extensions-demo", description="the example extensions as workflow nodes")
            .operator("docs_root", "builtin.const", params={"value": docs}, outputs={"out": "string"})
            .operator("src_root", "builtin.const", params={"value": sources}, outputs={"out": "string"})
            .operator("read_docs", "symphony.read-files/read-files", inputs={"root": "string"}, outputs=files_out)
            .operator("read_src", "symphony.read-files/read-files", params={"include": ["*.py"]},
                      inputs={"root": "string"}, outputs=files_out)
            .operator("chunk", "symphony.chunk-text/chunk", params={"size": 160, "overlap": 0},
                      inputs={"files": "list"}, outputs={"chunks": "list"})
            .operator("texts", "builtin.call", params={"callable": "symphony_actors.commands.demo:chunk_texts"},
                      inputs={"chunks": "list"}, outputs={"out": "list"})
            .operator("query", "builtin.const", params={"value": "what happens when a component crashes"},
                      outputs={"out": "string"})
            .operator("rank", "symphony.hash-embed/embed", params={"dim": 512},
                      inputs={"texts": "list", "query": "string"},
                      outputs={"vectors": "list", "dim": "integer", "ranking": "list"})
            .operator("joined", "builtin.call", params={"callable": "symphony_actors.commands.demo:join_texts"},
                      inputs={"files": "list"}, outputs={"out": "string"})
            .operator("summary", "symphony.summarise/summarise", params={"sentences": 2},
                      inputs={"text": "string"},
                      outputs={"summary": "string", "sentences": "list", "indices": "list", "scores": "list"})
            .operator("metrics", "symphony.py-metrics/py-metrics", inputs={"files": "list"},
                      outputs={"modules": "list", "functions": "list", "errors": "list", "summary": "object"})
            .connect("docs_root", "read_docs.root").connect("src_root", "read_src.root")
            .connect("read_docs.files", "chunk.files").connect("chunk", "texts.chunks")
            .connect("texts", "rank.texts").connect("query", "rank.query")
            .connect("read_docs.files", "joined.files").connect("joined", "summary.text")
            .connect("read_src.files", "metrics.files")
            .build(validate=False))


def _extensions_part(client: Any, data_dir: Path) -> bool:
    """Install, load and use the example extensions; True when the workflow succeeded."""
    from symphony_actors.domain.errors import ConflictError
    from symphony_actors.extension_host.service import ExtensionPortClient

    examples = examples_folder()
    if examples is None:
        print("the example extensions are not beside this installation (run from a checkout): skipped")
        return True
    if not any(n["name"] == "exthost" for n in client.status()["nodes"]):
        print("this system has no extension host: skipped")
        return True
    port = ExtensionPortClient(client)
    workspace = data_dir / "demo-workspace"
    docs, sources = workspace / "docs", workspace / "src" / "symphony_actors"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in DEMO_DOCS.items():
        (docs / name).write_text(text)
    if not sources.exists():
        import symphony_actors

        shutil.copytree(Path(symphony_actors.__file__).resolve().parent, sources,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    client.call("exthost", "set_workspace", path=str(workspace))
    for name in EXAMPLES:
        try:
            reply = port.install(str(examples / name))
            print(f"installed {reply['id']} {reply['version']} ({reply['type']}), granted: "
                  f"{', '.join(reply['granted']) or 'nothing'}")
        except ConflictError:
            print(f"{name}: already installed")
    t0 = time.perf_counter()
    for ext_id in ("symphony.summarise", "symphony.read-files", "symphony.chunk-text", "symphony.py-metrics",
                   "symphony.todo-finder"):
        port.activate(ext_id)
    print(f"loaded and activated {len(EXAMPLES)} extensions in {time.perf_counter() - t0:.2f} s, each in its own "
          "sandboxed worker:")
    for e in port.loaded_extensions():
        print(f"  {e['id']:<22} pid {e.get('pid') or '-':>7}  {e.get('guarantee_summary')}")

    _say("Running a workflow of extension nodes: read-files -> chunk-text -> hash-embed, summarise, py-metrics")
    t0 = time.perf_counter()
    run = client.run_workflow(extension_workflow(str(docs), str(sources)))
    snap = run.wait(timeout=120)
    print(f"run {run.run_id}: {snap['status']} in {time.perf_counter() - t0:.2f} s")
    if snap["status"] != "succeeded":
        for node, info in run.status(nodes=True)["nodes"].items():
            if info.get("error"):
                print(f"  {node}: {info['error'].get('message')}")
        return False
    files = run.result("read_docs")["files"]
    chunks = run.result("chunk")
    ranking = run.result("rank")["ranking"]
    best = chunks[ranking[0]["index"]]
    print(f"read {len(files)} documents, {len(chunks)} chunks; best match for "
          f"'what happens when a component crashes' ({ranking[0]['score']:.2f}), "
          f"{Path(best['source']).name}: {best['text'].strip()[:90]!r}")
    print(f"summary: {run.result('summary')['summary']}")
    metrics = run.result("metrics")["summary"]
    worst = metrics["over_threshold"][0] if metrics["over_threshold"] else None
    print(f"py-metrics over symphony_actors: {metrics['files']} modules, {metrics['functions']} functions, "
          f"{metrics['code_lines']} code lines, mean complexity {metrics['mean_complexity']}"
          + (f", most complex {worst['qualname']} ({worst['complexity']})" if worst else ""))
    print(f"todo-finder (addon hook, from a real editor buffer): {_todo_from_editor(client)}")
    return True


def _todo_from_editor(client: Any) -> Any:
    """Type a TODO into an editor buffer; the editor's event reaches the addon's ``on_buffer_opened``
    hook through the bus and the extension host, and the addon publishes what it found."""
    from symphony_actors.editor.client import TextEditingClient

    if not any(n["name"] == "editor" for n in client.status()["nodes"]):
        return "skipped (this system has no editor)"
    found = client.subscribe("ext.todo-finder.found")
    try:
        TextEditingClient(client).create_buffer("x = 1  # TODO: tidy up\n")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for event in found.get(timeout=1.0):
                if event["payload"].get("count"):
                    return event["payload"]["items"]
        return "no answer within 20 s"
    finally:
        found.close()


def _say(text: str) -> None:
    print(f"\n== {text}", flush=True)


def cmd_demo(args: argparse.Namespace) -> int:
    from symphony_actors.client import Client
    from symphony_actors.commands.run import follow_run, summary
    from symphony_actors.commands.system import ensure_running, render_tree, stop_system

    addr = resolve(getattr(args, "port", None), getattr(args, "data_dir", None))
    _say(f"Starting Symphony on 127.0.0.1:{addr.port} (data in {addr.data_dir})")
    allowed = os.environ.get(ALLOWED_CALLABLES_ENV, "")
    os.environ[ALLOWED_CALLABLES_ENV] = " ".join([allowed, *DEMO_CALLABLES]).strip()  # for the launcher
    callables.use(callable_policy(addr.data_dir))  # and for building the demo's workflows here
    _info, started_here = ensure_running(addr)
    print("started a new system" if started_here else
          f"a system was already running: using it (its {ALLOWED_CALLABLES_ENV} must allow {', '.join(DEMO_CALLABLES)}"
          " for the demo's builtin.call nodes)")
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

            _say("Extensions: installing the examples and loading each into a sandboxed worker")
            ok = _extensions_part(client, addr.data_dir) and ok
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
