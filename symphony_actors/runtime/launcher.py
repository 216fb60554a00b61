"""The launcher: one foreground process that owns a Symphony system.

``symphony start`` runs this module as a detached process (its own session,
output to the system's log file). It boots the tree, writes the run file
(``<data>/run/symphony-<port>.json``: its pid, the admin's pid and session,
the state), then watches the root supervisor twice a second. It stops the whole
system, by pid, when it gets SIGTERM/SIGINT (``symphony stop``), when the root
escalates (restart intensity exceeded at the top: the reason is written to the
run file and the log), or when the root stops answering.

Why a launcher: killing Thespian's admin orphans every actor and its logger
keeps the port (THESPIAN.md §5.5), so one process must own the session and
clean it up by pid.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import traceback
from typing import Any

from symphony_actors.bootstrap import validate_tree
from symphony_actors.config import SystemAddress, resolve
from symphony_actors.hosting import load_factory
from symphony_actors.ports.service import SupervisorSpec
from symphony_actors.runtime.auth import ensure_private_dir
from symphony_actors.runtime.messages import StatusReply
from symphony_actors.runtime.system import RunningSystem, boot

__all__ = ["main", "read_run_file", "write_run_file"]

WATCH_PERIOD = 0.5
MISSED_LIMIT = 6


def write_run_file(addr: SystemAddress, **fields: Any) -> None:
    addr.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_private_dir(addr.run_dir)  # made 0700, or refused if another user made it first
    current = read_run_file(addr) or {}
    current.update(fields)
    tmp = addr.pid_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=1))
    tmp.replace(addr.pid_file)


def read_run_file(addr: SystemAddress) -> dict[str, Any] | None:
    try:
        data = json.loads(addr.pid_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _log(msg: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} launcher[{os.getpid()}]: {msg}", flush=True)


def run(addr: SystemAddress, tree: SupervisorSpec) -> int:
    stop_requested = threading.Event()
    reason = {"why": "stop requested"}

    def on_signal(signum: int, _frame: Any) -> None:
        reason["why"] = f"signal {signal.Signals(signum).name}"
        stop_requested.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    write_run_file(addr, launcher_pid=os.getpid(), port=addr.port, data_dir=str(addr.data_dir),
                   state="starting", started_at=time.time(), admin_pid=None, session_id=None, reason=None)
    try:
        validate_tree(tree)
        system: RunningSystem = boot(tree, addr.port, addr.data_dir)
    except Exception as exc:  # noqa: BLE001 - report any start failure to `symphony start` via the run file
        _log(f"start failed: {type(exc).__name__}: {exc}")
        traceback.print_exc()
        write_run_file(addr, state="failed", reason=f"{type(exc).__name__}: {exc}")
        return 1
    write_run_file(addr, state="running", admin_pid=system.admin_pid, session_id=system.session_id)
    _log(f"running on 127.0.0.1:{addr.port} (admin pid {system.admin_pid}, session {system.session_id})")
    missed = 0
    exit_code = 0
    while not stop_requested.wait(WATCH_PERIOD):
        if not _pid_alive(system.admin_pid):  # Thespian's admin died: its actors die with it (pdeathsig)
            reason["why"] = f"the Thespian admin (pid {system.admin_pid}) died"
            exit_code = 1
            break
        try:
            st: StatusReply | None = system.status(timeout=2.0)
        except Exception:  # noqa: BLE001 - any failure to answer counts as a missed heartbeat
            st = None
        if st is None:
            missed += 1
            if missed >= MISSED_LIMIT:
                reason["why"] = "the root supervisor stopped answering"
                exit_code = 1
                break
            continue
        missed = 0
        if st.escalated:
            reason["why"] = f"escalated to the root: {st.escalated}"
            exit_code = 1
            break
    _log(f"stopping: {reason['why']}")
    write_run_file(addr, state="stopping", reason=reason["why"])
    killed = system.stop()
    if killed:
        _log(f"killed leftover pids {killed}")
    write_run_file(addr, state="stopped", reason=reason["why"], stopped_at=time.time())
    _log("stopped")
    return exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Own and watch one Symphony system (started by `symphony start`)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--tree", default="symphony_actors.bootstrap:default_tree",
                        help="factory of the supervision tree (module:callable)")
    parser.add_argument("--options", default="{}", help="JSON of per-service options")
    args = parser.parse_args(argv)
    addr = resolve(args.port, args.data_dir)
    options = json.loads(args.options)
    options.setdefault("gateway", {}).setdefault("system_port", addr.port)
    tree = load_factory(args.tree)(options)
    if not isinstance(tree, SupervisorSpec):
        print(f"--tree {args.tree} did not return a SupervisorSpec", file=sys.stderr)
        return 2
    return run(addr, tree)


if __name__ == "__main__":
    sys.exit(main())
