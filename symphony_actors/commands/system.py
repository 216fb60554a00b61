"""``symphony start | stop | status | kill``: run a system in the background and look after it."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from symphony_actors.config import SystemAddress, resolve
from symphony_actors.domain.errors import ConfigError, DeadlineExceeded, NotRunningError, SymphonyError, SymphonyFailure

__all__ = ["ensure_running", "register", "start_system", "stop_system"]

START_TIMEOUT = 60.0


def _addr(args: argparse.Namespace) -> SystemAddress:
    return resolve(getattr(args, "port", None), getattr(args, "data_dir", None))


def _alive(pid: Any) -> bool:
    if not pid:
        return False
    try:
        p = psutil.Process(int(pid))
        return bool(p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _session_alive(info: dict[str, Any]) -> bool:
    from symphony_actors.runtime.system import session_pids

    sid = info.get("session_id")
    return bool(sid) and bool(session_pids(int(str(sid))))


def _running_info(addr: SystemAddress) -> dict[str, Any] | None:
    """The run file of a live system on this port/data dir, None if there is none; tidies stale files."""
    from symphony_actors.runtime.launcher import read_run_file

    info = read_run_file(addr)
    if info is None:
        return None
    if info.get("state") in ("running", "starting") and _alive(info.get("launcher_pid")):
        return info
    if info.get("state") in ("running", "starting", "stopping") and _session_alive(info):
        return info  # launcher gone, actors still up: a crashed launcher
    return None


def start_system(addr: SystemAddress, *, tree: str | None = None, options: dict[str, Any] | None = None,
                 quiet: bool = False) -> dict[str, Any]:
    """Start a system in the background and wait until its tree is healthy; returns the run file."""
    from symphony_actors.runtime.launcher import read_run_file
    from symphony_actors.runtime.transport import admin_listening, port_owner

    info = _running_info(addr)
    if info is not None:
        if not _alive(info.get("launcher_pid")):
            raise SymphonyFailure(
                f"a Symphony system on port {addr.port} lost its launcher (pid {info.get('launcher_pid')}) but "
                f"its actors still run; run 'symphony stop --port {addr.port}' to clean it up")
        raise _AlreadyRunning(info)
    stale = read_run_file(addr)
    if stale is not None and stale.get("state") not in ("stopped", "failed") and not quiet:
        print(f"note: removing stale run file {addr.pid_file} (launcher pid {stale.get('launcher_pid')} is gone)")
    addr.pid_file.unlink(missing_ok=True)
    if admin_listening(addr.port):
        pid, name = port_owner(addr.port)
        raise ConfigError(f"port {addr.port} is already in use by {name} (pid {pid}); it may be a crashed "
                          "Symphony admin's leftover or another program: stop it, or pick another --port")
    addr.log_file.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "symphony_actors.runtime.launcher", "--port", str(addr.port),
           "--data-dir", str(addr.data_dir)]
    if tree:
        cmd += ["--tree", tree]
    if options:
        cmd += ["--options", json.dumps(options)]
    with addr.log_file.open("ab") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        info = read_run_file(addr)
        if info and info.get("launcher_pid") == proc.pid:
            if info.get("state") == "running":
                return info
            if info.get("state") == "failed":
                proc.wait(timeout=30)
                raise SymphonyFailure(f"Symphony failed to start: {info.get('reason')} (log: {addr.log_file})")
        if proc.poll() is not None:
            raise SymphonyFailure(f"the launcher exited with code {proc.returncode} before the system was up; "
                                  f"see {addr.log_file}:\n{_tail(addr)}")
        time.sleep(0.05)  # polling the run file against a deadline
    proc.send_signal(signal.SIGTERM)
    raise DeadlineExceeded(f"Symphony did not start within {START_TIMEOUT:g} s; see {addr.log_file}")


class _AlreadyRunning(Exception):
    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__("already running")
        self.info = info


def ensure_running(addr: SystemAddress, **kw: Any) -> tuple[dict[str, Any], bool]:
    """(run file, whether this call started it)."""
    try:
        return start_system(addr, **kw), True
    except _AlreadyRunning as already:
        return already.info, False


def stop_system(addr: SystemAddress, timeout: float = 30.0) -> tuple[bool, list[int]]:
    """Stop the system: SIGTERM its launcher, wait, then kill leftovers by pid. (was running, killed pids)."""
    from symphony_actors.runtime.launcher import read_run_file, write_run_file
    from symphony_actors.runtime.system import kill_session

    info = read_run_file(addr)
    if info is None:
        return False, []
    launcher = int(info.get("launcher_pid") or 0)
    was_running = _alive(launcher) or _session_alive(info)
    if _alive(launcher):
        os.kill(launcher, signal.SIGTERM)
        try:
            psutil.Process(launcher).wait(timeout=timeout)
        except psutil.TimeoutExpired:
            os.kill(launcher, signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    killed: list[int] = []
    sid = info.get("session_id")
    if sid:
        killed = kill_session(int(sid), grace=1.0)
    if info.get("state") != "stopped":
        write_run_file(addr, state="stopped", reason=info.get("reason") or "stopped by symphony stop")
    return was_running, killed


def _tail(addr: SystemAddress, lines: int = 15) -> str:
    try:
        return "\n".join(addr.log_file.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# ---------------------------------------------------------------------- commands
def cmd_start(args: argparse.Namespace) -> int:
    addr = _addr(args)
    try:
        info = start_system(addr, tree=args.tree)
    except _AlreadyRunning as already:
        print(f"Symphony is already running on 127.0.0.1:{addr.port} "
              f"(launcher pid {already.info.get('launcher_pid')}, data dir {addr.data_dir})")
        return 0
    print(f"Symphony is running on 127.0.0.1:{addr.port} (launcher pid {info['launcher_pid']}, "
          f"admin pid {info['admin_pid']}, data dir {addr.data_dir}, log {addr.log_file})")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    addr = _addr(args)
    was_running, killed = stop_system(addr)
    if not was_running:
        print(f"Symphony is not running on port {addr.port}")
        return 0
    extra = f"; killed leftover pids {killed}" if killed else ""
    print(f"Symphony on port {addr.port} stopped{extra}")
    return 0


def _format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def render_tree(status: dict[str, Any]) -> str:
    nodes = {n["name"]: n for n in status["nodes"]}
    children: dict[str | None, list[str]] = {}
    for n in status["nodes"]:
        children.setdefault(n.get("parent"), []).append(n["name"])
    lines = [f"{'actor':<28} {'pid':>7}  {'state':<10} {'restarts':>8}  {'uptime':>8}  detail"]

    def walk(name: str, depth: int) -> None:
        n = nodes[name]
        label = ("  " * depth + ("└ " if depth else "") + name)[:28]
        lines.append(f"{label:<28} {n.get('pid') or '-':>7}  {n['state']:<10} {n['restarts']:>8}  "
                     f"{_format_uptime(n.get('uptime')):>8}  {n.get('detail') or ''}".rstrip())
        for c in children.get(name, []):
            walk(c, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    bus = status.get("bus", {})
    lines.append("")
    lines.append(f"healthy: {'yes' if status['healthy'] else 'NO'}"
                 + (f"   escalated: {status['escalated']}" if status.get("escalated") else "")
                 + f"   dead letters: {bus.get('dead_letters', '?')}   events published: {bus.get('published', '?')}")
    extensions = status.get("extensions")
    if extensions:
        lines.append("")
        lines.append(f"{'extension':<28} {'pid':>7}  {'state':<10} {'restarts':>8}  guarantees")
        for e in extensions:
            lines.append(f"{str(e.get('id'))[:28]:<28} {e.get('pid') or '-':>7}  {e.get('state')!s:<10} "
                         f"{e.get('restarts', 0):>8}  {e.get('guarantee_summary', '?')}")
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    from symphony_actors.client import Client

    addr = _addr(args)
    info = _running_info(addr)
    if info is None:
        if args.json:
            print(json.dumps({"running": False, "port": addr.port}))
        else:
            print(f"Symphony is not running on port {addr.port}")
        return 3
    try:
        with Client(addr.port, timeout=5.0) as client:
            status = client.status()
            if any(n.get("name") == "exthost" and n.get("state") == "running" for n in status["nodes"]):
                try:
                    status["extensions"] = client.call("exthost", "loaded_extensions", timeout=5.0)
                except SymphonyError as exc:
                    status["extensions_error"] = str(exc)
            if any(n.get("name") == "gateway" and n.get("state") == "running" for n in status["nodes"]):
                try:
                    status["gateway"] = client.call("gateway", "status", timeout=5.0)
                except SymphonyError as exc:
                    status["gateway"] = {"error": str(exc)}
    except NotRunningError:
        print(f"Symphony on port {addr.port} does not answer (launcher pid {info.get('launcher_pid')}); "
              f"'symphony stop --port {addr.port}' cleans it up", file=sys.stderr)
        return 1
    status.update(running=True, launcher_pid=info.get("launcher_pid"), data_dir=str(addr.data_dir))
    if args.json:
        print(json.dumps(status, default=str, indent=1))
    else:
        print(f"Symphony on 127.0.0.1:{addr.port}  launcher pid {info.get('launcher_pid')}  "
              f"admin pid {status['admin_pid']}  data {addr.data_dir}\n")
        print(render_tree(status))
        if status.get("auth_rejected"):
            print(f"refused connections without the system's key: {status['auth_rejected']} "
                  f"(see {addr.data_dir / 'logs' / 'security.log'})")
        gw = status.get("gateway")
        if gw and gw.get("port"):
            token = Path(gw["token_file"]).read_text().strip() if Path(gw["token_file"]).exists() else "?"
            print(f"gateway: http://127.0.0.1:{gw['port']}/?token={token}")
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    from symphony_actors.client import Client

    addr = _addr(args)
    if _running_info(addr) is None:
        raise NotRunningError(f"Symphony is not running on port {addr.port}")
    with Client(addr.port, timeout=5.0) as client:
        pid = client.kill(args.name)
        print(f"crashed {args.name} (pid {pid})")
        if args.wait:
            client.wait_healthy(timeout=10.0, after_pid_of=(args.name, pid))
            node = next(n for n in client.status()["nodes"] if n["name"] == args.name)
            print(f"{args.name} restarted by its supervisor: pid {node['pid']}, restarts {node['restarts']}")
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("start", help="start a system in the background")
    p.add_argument("--tree", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_start)
    p = sub.add_parser("stop", help="stop the system, leaving no process behind")
    p.set_defaults(func=cmd_stop)
    p = sub.add_parser("status", help="show the supervision tree")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("kill", help="crash a named actor (its supervisor restarts it)")
    p.add_argument("name", help="service name, e.g. dag, bus, pool")
    p.add_argument("--no-wait", dest="wait", action="store_false", help="do not wait for the restart")
    p.set_defaults(func=cmd_kill)
