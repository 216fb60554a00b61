"""Attacks on the sockets of a real running system: nothing is unpickled without the system's key.

Every listening TCP port of the system's processes (found with psutil from its session: the Thespian
admin, its logger, every actor) and every data-plane socket gets the classic pickle whose ``__reduce__``
calls ``os.system``, framed as Thespian (``b"%d>" % len + pickle``) or as the data plane (4-byte length
+ pickle). The attack runs as a second local user (root only) and as the same user without the key.
Nothing may run (the marker file stays absent), the system stays healthy, every refusal is counted in
``status`` and logged in ``<data>/logs/security.log``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from symphony_actors.client import Client
from symphony_actors.domain.errors import AuthenticationError, UnsafePathError
from symphony_actors.runtime import auth
from symphony_actors.runtime.direct import socket_dir
from symphony_actors.runtime.system import RunningSystem, boot, session_pids
from symphony_actors.testing.trees import echo, flat_tree
from tests.integration.conftest import free_port, running_system
from tests.security.conftest import LocalUser

REJECTED = b"22>SYMPHONY-AUTH-REJECTED"

#: Standard library only: it runs with /usr/bin/python3 as another user, or with no key as this one.
ATTACK = textwrap.dedent('''
    import json, os, pickle, socket, struct, sys

    marker, ports, paths = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])

    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + marker,))

    body = pickle.dumps(Boom())
    out = {}
    for port in ports:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(b"%d>" % len(body) + body)
                got = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                out[str(port)] = got.decode("latin-1")
        except OSError as exc:
            out[str(port)] = "error: %s" % exc
    for path in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(path)
        except PermissionError:
            out[path] = "EACCES"
            continue
        except OSError as exc:
            out[path] = "error: %s" % exc
            continue
        try:
            s.sendall(struct.pack(">I", len(body)) + body)
            out[path] = "closed" if s.recv(4096) == b"" else "answered"
        except OSError as exc:
            out[path] = "closed: %s" % exc
        finally:
            s.close()
    print(json.dumps(out))
''')


def listening_ports(pids: list[int]) -> dict[int, int]:
    """port -> pid for every TCP socket listening in one of ``pids``."""
    out = {}
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        out.update({c.laddr.port: pid for c in conns if c.status == psutil.CONN_LISTEN})
    return out


def data_plane_sockets(port: int) -> list[str]:
    return sorted(str(p) for p in socket_dir(port).glob("*.sock"))


def security_log(system: RunningSystem) -> list[dict[str, object]]:
    path = system.data_dir / "logs" / "security.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSystem, Client]]:
    tree = flat_tree(echo("a"), echo("b"))
    with running_system(tree, tmp_path_factory.mktemp("auth") / "data") as (system, client):
        yield system, client


def _system_ports(system: RunningSystem) -> dict[int, int]:
    ports = listening_ports(session_pids(system.session_id))
    # The admin inherits the listening socket of the process that started it (this one): only this
    # process accepts on it, so it is attacked in the client-endpoint test, while this process listens.
    for port in listening_ports([os.getpid()]):
        ports.pop(port, None)
    # The admin, its logger and at least the bus, a and b (each actor listens on its own port).
    assert len(ports) >= 5, ports
    assert system.port in ports
    return ports


def _check_after(system: RunningSystem, client: Client, before: dict[str, object], rejected: int,
                 log_before: int, pids_before: dict[str, int]) -> None:
    st = client.status()
    assert st["healthy"], st
    assert {n["name"]: n["pid"] for n in st["nodes"]} == pids_before  # nothing crashed or restarted
    assert client.call("a", "echo", value="still here") == "still here"
    assert st["auth_rejected"] == int(before["auth_rejected"]) + rejected, (before, st)
    entries = security_log(system)[log_before:]
    assert len(entries) == rejected
    assert all(e["event"] == "auth_rejected" and e["reason"] for e in entries)


def test_another_local_user_runs_nothing_on_any_port(target: tuple[RunningSystem, Client],
                                                     other_user: LocalUser) -> None:
    system, client = target
    ports = _system_ports(system)
    paths = data_plane_sockets(system.port)
    assert paths, "the data plane has no sockets to attack"
    marker = other_user.home / "pwned"
    before, log_before = client.status(), len(security_log(system))
    pids = {n["name"]: n["pid"] for n in before["nodes"]}
    done = other_user.run(ATTACK, str(marker), json.dumps(sorted(ports)), json.dumps(paths))
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert not marker.exists(), f"the attack ran a command as the system's user: {answers}"
    # Every TCP port answered with the plain refusal and hung up; no pickle came back.
    assert {p: answers[str(p)] for p in ports} == {p: REJECTED.decode() for p in ports}
    # The data plane's directory is 0700: another user cannot even connect.
    assert {p: answers[p] for p in paths} == {p: "EACCES" for p in paths}
    _check_after(system, client, before, len(ports), log_before, pids)


def test_the_same_user_without_the_key_is_refused_everywhere(target: tuple[RunningSystem, Client],
                                                             tmp_path: Path) -> None:
    system, client = target
    ports = _system_ports(system)
    paths = data_plane_sockets(system.port)
    marker = tmp_path / "pwned"
    before, log_before = client.status(), len(security_log(system))
    pids = {n["name"]: n["pid"] for n in before["nodes"]}
    done = subprocess.run([sys.executable, "-I", "-c", ATTACK, str(marker), json.dumps(sorted(ports)),
                           json.dumps(paths)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert not marker.exists(), f"the attack ran a command: {answers}"
    assert {p: answers[str(p)] for p in ports} == {p: REJECTED.decode() for p in ports}
    assert {p: answers[p] for p in paths} == {p: "closed" for p in paths}  # reached, refused, hung up
    _check_after(system, client, before, len(ports) + len(paths), log_before, pids)


def test_a_client_endpoint_refuses_unsealed_frames(target: tuple[RunningSystem, Client], tmp_path: Path) -> None:
    """A client also listens (Thespian replies to it); that port is as closed as the system's."""
    system, client = target
    mine = set(listening_ports([os.getpid()]))
    assert mine, "this client has no listening endpoint"
    marker = tmp_path / "pwned"
    local_before = auth.rejected_count()
    attacker = subprocess.Popen([sys.executable, "-I", "-c", ATTACK, str(marker), json.dumps(sorted(mine)), "[]"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while attacker.poll() is None and time.monotonic() < deadline:
            client.status()  # each transport of this process reads (and refuses) the attack while it waits
            system.status()
    finally:
        out, err = attacker.communicate(timeout=30)
    assert attacker.returncode == 0, err
    answers = json.loads(out)
    assert not marker.exists()
    assert all(a == REJECTED.decode() for a in answers.values()), answers
    assert auth.rejected_count() >= local_before + 1


def test_a_client_with_the_wrong_key_gets_a_clear_error(target: tuple[RunningSystem, Client],
                                                        tmp_path: Path) -> None:
    system, _client = target
    other = tmp_path / "other-data"
    other.mkdir()
    auth.create_or_load_key(other)
    with pytest.raises(AuthenticationError, match=str(auth.key_path(other))):
        Client(system.port, timeout=5, data_dir=other)
    with pytest.raises(AuthenticationError, match=r"no system key at .*system\.key"):
        Client(system.port, timeout=5, data_dir=tmp_path / "empty")


def test_a_client_finds_the_key_of_a_system_it_did_not_start(target: tuple[RunningSystem, Client]) -> None:
    """The CLI's case: a fresh process knows only the port (the system recorded its data directory)."""
    system, _client = target
    code = (f"from symphony_actors.client import Client\n"
            f"c = Client({system.port}, timeout=10)\nprint(c.status()['healthy'])\nc.close()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "SYMPHONY_HOME": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


# --------------------------------------------------------------------------- planted socket directories

@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh sticky, world-writable temp root (like /tmp) for the socket directories of one test."""
    root = Path(tempfile.mkdtemp(prefix="symtmp-"))
    root.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    try:
        yield root
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", str(root)], check=False)


def test_start_refuses_a_socket_directory_planted_by_another_user(private_tmp: Path, other_user: LocalUser,
                                                                  tmp_path: Path) -> None:
    planted = private_tmp / f"symphony-{os.getuid()}"
    made = other_user.run(f"import os; os.mkdir({str(planted)!r}, 0o777)")
    assert made.returncode == 0, made.stderr
    with pytest.raises(UnsafePathError, match="is owned by"):
        boot(flat_tree(echo("a")), free_port(), tmp_path / "data")


def test_connect_refuses_a_socket_directory_planted_by_another_user(private_tmp: Path, other_user: LocalUser,
                                                                    target: tuple[RunningSystem, Client]) -> None:
    system, _client = target
    planted = private_tmp / f"symphony-{os.getuid()}"
    made = other_user.run(f"import os; os.mkdir({str(planted)!r}, 0o755); os.mkdir({str(planted)!r} + "
                          f"'/{system.port}', 0o755)")
    assert made.returncode == 0, made.stderr
    with pytest.raises(UnsafePathError, match=f"{planted}.*is owned by"):
        Client(system.port, timeout=5, data_dir=system.data_dir)


def test_start_refuses_a_socket_directory_others_can_write(private_tmp: Path, tmp_path: Path) -> None:
    planted = private_tmp / f"symphony-{os.getuid()}"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(UnsafePathError, match="other users can write into it"):
        boot(flat_tree(echo("a")), free_port(), tmp_path / "data")


def test_start_refuses_a_symlinked_socket_directory(private_tmp: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (private_tmp / f"symphony-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        boot(flat_tree(echo("a")), free_port(), tmp_path / "data")
