"""Escape attempts by a hostile extension worker: each is blocked, audited, and the host keeps answering.

Every test runs real code in a confined worker forked by a real zygote. The zygote and its workers
are stopped by pid in the fixtures (``Zygote.close`` kills each worker through its pidfd and waits
for the zygote's process to exit).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from symphony_actors.domain.errors import ExtensionFailed, PermissionDenied, SandboxError
from symphony_actors.extension_host.sandbox import Guarantees, SandboxedWorker, SandboxPolicy, Zygote, probe, read_audit

CAPS = probe()
pytestmark = pytest.mark.skipif(not CAPS.can_confine or not CAPS.seccomp,
                                reason="needs Landlock and seccomp (the host cannot confine untrusted code)")
MiB = 1024 * 1024

EVIL = textwrap.dedent('''
    import ctypes, os, signal, socket, subprocess, time

    class Evil:
        def ping(self, payload):
            return "pong"

        def read(self, path):
            with open(path, "rb") as f:
                return f.read(64).decode("latin-1")

        def write(self, args):
            with open(args["path"], "w") as f:
                f.write(args.get("text", "x"))
            return True

        def symlink_read(self, args):
            link = os.path.join(os.getcwd(), args["name"])
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(args["target"], link)
            return self.read(link)

        def connect(self, args):
            s = socket.create_connection((args["host"], args["port"]), timeout=5)
            s.close()
            return True

        def bind(self, port):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            finally:
                s.close()
            return True

        def exec_sh(self, how):
            if how == "execv":
                os.execv("/bin/sh", ["/bin/sh", "-c", "echo escaped"])
            return subprocess.run(["/bin/sh", "-c", "echo escaped"], capture_output=True, text=True).stdout

        def fork_bomb(self, limit):
            children = []
            try:
                for _ in range(limit):
                    pid = os.fork()
                    if pid == 0:
                        while True:
                            signal.pause()
                    children.append(pid)
            except BlockingIOError:
                pass
            finally:
                for pid in children:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            return len(children)

        def signal(self, args):
            os.kill(args["pid"], args["sig"])
            return "sent"

        def alloc(self, max_mib):
            chunks = []
            for _ in range(max_mib // 8):
                chunks.append(b"\\x01" * (8 << 20))
            return len(chunks) * 8

        def spin(self, seconds):
            t0, c0 = time.monotonic(), time.process_time()
            while time.monotonic() - t0 < seconds:
                pass
            return {"cpu": time.process_time() - c0, "wall": time.monotonic() - t0}

        def loop_forever(self, _):
            while True:
                pass

        def ptrace(self, _):
            return ctypes.CDLL(None).ptrace(0, 0, None, None)  # PTRACE_TRACEME

        def unshare(self, _):
            return ctypes.CDLL(None).unshare(0x10000000)  # CLONE_NEWUSER

        def crash(self, how):
            if how == "abort":
                os.abort()
            os._exit(3)

        def boom(self, _):
            raise ValueError("boom")

        def env(self, name):
            return os.environ.get(name)

        def env_names(self, _):
            return sorted(os.environ)

        def try_connect(self, args):
            """Connect and report; a refusal is caught here, as a careful attacker would."""
            family = socket.AF_UNIX if "path" in args else socket.AF_INET
            try:
                s = socket.socket(family, socket.SOCK_STREAM)
            except PermissionError as exc:
                return f"refused: socket: {exc}"
            try:
                s.settimeout(5)
                s.connect(args["path"] if "path" in args else (args["host"], args["port"]))
                s.sendall(b"16>" + b"x" * 16)  # the shape of a Thespian frame
                return "connected"
            except PermissionError as exc:
                return f"refused: connect: {exc}"
            finally:
                s.close()

        def try_connect_raw(self, port):
            """connect() through ctypes (no Python audit event): the kernel must still refuse it."""
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            addr = (socket.AF_INET).to_bytes(2, "little") + port.to_bytes(2, "big") + socket.inet_aton("127.0.0.1")
            libc = ctypes.CDLL(None, use_errno=True)
            try:
                rc = libc.connect(s.fileno(), addr + bytes(8), 16)
                return "connected" if rc == 0 else f"refused: errno {ctypes.get_errno()}"
            finally:
                s.close()

        def try_udp(self, args):
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK)
            except PermissionError as exc:
                return f"refused: {exc}"
            try:
                s.sendto(b"hello", (args["host"], args["port"]))
                return "sent"
            finally:
                s.close()

        def try_meta(self, args):
            """One metadata change on args["path"], by os.* or by a raw syscall; a refusal is caught."""
            path, op = args["path"], args["op"]
            libc = ctypes.CDLL(None, use_errno=True)
            libc.syscall.restype = ctypes.c_long
            try:
                if op == "chmod_setuid":
                    os.chmod(path, 0o4755)
                elif op == "chmod":
                    os.chmod(path, 0o777)
                elif op == "fchmod":
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fchmod(fd, 0o777)
                    finally:
                        os.close(fd)
                elif op == "utime":
                    os.utime(path, (1, 1))
                elif op == "setxattr":
                    os.setxattr(path, "user.evil", b"1")
                elif op == "removexattr":
                    os.removexattr(path, "user.kept")
                elif op == "chown":
                    os.chown(path, os.getuid(), os.getgid())
                elif op.startswith("syscall_"):
                    nr = args["nr"]
                    if op == "syscall_chmod":
                        rc = libc.syscall(nr, path.encode(), 0o4777)
                    elif op == "syscall_fchmodat2":
                        rc = libc.syscall(nr, -100, path.encode(), 0o4777, 0)
                    else:  # syscall_utimensat with times NULL: "now"
                        rc = libc.syscall(nr, -100, path.encode(), None, 0)
                    if rc != 0:
                        return f"refused: errno {ctypes.get_errno()}"
                return "done"
            except PermissionError as exc:
                return f"refused: {exc}"


    class WithInit:
        def __init__(self, init):
            self.init = init

        def get(self, _):
            return self.init
''')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two extension folders with the hostile module, their data folders, and one zygote."""
    root = tmp_path_factory.mktemp("sandbox")
    for name in ("a", "b"):
        (root / f"ext_{name}").mkdir()
        (root / f"ext_{name}" / "evil.py").write_text(EVIL)
        (root / f"data_{name}").mkdir()
    (root / "data_b" / "secret.txt").write_text("b's secret")
    (root / "outside.txt").write_text("outside")
    audit = root / "audit.jsonl"
    zygote = Zygote(audit).start()
    try:
        yield {"root": root, "audit": audit, "zygote": zygote}
    finally:
        zygote_pid = zygote.zygote_pid
        pids = [w.pid for w in zygote.workers if w.pid]
        zygote.close()
        assert zygote_pid is not None
        _assert_gone([zygote_pid, *pids])
        _assert_cgroups_removed(zygote)


def _assert_cgroups_removed(zygote: Zygote) -> None:
    roots = zygote._cgroups.dirs.values() if zygote._cgroups is not None else []
    assert [d for d in roots if d.exists()] == [], "the sandbox's cgroup directories outlived it"


def _assert_gone(pids: list[int]) -> None:
    deadline = time.monotonic() + 5
    for pid in pids:
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"process {pid} outlived its test"


def _policy(world: dict[str, Any], name: str = "a", **kw: Any) -> SandboxPolicy:
    root: Path = world["root"]
    return SandboxPolicy(f"ext-{name}", root / f"ext_{name}", root / f"data_{name}", **kw)


@pytest.fixture
def spawn(world: dict[str, Any]) -> Iterator[Any]:
    """Spawn workers on the shared zygote; each is killed by pid at the end of the test."""
    started: list[SandboxedWorker] = []

    def _spawn(name: str = "a", zygote: Zygote | None = None, **kw: Any) -> SandboxedWorker:
        w = (zygote or world["zygote"]).spawn(_policy(world, name, **kw), "evil:Evil")
        started.append(w)
        return w

    yield _spawn
    for w in started:
        w.kill()
        assert w.status().state == "dead"


def _audited(world: dict[str, Any], extension: str, permission: str, target_part: str) -> dict[str, Any]:
    for record in read_audit(world["audit"], extension):
        if record["permission"] == permission and target_part in str(record["target"]):
            return record
    raise AssertionError(f"no audit record {permission} {target_part!r} for {extension}: "
                         f"{read_audit(world['audit'], extension)}")


def _guarantees(worker: SandboxedWorker) -> Guarantees:
    assert worker.guarantees is not None, "a ready worker reports its guarantees"
    return worker.guarantees


def _denied(worker: SandboxedWorker, method: str, payload: Any) -> PermissionDenied:
    with pytest.raises(PermissionDenied) as info:
        worker.call(method, payload)
    assert worker.call("ping") == "pong", "the worker keeps answering after a refusal"
    return info.value


# ---------------------------------------------------------------------------- file system


def test_reading_etc_passwd_is_refused_and_audited(world: dict[str, Any], spawn: Any) -> None:
    """/etc/passwd is outside every granted path."""
    w = spawn()
    err = _denied(w, "read", "/etc/passwd")
    assert (err.details["permission"], err.details["target"]) == ("fs.read", "/etc/passwd")
    assert _audited(world, "ext-a", "fs.read", "/etc/passwd")["source"] == "worker"


def test_writing_outside_its_folders_is_refused(world: dict[str, Any], spawn: Any) -> None:
    """Neither a sibling file nor its own (read-only) extension folder can be written."""
    w = spawn()
    outside = str(world["root"] / "outside.txt")
    _denied(w, "write", {"path": outside, "text": "pwned"})
    assert Path(outside).read_text() == "outside"
    own_code = str(world["root"] / "ext_a" / "evil.py")
    _denied(w, "write", {"path": own_code, "text": "pwned"})
    _audited(world, "ext-a", "fs.write", outside)
    _audited(world, "ext-a", "fs.write", own_code)
    assert w.call("write", {"path": str(world["root"] / "data_a" / "ok.txt")}) is True, "its data folder is writable"


def test_a_symlink_out_of_its_data_folder_is_refused(world: dict[str, Any], spawn: Any) -> None:
    """A symlink it may create in its data folder still resolves to a denied file."""
    w = spawn()
    _denied(w, "symlink_read", {"name": "link", "target": "/etc/passwd"})
    _audited(world, "ext-a", "fs.read", "link")


def test_a_dot_dot_path_out_of_its_data_folder_is_refused(world: dict[str, Any], spawn: Any) -> None:
    """``data_a/../../../etc/passwd`` is judged by where it lands, not by its prefix."""
    w = spawn()
    sneaky = str(world["root"] / "data_a") + "/../" * 12 + "etc/passwd"
    _denied(w, "read", sneaky)
    _audited(world, "ext-a", "fs.read", "etc/passwd")


def test_another_extensions_data_is_unreadable(world: dict[str, Any], spawn: Any) -> None:
    """ext-a cannot read ext-b's data, directly, by ``..``, by symlink or through /proc; ext-b can."""
    a = spawn("a")
    b = spawn("b")
    secret = world["root"] / "data_b" / "secret.txt"
    assert b.call("read", str(secret)) == "b's secret"
    _denied(a, "read", str(secret))
    _denied(a, "read", str(world["root"] / "data_a") + "/../data_b/secret.txt")
    _denied(a, "symlink_read", {"name": "to-b", "target": str(secret)})
    _denied(a, "read", f"/proc/{b.pid}/environ")
    _audited(world, "ext-a", "fs.read", "secret.txt")


# ---------------------------------------------------------------------------- network


def _listen_below_ephemeral(kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A socket on 127.0.0.1 bound below the kernel's ephemeral range (the sandbox reserves that range)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(max(1024, low - 12000), low), 200):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        if kind == socket.SOCK_STREAM:
            s.listen(8)
        return s
    raise RuntimeError("no free port below the ephemeral range")


@pytest.fixture
def listeners() -> Iterator[list[socket.socket]]:
    """Two TCP listeners on 127.0.0.1 outside the reserved ports, closed after the test."""
    socks = [_listen_below_ephemeral() for _ in range(2)]
    yield socks
    for s in socks:
        s.close()


def test_tcp_connect_to_an_undeclared_port_is_refused(world: dict[str, Any], spawn: Any,
                                                      listeners: list[socket.socket]) -> None:
    """With only port A granted, B (a live listener) is refused; A still works."""
    if CAPS.landlock_abi < 4:
        pytest.skip("Landlock ABI < 4: TCP ports are not filterable on this kernel")
    granted, undeclared = (s.getsockname()[1] for s in listeners)
    w = spawn(connect_ports=frozenset({granted}))
    assert w.call("connect", {"host": "127.0.0.1", "port": granted}) is True
    err = _denied(w, "connect", {"host": "127.0.0.1", "port": undeclared})
    assert err.details["permission"] == "net.connect"
    _audited(world, "ext-a", "net.connect", f"127.0.0.1:{undeclared}")
    assert "network" in _guarantees(w).to_wire() and _guarantees(w).network == "enforced"


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_tcp_bind_to_an_undeclared_port_is_refused(world: dict[str, Any], spawn: Any) -> None:
    """With only bind port A granted, binding B is refused."""
    if CAPS.landlock_abi < 4:
        pytest.skip("Landlock ABI < 4: TCP ports are not filterable on this kernel")
    granted, undeclared = _free_ports(2)
    w = spawn(bind_ports=frozenset({granted}))
    assert w.call("bind", granted) is True
    err = _denied(w, "bind", undeclared)
    assert (err.details["permission"], err.details["target"]) == ("net.bind", f"127.0.0.1:{undeclared}")


def test_without_a_network_grant_no_internet_socket_can_be_made(world: dict[str, Any], spawn: Any,
                                                                 listeners: list[socket.socket]) -> None:
    """seccomp refuses socket(AF_INET) outright."""
    w = spawn()
    port = listeners[0].getsockname()[1]
    err = _denied(w, "connect", {"host": "127.0.0.1", "port": port})
    assert err.details["permission"] == "net.connect"


# ---------------------------------------------------------------------------- processes and signals


def test_exec_bin_sh_is_refused(world: dict[str, Any], spawn: Any) -> None:
    """Neither execv nor subprocess can start /bin/sh without process.spawn."""
    w = spawn()
    for how in ("execv", "subprocess"):
        err = _denied(w, "exec_sh", how)
        assert err.details["permission"] == "process.spawn"
    _audited(world, "ext-a", "process.spawn", "/bin/sh")


def test_a_fork_bomb_cannot_fork_at_all_without_spawn(world: dict[str, Any], spawn: Any) -> None:
    """The first fork fails (seccomp: clone without CLONE_THREAD is refused)."""
    w = spawn()
    err = _denied(w, "fork_bomb", 10_000)
    assert err.details["permission"] == "process.spawn"
    _audited(world, "ext-a", "process.spawn", "fork")


def test_a_fork_bomb_with_spawn_granted_stops_at_max_processes(world: dict[str, Any], spawn: Any) -> None:
    """With process.spawn, the pids cgroup (root) or RLIMIT_NPROC (other users) caps the count."""
    if CAPS.root and not CAPS.cgroup_pids_writable:
        pytest.skip("root ignores RLIMIT_NPROC and no pids cgroup is writable")
    w = spawn(allow_spawn=True, max_processes=8)
    forked = w.call("fork_bomb", 10_000)
    assert forked < 8, "the worker itself counts toward its own cap"
    assert w.call("ping") == "pong"
    assert _guarantees(w).processes == "enforced"


def test_signalling_the_parent_or_the_host_is_refused(world: dict[str, Any], spawn: Any) -> None:
    """SIGKILL to the zygote is refused; so is probing the host, init and kill(-1) (signal 0: harmless)."""
    w = spawn()
    zygote_pid = world["zygote"].zygote_pid
    err = _denied(w, "signal", {"pid": zygote_pid, "sig": int(signal.SIGKILL)})
    assert err.details["permission"] == "process.signal"
    for pid in (os.getpid(), 1, -1):
        _denied(w, "signal", {"pid": pid, "sig": 0})
    assert psutil.pid_exists(zygote_pid) and psutil.Process(zygote_pid).status() != psutil.STATUS_ZOMBIE
    _audited(world, "ext-a", "process.signal", f"pid {zygote_pid}")


def test_a_forbidden_syscall_kills_the_worker_and_restart_brings_it_back(world: dict[str, Any], spawn: Any) -> None:
    """ptrace and unshare(CLONE_NEWUSER) end in SIGSYS: reason=syscall, audited; restart works."""
    w = spawn()
    for method in ("ptrace", "unshare"):
        old_pid = w.pid
        with pytest.raises(ExtensionFailed) as info:
            w.call(method)
        assert (info.value.details["reason"], info.value.details["signal"]) == ("syscall", signal.SIGSYS)
        assert w.status().state == "dead"
        w.restart()
        assert w.pid != old_pid and w.call("ping") == "pong"
    record = _audited(world, "ext-a", "syscall", "signal")
    assert (record["decision"], record["source"]) == ("killed", "host")


# ---------------------------------------------------------------------------- resources


def _memory_case(world: dict[str, Any], spawn: Any, zygote: Zygote, name: str) -> float:
    limit = 256 * MiB
    w = spawn(name, zygote=zygote, memory_limit_bytes=limit)
    with pytest.raises(ExtensionFailed) as info:
        w.call("alloc", 1024, timeout=60)
    details = info.value.details
    assert details["reason"] == "memory"
    peak = details["peak_memory_bytes"]
    error = float(abs(peak - limit) / limit)
    assert error <= 0.10, f"stopped at {peak / MiB:.1f} MiB for a 256 MiB limit ({error:.1%})"
    _audited(world, f"ext-{name}", "resource.memory", "limit")
    w.restart()
    assert w.call("ping") == "pong"
    return error


def test_allocating_past_256_mib_is_stopped_within_10_percent_cgroup(world: dict[str, Any], spawn: Any) -> None:
    """The memory cgroup OOM-kills the worker at the limit (kernel-enforced)."""
    if not CAPS.cgroup_memory_writable:
        pytest.skip("no writable memory cgroup on this host")
    _memory_case(world, spawn, world["zygote"], "a")


def test_allocating_past_256_mib_is_stopped_within_10_percent_watchdog(world: dict[str, Any], spawn: Any) -> None:
    """Without cgroups: RLIMIT_DATA plus the 10 ms RSS watchdog (best effort)."""
    with Zygote(world["audit"], use_cgroups=False) as zygote:
        _memory_case(world, spawn, zygote, "b")
        assert _guarantees(zygote.workers[0]).memory == "best_effort"


def _cpu_case(spawn: Any, zygote: Zygote, name: str) -> float:
    share = 0.2
    w = spawn(name, zygote=zygote, cpu_share=share)
    measured = w.call("spin", 1.5)
    got = measured["cpu"] / measured["wall"]
    error = float(abs(got - share) / share)
    assert error <= 0.20, f"measured share {got:.3f} for a {share} cap ({error:.1%})"
    assert w.call("ping") == "pong"
    return error


def test_spinning_under_a_20_percent_share_is_held_to_it_cgroup(world: dict[str, Any], spawn: Any) -> None:
    """cgroup CPU quota (kernel-enforced)."""
    if not CAPS.cgroup_cpu_writable:
        pytest.skip("no writable cpu cgroup on this host")
    _cpu_case(spawn, world["zygote"], "a")


def test_spinning_under_a_20_percent_share_is_held_to_it_duty_cycle(world: dict[str, Any], spawn: Any) -> None:
    """Without cgroups: SIGSTOP/SIGCONT duty cycling from the host watchdog (best effort)."""
    with Zygote(world["audit"], use_cgroups=False) as zygote:
        _cpu_case(spawn, zygote, "b")
        assert _guarantees(zygote.workers[0]).cpu == "best_effort"


def test_looping_forever_past_its_timeout_is_killed(world: dict[str, Any], spawn: Any) -> None:
    """The host SIGKILLs at the deadline: reason=timeout, audited; another worker is unaffected."""
    w = spawn("a", call_timeout_seconds=0.5)
    other = spawn("b")
    started = time.monotonic()
    with pytest.raises(ExtensionFailed) as info:
        w.call("loop_forever")
    assert time.monotonic() - started < 3
    assert (info.value.details["reason"], info.value.details["signal"]) == ("timeout", signal.SIGKILL)
    assert other.call("ping") == "pong"
    _audited(world, "ext-a", "resource.time", "loop_forever")
    w.restart()
    assert w.call("ping") == "pong"


def test_a_cpu_time_budget_is_enforced_by_the_kernel(world: dict[str, Any], spawn: Any) -> None:
    """RLIMIT_CPU: past its CPU-seconds budget the worker gets SIGXCPU: reason=cpu, audited."""
    w = spawn(cpu_time_limit_seconds=1)
    with pytest.raises(ExtensionFailed) as info:
        w.call("spin", 30.0, timeout=20)
    assert info.value.details["reason"] == "cpu"
    _audited(world, "ext-a", "resource.cpu", "CPU s")


# ---------------------------------------------------------------------------- containment


def test_workers_die_with_their_zygote_and_the_host_is_told(world: dict[str, Any], spawn: Any) -> None:
    """SIGKILL to the zygote: PDEATHSIG takes its workers down; calls fail typed, spawn refuses."""
    zygote = Zygote(world["audit"]).start()
    try:
        w = spawn(zygote=zygote)
        worker_pid, zygote_pid = w.pid, zygote.zygote_pid
        assert worker_pid is not None and zygote_pid is not None
        os.kill(zygote_pid, signal.SIGKILL)
        _assert_gone([zygote_pid, worker_pid])
        with pytest.raises(ExtensionFailed):
            w.call("ping")
        assert not zygote.alive
        with pytest.raises(SandboxError):
            zygote.spawn(_policy(world), "evil:Evil")
    finally:
        zygote.close()
    _assert_cgroups_removed(zygote)


def test_a_crash_is_a_typed_error_and_leaves_other_workers_alone(world: dict[str, Any], spawn: Any) -> None:
    """abort() and exit(3) come back as ExtensionFailed(reason=crash) with the signal or exit code."""
    w = spawn("a")
    other = spawn("b")
    with pytest.raises(ExtensionFailed) as info:
        w.call("crash", "abort")
    assert (info.value.details["reason"], info.value.details["signal"]) == ("crash", signal.SIGABRT)
    w.restart()
    with pytest.raises(ExtensionFailed) as info:
        w.call("crash", "exit")
    assert (info.value.details["reason"], info.value.details["exit_code"]) == ("crash", 3)
    with pytest.raises(ExtensionFailed) as info:
        w.call("ping")
    assert info.value.details["reason"] == "not_running"
    assert other.call("ping") == "pong"


def test_an_extension_exception_is_reported_and_the_worker_lives_on(spawn: Any) -> None:
    """A Python exception is reason=exception with its type; the same process serves the next call."""
    w = spawn()
    pid = w.pid
    with pytest.raises(ExtensionFailed) as info:
        w.call("boom")
    assert (info.value.details["reason"], info.value.details["error_type"]) == ("exception", "ValueError")
    assert w.call("ping") == "pong" and pid == w.pid


def test_only_granted_environment_variables_reach_the_worker(spawn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker's environment holds the granted names (and HOME/TMPDIR), nothing else."""
    monkeypatch.setenv("SANDBOX_GRANTED", "yes")
    monkeypatch.setenv("SANDBOX_SECRET", "no")
    monkeypatch.setenv("ACME_TOKEN", "t")
    w = spawn(env_names=("SANDBOX_GRANTED", "ACME_*"))
    assert (w.call("env", "SANDBOX_GRANTED"), w.call("env", "SANDBOX_SECRET")) == ("yes", None)
    assert w.call("env_names") == ["ACME_TOKEN", "HOME", "SANDBOX_GRANTED", "TMPDIR"]


def test_the_entry_class_gets_the_hosts_init_value(world: dict[str, Any]) -> None:
    """spawn(init=...) hands a JSON value to the entry class (how an SDK adapter gets its manifest)."""
    w = world["zygote"].spawn(_policy(world), "evil:WithInit", init={"manifest": {"id": "ext-a"}})
    try:
        assert w.call("get") == {"manifest": {"id": "ext-a"}}
    finally:
        w.kill()


def test_untrusted_code_is_refused_on_a_host_without_landlock(world: dict[str, Any], spawn: Any) -> None:
    """No Landlock: spawn refuses unless the host opted out with allow_unconfined, which is then reported."""
    no_landlock = replace(CAPS, landlock_abi=0)
    with Zygote(world["audit"], capabilities=no_landlock) as zygote, pytest.raises(SandboxError):
        zygote.spawn(_policy(world), "evil:Evil")
    with Zygote(world["audit"], capabilities=no_landlock, allow_unconfined=True) as zygote:
        w = spawn(zygote=zygote)
        assert w.call("ping") == "pong"
        assert w.guarantees is not None
        assert (w.guarantees.filesystem, w.guarantees.syscalls) == ("none", "enforced")


def test_guarantees_on_this_host_are_reported_per_dimension(spawn: Any) -> None:
    """Each dimension says enforced / best_effort / none / not_requested."""
    w = spawn(memory_limit_bytes=128 * MiB, cpu_share=0.5)
    g = w.guarantees
    assert g is not None
    assert "enforced" == g.filesystem == g.syscalls == g.call_timeout == g.file_limits
    assert ("enforced" if CAPS.cgroup_memory_writable else "best_effort") == g.memory
    assert ("enforced" if CAPS.cgroup_cpu_writable else "best_effort") == g.cpu
    assert ("enforced" if CAPS.landlock_abi >= 6 else "best_effort") == g.signals


def test_a_payload_that_is_not_json_is_refused_before_sending(spawn: Any) -> None:
    """Nothing but JSON crosses to the worker; the worker is untouched."""
    w = spawn()
    with pytest.raises(TypeError):
        w.call("ping", {"not": object()})
    assert w.call("ping") == "pong"


def test_a_zygote_whose_preload_fails_is_refused_at_once(world: dict[str, Any]) -> None:
    """A broken preload list is a SandboxError from start(), and the zygote process is gone."""
    zygote = Zygote(world["audit"], preload=("json", "no_such_module_for_sandbox_tests"))
    started = time.monotonic()
    with pytest.raises(SandboxError) as info:
        zygote.start(timeout=30)
    assert "no_such_module_for_sandbox_tests" in str(info.value) and time.monotonic() - started < 10
    assert zygote._proc is not None and zygote._proc.poll() is not None, "the zygote was stopped"


# ---------------------------------------------------------------------------- the system's own ports and sockets


def _accepted_nothing(listener: socket.socket) -> bool:
    """Whether nothing reached the listener (its queue is empty right now; the worker's call has returned)."""
    listener.setblocking(False)
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def test_a_star_grant_cannot_reach_the_systems_ports(world: dict[str, Any], spawn: Any,
                                                     listeners: list[socket.socket]) -> None:
    """net.connect:*:* reaches an outside port, but neither the admin port nor an (ephemeral) actor port.

    The admin listener sits below the ephemeral range and is named to the zygote as a system port; the
    actor stand-in is bound to port 0, as Thespian binds its actors. Refusals are audited although the
    extension catches them, and the worker keeps answering.
    """
    if CAPS.landlock_abi < 4:
        pytest.skip("Landlock ABI < 4: TCP ports are not filterable on this kernel")
    admin, outside = listeners
    actor = socket.create_server(("127.0.0.1", 0))
    admin_port, actor_port = admin.getsockname()[1], actor.getsockname()[1]
    try:
        with Zygote(world["audit"], system_ports=(admin_port,)) as zygote:
            w = spawn(zygote=zygote, connect_any_port=True)
            assert w.call("try_connect", {"host": "127.0.0.1", "port": outside.getsockname()[1]}) == "connected"
            for port, listener in ((admin_port, admin), (actor_port, actor)):
                result = w.call("try_connect", {"host": "127.0.0.1", "port": port})
                assert result.startswith("refused: connect"), f"port {port}: {result}"
                assert w.call("try_connect_raw", port).startswith("refused"), f"ctypes connect to {port}"
                assert _accepted_nothing(listener), f"port {port} was reached"
                records = [r for r in read_audit(world["audit"], "ext-a")
                           if r["permission"] == "net.connect" and r["target"] == f"127.0.0.1:{port}"]
                assert records, f"no audit record for port {port}"
                if CAPS.seccomp_notify:  # the host saw both attempts, the ctypes one included
                    assert [r["source"] for r in records] == ["host", "host"], records
                    assert "system" in records[0]["message"]
            assert w.call("ping") == "pong"
            g = _guarantees(w)
            assert g.network == "enforced" and any(str(admin_port) in n for n in g.notes), g.notes
    finally:
        actor.close()


def test_a_unix_socket_of_the_system_is_out_of_reach(world: dict[str, Any], spawn: Any, tmp_path: Path) -> None:
    """The data plane's pathname UNIX sockets: socket(AF_UNIX) is refused (even with net.connect:*:*), audited."""
    path = Path(f"/tmp/symphony-sbx-test-{os.getpid()}.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    try:
        w = spawn(connect_any_port=True, read_paths=(path,), write_paths=(path,))
        result = w.call("try_connect", {"path": str(path)})
        assert result.startswith("refused"), result
        assert _accepted_nothing(server)
        record = _audited(world, "ext-a", "net.connect", "AF_UNIX")
        assert record["source"] == "host"
        assert w.call("ping") == "pong"
    finally:
        server.close()
        path.unlink()


def test_udp_to_loopback_is_refused_with_a_narrow_grant(world: dict[str, Any], spawn: Any,
                                                        listeners: list[socket.socket]) -> None:
    """A grant for one TCP port gives no UDP: the datagram never arrives; the refusal is audited by the host."""
    receiver = _listen_below_ephemeral(socket.SOCK_DGRAM)
    try:
        w = spawn(connect_ports=frozenset({listeners[0].getsockname()[1]}))
        result = w.call("try_udp", {"host": "127.0.0.1", "port": receiver.getsockname()[1]})
        assert result.startswith("refused"), result
        with pytest.raises(BlockingIOError):
            receiver.recv(64, socket.MSG_DONTWAIT)
        record = _audited(world, "ext-a", "net.connect", "SOCK_DGRAM")
        assert record["source"] == "host"
        assert w.call("ping") == "pong"
        # net.udp (allow_udp) is the explicit way to get UDP back: then the datagram arrives.
        udp = spawn("b", allow_udp=True)
        assert udp.call("try_udp", {"host": "127.0.0.1", "port": receiver.getsockname()[1]}) == "sent"
        assert receiver.recv(64, socket.MSG_DONTWAIT) == b"hello"
    finally:
        receiver.close()


# ---------------------------------------------------------------------------- file metadata

_X86_64 = os.uname().machine == "x86_64"
_SYSCALLS = {"syscall_chmod": 90, "syscall_utimensat": 280} if _X86_64 else {}
_SYSCALLS["syscall_fchmodat2"] = 452  # the same number on every architecture


def _snapshot(path: Path) -> tuple[int, int, int, int, int, dict[str, bytes]]:
    st = os.stat(path)
    xattrs = {name: os.getxattr(path, name) for name in os.listxattr(path)}
    return st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_atime_ns, xattrs


@pytest.fixture
def victim(world: dict[str, Any]) -> Iterator[Path]:
    """A copy of the interpreter in ext-a's data folder (a file it may write), mode 0755, one xattr."""
    path = world["root"] / "data_a" / "python-copy"
    shutil.copyfile(os.path.realpath(sys.executable), path)
    path.chmod(0o755)
    os.utime(path, (1_000_000, 1_000_000))
    try:
        os.setxattr(path, "user.kept", b"yes")
    except OSError as exc:
        pytest.skip(f"this file system has no user xattrs: {exc}")
    yield path
    path.unlink()


@pytest.mark.parametrize("op", ["chmod_setuid", "chmod", "fchmod", "utime", "setxattr", "removexattr", "chown",
                                *_SYSCALLS])
def test_file_metadata_cannot_be_changed_without_a_grant(world: dict[str, Any], spawn: Any, victim: Path,
                                                         op: str) -> None:
    """chmod (incl. setuid on a copy of the interpreter), fchmod, utime, xattrs, chown, raw syscall():
    refused by the kernel, the file unchanged, audited by the host although the extension caught the error."""
    before = _snapshot(victim)
    w = spawn()
    result = w.call("try_meta", {"path": str(victim), "op": op, "nr": _SYSCALLS.get(op)})
    assert result.startswith("refused"), f"{op}: {result}"
    assert _snapshot(victim) == before
    record = _audited(world, "ext-a", "fs.metadata", "python-copy")
    assert (record["source"], record["decision"]) == ("host", "denied")
    assert w.call("ping") == "pong"
    assert _guarantees(w).file_metadata == "enforced"


def test_the_fs_metadata_grant_allows_chmod_but_never_setuid(world: dict[str, Any], spawn: Any,
                                                             victim: Path) -> None:
    """With fs.metadata (allow_metadata) a plain chmod works; setting the setuid bit stays refused and audited."""
    w = spawn(allow_metadata=True)
    assert w.call("try_meta", {"path": str(victim), "op": "chmod"}) == "done"
    assert victim.stat().st_mode & 0o7777 == 0o777
    assert w.call("try_meta", {"path": str(victim), "op": "chmod_setuid"}).startswith("refused")
    assert victim.stat().st_mode & 0o7777 == 0o777
    _audited(world, "ext-a", "fs.metadata", "python-copy")
