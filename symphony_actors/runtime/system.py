"""Boot a supervision tree on a fresh Thespian system, and stop it leaving no process behind."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from symphony_actors.config import private_system
from symphony_actors.domain.errors import DeadlineExceeded, ServiceCrashed, SymphonyFailure, UnsafePathError
from symphony_actors.ports.service import SupervisorSpec
from symphony_actors.runtime.auth import SystemKey, create_or_load_key
from symphony_actors.runtime.direct import existing_socket_dir, socket_dir
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
        _remove_socket_dir(self.port)  # sockets of actors that were killed
        return killed


#: In the system's socket directory: where its data directory is (so a client given only the port finds
#: the key), and the count of refused connections (one byte each).
DATA_DIR_POINTER = "data-dir"
REJECTED_COUNT = "auth-rejected"


def _remove_socket_dir(port: int) -> None:
    try:
        d = existing_socket_dir(port)  # never follows or deletes a directory someone else planted
    except UnsafePathError as exc:
        logging.getLogger("symphony.security").warning("left the socket directory alone: %s", exc)
        return
    if d is not None:
        shutil.rmtree(d, ignore_errors=True)


def _prepare(port: int, data_dir: Path) -> tuple[SystemKey, Path]:
    """The key, the verified socket directory (with its pointer to ``data_dir``) and the security log."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key = create_or_load_key(data_dir)
    sdir = socket_dir(port)
    (sdir / REJECTED_COUNT).unlink(missing_ok=True)
    (sdir / DATA_DIR_POINTER).write_text(str(data_dir.resolve()))
    (data_dir / "logs").mkdir(exist_ok=True)
    return key, sdir


def boot(tree: SupervisorSpec, port: int, data_dir: Path, timeout: float = 30.0) -> RunningSystem:
    """Start Thespian on ``port``, start the tree under a root supervisor, wait until it is running."""
    with private_system(data_dir):  # 0700 data dir, umask 077, allowed callables: inherited by the forked admin
        key, sdir = _prepare(port, data_dir)
        asys = start_system(port, key, count_file=sdir / REJECTED_COUNT,
                            log_file=data_dir / "logs" / "security.log")
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
        _remove_socket_dir(port)
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
