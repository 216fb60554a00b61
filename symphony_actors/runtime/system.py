"""Boot a supervision tree on a fresh Thespian system, and stop it leaving no process behind."""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from symphony_actors.config import private_system
from symphony_actors.domain.errors import DeadlineExceeded, ServiceCrashed, SymphonyFailure
from symphony_actors.ports.service import SupervisorSpec
from symphony_actors.runtime.direct import socket_dir
from symphony_actors.runtime.messages import Init, Started, StatusReply, StatusRequest, StopTree
from symphony_actors.runtime.supervisor import Supervisor
from symphony_actors.runtime.transport import start_system

__all__ = ["ROOT_NAME", "RunningSystem", "boot", "kill_session"]

ROOT_NAME = "symphony-root"


@dataclass
class RunningSystem:
    asys: Any
    root: Any
    port: int
    data_dir: Path
    admin_pid: int
    session_id: int

    def status(self, timeout: float = 5.0) -> StatusReply:
        reply = self.asys.ask(self.root, StatusRequest(), timeout)
        if not isinstance(reply, StatusReply):
            raise DeadlineExceeded("the root supervisor did not answer a status request")
        return reply

    def stop(self, timeout: float = 20.0) -> list[int]:
        """Ordered shutdown of the tree, then of Thespian; returns pids that had to be killed."""
        try:
            self.asys.ask(self.root, StopTree("system stop"), timeout)
        except Exception:  # noqa: BLE001 - the admin may be gone already: fall through to the kill
            pass
        try:
            self.asys.shutdown()
        except Exception:  # noqa: BLE001 - same: what matters is that no process survives
            pass
        killed = kill_session(self.session_id, self.admin_pid)
        shutil.rmtree(socket_dir(self.port), ignore_errors=True)  # sockets of actors that were killed
        return killed


def boot(tree: SupervisorSpec, port: int, data_dir: Path, timeout: float = 30.0) -> RunningSystem:
    """Start Thespian on ``port``, start the tree under a root supervisor, wait until it is running."""
    with private_system(data_dir):  # 0700 data dir, umask 077, allowed callables: inherited by the forked admin
        asys = start_system(port)
    session: int | None = None
    try:
        root = asys.createActor(Supervisor, globalName=ROOT_NAME)
        init = Init(tree, tree.name, None, None, str(data_dir), 0, port)
        deadline = time.monotonic() + timeout
        reply = asys.ask(root, init, min(timeout, 0.5))
        while not isinstance(reply, Started) and time.monotonic() < deadline:
            if isinstance(reply, StatusReply) and reply.escalated:
                raise SymphonyFailure(f"the supervision tree could not start: {reply.escalated}")
            # Not started yet: check whether a child keeps failing (escalation), then wait more.
            reply = asys.ask(root, StatusRequest(), 0.5)
            if isinstance(reply, StatusReply):
                session = reply.session_id
            if isinstance(reply, StatusReply) and not reply.escalated:
                reply = asys.listen(0.2)
        if not isinstance(reply, Started):
            raise DeadlineExceeded(f"the supervision tree did not start within {timeout:g} s")
        st = asys.ask(root, StatusRequest(), 5.0)
        if not isinstance(st, StatusReply):
            raise ServiceCrashed("the root supervisor did not answer after start")
        return RunningSystem(asys, root, port, data_dir, st.admin_pid, st.session_id)
    except BaseException:
        try:
            asys.shutdown()
        except Exception:  # noqa: BLE001 - already failing; the original error is what the user needs
            pass
        if session is not None:
            kill_session(session)
        shutil.rmtree(socket_dir(port), ignore_errors=True)
        raise


def session_pids(session_id: int, exclude: int | None = None) -> list[int]:
    me = os.getpid()
    out = []
    for p in psutil.process_iter(["pid", "status"]):
        pid = p.info["pid"]
        if pid in (me, exclude) or p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            if os.getsid(pid) == session_id:
                out.append(pid)
        except (ProcessLookupError, PermissionError):
            continue
    return out


def kill_session(session_id: int, admin_pid: int | None = None, grace: float = 2.0) -> list[int]:
    """Kill, by pid, every process left in the admin's session (Thespian's orphans)."""
    if session_id <= 1 or session_id == os.getsid(0):
        raise SymphonyFailure(f"refusing to kill session {session_id}: it is not a Symphony admin session")
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not session_pids(session_id):
            return []
        time.sleep(0.05)  # waiting for orderly exits to finish; not a test
    killed = []
    for pid in session_pids(session_id):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            continue
    for pid in killed:
        try:
            psutil.Process(pid).wait(timeout=2)
        except (psutil.NoSuchProcess, psutil.TimeoutExpired):
            continue
    return killed
