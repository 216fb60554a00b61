"""Runs at scale: generated WfCommons Montage workflows through ``symphony run``'s path, and a chain.

    python perf/runs.py [--quick] [--big N]

What is timed is what ``symphony run FILE`` does: the client imports the WfFormat file and sends it to
the ``runs`` service, which admits it (arbitration), asks the stale manager what is still fresh (reuse
on), and submits it to the DAG tracker, whose executors run every node; a run ends when the tracker
reports it finished and the runs service has processed its end (admission released, lineage recorded).
The workflows come from the ``wfcommons`` package (extra ``wfcommons``), generated once and cached
(:mod:`symphony_actors.testing.wfgen`; a 100k Montage takes minutes to generate the first time).

``runs_per_node_us_*`` is the same wall time per node at 1k, 10k and the big size (100k, or ``--big``):
linear work keeps it flat. ``chain_hop_ms`` is a 2,000-node chain of no-op nodes, wall time per node:
each hop is a dispatch to an executor and a result back. ``peak_pss_mb`` sums the proportional set size
of every process of the system's session, sampled during the big run.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _harness import Bench, median, percentile

from symphony_actors.bootstrap import default_tree
from symphony_actors.client import Client
from symphony_actors.domain.errors import SymphonyError
from symphony_actors.domain.workflow import Workflow
from symphony_actors.runtime.system import boot, session_pids
from symphony_actors.testing.wfgen import generate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))



def free_port() -> int:
    from integration.conftest import free_port as fp

    return fp()


def chain(n: int) -> Workflow:
    b = Workflow.build(f"chain{n}")
    for i in range(n):
        b = b.operator(f"c{i}", "builtin.noop")
    for i in range(1, n):
        b = b.after(f"c{i - 1}", f"c{i}")
    return b.build()


SUBMIT_S: list[float] = []  # wall seconds until run_workflow returned (import, admission, plan, submit)
CPU: dict[str, float] = {}  # service -> CPU seconds of the last run_once (plus "client")
CPU_PER_NODE: dict[int, float] = {}  # size -> CPU us per node on the critical path (last repetition)


def _critical_cpu() -> float:
    return sum(CPU.get(k, 0.0) for k in ("client", "runs", "dag"))


def _cpu(client: Client) -> dict[str, float]:
    out = {"client": time.process_time()}
    for node in client.status()["nodes"]:
        try:
            t = psutil.Process(node["pid"]).cpu_times()
        except (psutil.NoSuchProcess, TypeError, KeyError):
            continue  # not a process of its own, or gone: nothing to count
        out[str(node["name"])] = t.user + t.system
    return out


def run_once(client: Client, what: Path | Workflow, max_size: int | None = None) -> tuple[float, int]:
    """Wall seconds from ``run_workflow`` to the end processed by the runs service; node count.

    The CPU seconds each process spent meanwhile go to :data:`CPU`: on a shared 2-core machine wall
    time mostly measures the neighbours, CPU time is what the run cost."""
    before = _cpu(client)
    t = time.perf_counter()
    run = client.run_workflow(what, max_size=max_size)
    SUBMIT_S.append(time.perf_counter() - t)
    snap = run.wait(1800)
    assert snap["status"] == "succeeded", snap
    deadline = time.monotonic() + 600
    while client.call("runs", "pending", timeout=120) and time.monotonic() < deadline:
        time.sleep(0.01)
    wall = time.perf_counter() - t
    after = _cpu(client)
    CPU.clear()
    CPU.update({k: after[k] - before[k] for k in after if k in before})
    return wall, sum(snap["counts"].values())


class PssSampler:
    """Peak of the summed PSS of a session's processes, sampled on a thread until stopped."""

    def __init__(self, session_id: str, every: float = 0.25) -> None:
        self.session_id, self.every, self.peak = session_id, every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            total = 0
            for pid in session_pids(self.session_id):
                try:
                    total += psutil.Process(pid).memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue  # a process that just ended holds no memory any more
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def inproc_cpu_us(path: Path) -> tuple[float, float, int]:
    """CPU us per node of the run's critical path in one process (no actor system, so no hang detector):
    the client's import and encode, the runs service's decode, validation and reuse plan, the tracker's
    submit (decode, validate, engine, checkpoint, events) and the run with executors that answer at once."""
    from dag import InstantExecutor, _Bus

    from symphony_actors.domain.workflow import dumps_binary, import_wfformat, to_workflow
    from symphony_actors.pit.dag.service import DagService
    from symphony_actors.pit.dag.usecase import RunWorkflow
    from symphony_actors.ports.service import ServiceSettings
    from symphony_actors.testing import LocalRuntime

    class NothingFresh:
        def fresh_nodes(self, *, nodes: list[dict[str, object]]) -> dict[str, object]:
            return {"fresh": {}}

    data = path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        rt = LocalRuntime(Path(tmp))
        rt.add_service("bus", _Bus())
        for i in range(2):
            rt.add_service(f"exec-{i}", InstantExecutor())
        rt.add_service("dag", DagService(ServiceSettings("dag", Path(tmp), {"executors": 2})))
        t0 = time.process_time()
        doc = dumps_binary(import_wfformat(data), level=3)                     # client
        wf = to_workflow(doc, {})                                               # runs service
        RunWorkflow(None, stale=NothingFresh())._fresh(wf, wf.validate().order)
        rid = rt.call("dag", "submit", workflow=doc)                            # tracker
        while rt.advance(0):
            pass
        cpu = time.process_time() - t0
        assert rt.call("dag", "status", run_id=rid)["status"] == "succeeded"
    size = len(wf.nodes) + len(wf.edges)
    return cpu / len(wf.nodes) * 1e6, cpu / size * 1e6, len(wf.edges)


def main() -> None:
    bench = Bench("runs")
    bench.parser.add_argument("--big", type=int, default=100_000, help="size of the big run (default 100k)")
    big = 10_000 if bench.quick else bench.parser.parse_known_args()[0].big
    reps = 1 if bench.quick else 3
    paths = {n: generate("montage", n) for n in (1_000, 10_000, big)}
    # the production tree and hang limits: a 100k submit runs on the services' job threads
    tree = default_tree({"dag": {"executors": 2}})
    per_node: dict[int, float] = {}
    inproc = {n: inproc_cpu_us(paths[n]) for n in sorted(set(paths))}
    with tempfile.TemporaryDirectory() as tmp:
        system = boot(tree, free_port(), Path(tmp) / "sys")
        try:
            client = Client(system.port, timeout=1200)
            run_once(client, chain(50))  # warm the executors
            times: dict[int, list[float]] = {}
            for n in (1_000, 10_000):
                got = []
                for _ in range(reps):
                    got.append(run_once(client, paths[n]))
                    CPU_PER_NODE[n] = _critical_cpu() / got[-1][1] * 1e6
                times[n] = [s for s, _ in got]
                per_node[n] = median(times[n]) / got[0][1] * 1e6
            hops = [run_once(client, chain(2_000))[0] / 2_000 * 1e3 for _ in range(reps)]
            sampler = PssSampler(system.session_id)  # the big run last: if it fails, the rest is measured
            watch = client.subscribe("supervisor.#")
            big_error = ""
            try:
                t_big, n_big = run_once(client, paths[big], max_size=2**30)
                per_node[big] = t_big / n_big * 1e6
                submit_big = SUBMIT_S[-1]
                CPU_PER_NODE[big] = _critical_cpu() / n_big * 1e6
            except SymphonyError as exc:  # recorded as a miss with its cause, the rest still measured
                t_big, n_big, submit_big = float("nan"), big, float("nan")
                exits = [e["payload"] for e in watch.get(timeout=5.0) if e["topic"].endswith("exited")]
                why = "; ".join(f"{e.get('child')} {e.get('reason')}" for e in exits[:3])
                big_error = f"failed: {exc}" + (f" (supervisor: {why})" if why else "")
                print(big_error, file=sys.stderr)
            watch.close()
            peak = sampler.stop()
            client.close()
        finally:
            system.stop()
    t10k = median(times[10_000])
    bench.record("runs_10k_s", t10k, goal=2.0, unit="s",
                 note=f"10k Montage through the runs service, reuse + admission on; p99 "
                      f"{percentile(times[10_000], 99):.2f} s")
    label = "100k" if big == 100_000 else f"{big // 1000}k"
    bench.record(f"runs_{label}_s", t_big, goal=20.0 if big == 100_000 else None, unit="s",
                 note=big_error or f"{n_big} nodes, one run; {submit_big:.1f} s of it until run_workflow "
                                   "returned (client import, runs service decode + plan, tracker submit)")
    for n, key in ((1_000, "1k"), (10_000, "10k"), (big, label)):
        bench.record(f"runs_per_node_us_{key}", per_node.get(n, float("nan")), unit="us/node",
                     note=f"CPU of client + runs + dag: {CPU_PER_NODE.get(n, float('nan')):.0f} us/node")
    flat = max(per_node.values()) / min(per_node.values()) if len(per_node) == 3 else float("nan")
    bench.record("runs_per_node_spread", flat, goal=2.0, note="largest / smallest us/node of the three sizes")
    for n, (us, us_elem, m) in inproc.items():
        bench.record(f"runs_inproc_cpu_us_{n // 1000}k", us, unit="us/node",
                     note=f"critical-path CPU in one process (no actors, instant executors); {m:,} edges: "
                          f"{us_elem:.0f} us per node or edge")
    per_elem = [v[1] for v in inproc.values()]
    bench.record("runs_inproc_cpu_spread", max(per_elem) / min(per_elem), goal=2.0,
                 note="largest / smallest in-process CPU per node or edge (N + E) over 1k..100k: linear work "
                      "keeps it near 1 (a generated Montage's edges grow faster than its tasks)")
    bench.record("chain_hop_ms", median(hops), goal=0.5, unit="ms/node",
                 note=f"2,000 no-op nodes in a chain; p99 {percentile(hops, 99):.2f}")
    bench.record("peak_pss_mb", peak / 2**20, unit="MB", note=f"whole session during the {label} run")
    bench.finish()


if __name__ == "__main__":
    main()
