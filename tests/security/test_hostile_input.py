"""Private data, workflows as data, install consent and hostile input, attacked for real (issue 13, part 3).

One real system (the production tree) runs for the module, on a data directory that starts out
group/world-readable and holds a tampered checkpoint; the tests attack it through its client and
the ``symphony`` command, and check what a second local user can read.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.bootstrap import default_tree
from symphony_actors.client import Client
from symphony_actors.domain.errors import ConfigError, PermissionDenied, UsageError, ValidationError
from symphony_actors.domain.text import Position
from symphony_actors.domain.workflow import Workflow, dumps_binary, dumps_json
from symphony_actors.extension_host.manifest import load_manifest
from symphony_actors.extension_host.service import ExtensionHostClient
from symphony_actors.pit.dag.store import DagStore
from symphony_actors.runtime.system import RunningSystem
from tests.security.conftest import LocalUser

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DISALLOWED = "disallowed_callable"  # symphony_actors.domain.callables.DISALLOWED
GOOD = 'id = "test.{name}"\nversion = "1.0.0"\ntype = "operator"\nname = "x"\ndescription = "d"\nentry = "m:E"\n'


@dataclass
class World:
    system: RunningSystem
    client: Client
    root: Path          # world-traversable parent of the data directory
    data: Path
    marker: Path        # os:system would create it
    tampered_run: str


def shell_workflow(marker: Path, name: str = "pwn") -> Workflow:
    return (Workflow.build(name)
            .operator("cmd", "builtin.const", params={"value": f"touch {marker}"}, outputs={"out": "string"})
            .operator("shell", "builtin.call", params={"callable": "os:system"}, inputs={"command": "string"})
            .connect("cmd", "shell.command").build(validate=False))


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    from tests.integration.conftest import running_system

    root = Path(tempfile.mkdtemp(prefix="symphony-hostile-"))
    root.chmod(0o755)  # so that a second user could reach the data directory if it were open
    data = root / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    (data / "notes.txt").write_text("left by an earlier version")
    (data / "notes.txt").chmod(0o644)
    marker = root / "pwned-at-resume"
    # A checkpoint tampered with (or written before the allow-list was tightened): resumed at start, never
    # re-validated, so only the operator's own check stands between it and a shell.
    store = DagStore(data / "dag" / "runs.sqlite")
    store.create_run("run-tampered", "pwn", dumps_binary(shell_workflow(marker)), {}, status="running")
    store.close()
    for p in (data / "dag", *(data / "dag").iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    try:
        with running_system(default_tree({"dag": {"executors": 1}}), data) as (system, client):
            yield World(system, client, root, data, marker, "run-tampered")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def loose_entries(top: Path) -> list[str]:
    out = []
    for dirpath, dirs, files in os.walk(top):
        for name in [".", *dirs, *files]:
            p = Path(dirpath) / name if name != "." else Path(dirpath)
            mode = p.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & 0o077:
                out.append(f"{p.relative_to(top)} {stat.S_IMODE(mode):04o}")
    return out


def symphony(*args: str, home: Path, stdin: Any = subprocess.DEVNULL,
             extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYMPHONY_HOME": str(home), **(extra_env or {})}
    env.pop("SYMPHONY_ALLOWED_CALLABLES", None)
    return subprocess.run([sys.executable, "-m", "symphony_actors.cli", *args], env=env, text=True,
                          capture_output=True, timeout=120, stdin=stdin, cwd=str(REPO))


def network_extension(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "extension.toml").write_text(GOOD.format(name="net") + 'permissions = ["net.connect:*:*", '
                                           '"artifact.read"]\n')
    (folder / "m.py").write_text("class E:\n    pass\n")
    return folder


# ----------------------------------------------------------------------------- the data directory


def test_the_data_dir_and_everything_a_running_system_wrote_are_private(world: World) -> None:
    """After a workflow, an install, a search and an edit, no directory or file is open to group/others."""
    run = world.client.run_workflow(Workflow.build("ok").operator("a", "builtin.const", params={"value": 41})
                                    .operator("b", "builtin.hash", params={"rounds": 3}).after("a", "b").build())
    assert run.wait(60)["status"] == "succeeded"
    exthost = ExtensionHostClient(world.client)
    exthost.install(str(REPO / "extensions" / "hash-embed"))
    assert exthost.search("hash")
    world.client.call("editor", "create_buffer", text="x")
    written = {p.relative_to(world.data).parts[0] for p in world.data.rglob("*")}
    assert {"dag", "extensions", "editor", "notes.txt"} <= written
    assert loose_entries(world.data) == []


def test_symphony_start_writes_its_logs_and_run_files_privately(tmp_path: Path) -> None:
    """The launcher, its log and run file, and the system it starts, all from `symphony start`."""
    from tests.integration.conftest import free_port

    home, port = tmp_path / "home", {"SYMPHONY_PORT": str(free_port())}
    try:
        started = symphony("start", home=home, extra_env=port)
        assert started.returncode == 0, started.stderr
    finally:
        stopped = symphony("stop", home=home, extra_env=port)
    assert stopped.returncode == 0, stopped.stderr
    assert {"logs", "run"} <= {p.name for p in home.iterdir()}
    assert loose_entries(home) == []


def test_another_local_user_reads_nothing_in_the_data_dir(world: World, other_user: LocalUser) -> None:
    """A second user on the host cannot list the data directory or open the run database."""
    attack = textwrap.dedent("""
        import os, sys
        for what, fn in (("list", lambda: os.listdir(sys.argv[1])),
                         ("read", lambda: open(sys.argv[1] + "/dag/runs.sqlite", "rb").read(16))):
            try:
                fn()
                print(what, "OPEN")
            except PermissionError:
                print(what, "denied")
    """)
    out = other_user.run(attack, str(world.data))
    assert out.stdout.split() == ["list", "denied", "read", "denied"], out.stderr


def test_a_data_dir_owned_by_another_user_is_refused(tmp_path: Path, other_user: LocalUser) -> None:
    from symphony_actors.config import ensure_private_dir

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, other_user.uid, other_user.gid)
    with pytest.raises(ConfigError, match=r"belongs to uid \d+, not to you"):
        ensure_private_dir(foreign)


# ----------------------------------------------------------------------------- workflows are data


def test_validate_reports_os_system_as_a_problem_of_its_node(world: World, tmp_path: Path) -> None:
    from symphony_actors.domain.callables import check_callables

    wf = shell_workflow(world.marker)
    problems = check_callables(wf)
    assert [(p.path, p.kind) for p in problems] == [("nodes[1].params.callable", DISALLOWED)]
    assert "'os:system'" in problems[0].message and "'shell'" in problems[0].message
    path = tmp_path / "pwn.json"
    path.write_bytes(dumps_json(wf))
    out = symphony("validate", str(path), home=tmp_path / "home")
    assert out.returncode == 1 and "nodes[1].params.callable" in out.stdout and "os:system" in out.stdout


def test_a_real_system_refuses_to_run_os_system_and_nothing_runs(world: World) -> None:
    marker = world.root / "pwned-by-submit"
    with pytest.raises(ValidationError) as err:
        world.client.run_workflow(shell_workflow(marker))
    assert any(p.path == "nodes[1].params.callable" and p.kind == DISALLOWED for p in err.value.problems)
    assert not marker.exists()


def test_a_resumed_checkpoint_calling_os_system_fails_in_the_executor(world: World) -> None:
    """The tampered run resumed at start: its builtin.call node fails with PermissionDenied, no shell ran."""
    snap = world.client.run(world.tampered_run).wait(60)
    assert snap["status"] == "failed"
    node = world.client.run(world.tampered_run).status(nodes=True)["nodes"]["shell"]
    assert node["status"] == "failed" and node["error"]["code"] == "permission_denied"
    assert "os:system" in node["error"]["message"]
    assert not world.marker.exists()


# ----------------------------------------------------------------------------- installing extensions


def test_the_client_installs_a_network_extension_only_with_grant_true(world: World, tmp_path: Path) -> None:
    folder = network_extension(tmp_path / "net")
    exthost = ExtensionHostClient(world.client)
    with pytest.raises(PermissionDenied) as err:
        exthost.install(str(folder))
    assert err.value.details["permissions"] == ["net.connect:*:*"] and "net.connect:*:*" in str(err.value)
    assert "test.net" not in {e["id"] for e in exthost.list()}
    info = exthost.install(str(folder), grant=True)
    assert info["granted"] == ["net.connect:*:*", "artifact.read"]


def test_the_cli_refuses_without_a_tty_and_installs_with_yes(tmp_path: Path) -> None:
    folder = network_extension(tmp_path / "net")
    home = tmp_path / "home"
    refused = symphony("ext", "install", str(folder), home=home)
    assert refused.returncode != 0
    assert "net.connect:*:*" in refused.stderr and "--yes" in refused.stderr
    assert "test.net" not in symphony("ext", "list", home=home).stdout
    ok = symphony("ext", "install", str(folder), "--yes", home=home)
    assert ok.returncode == 0, ok.stderr
    assert "net.connect:*:* (network access)" in ok.stdout
    assert loose_entries(home) == []  # the CLI's own writes (registry, its WAL files) are private too


def test_the_cli_asks_on_a_terminal_and_a_no_installs_nothing(tmp_path: Path) -> None:
    import pty

    folder = network_extension(tmp_path / "net")
    home = tmp_path / "home"
    for answer, installed in ((b"n\n", False), (b"y\n", True)):
        leader, follower = pty.openpty()
        try:
            env = {**os.environ, "SYMPHONY_HOME": str(home)}
            proc = subprocess.Popen([sys.executable, "-m", "symphony_actors.cli", "ext", "install", str(folder)],
                                    stdin=follower, stdout=follower, stderr=follower, env=env, cwd=str(REPO))
            seen = _read_until(leader, b"[y/N]", deadline=time.monotonic() + 60)
            assert b"net.connect:*:* (network access)" in seen
            os.write(leader, answer)
            assert proc.wait(timeout=60) == (0 if installed else 1)
        finally:
            os.close(leader)
            os.close(follower)
        listed = symphony("ext", "list", home=home).stdout
        assert ("test.net" in listed) is installed


def _read_until(fd: int, token: bytes, deadline: float) -> bytes:
    import select

    seen = b""
    while token not in seen:
        assert time.monotonic() < deadline, f"no prompt; output so far: {seen!r}"
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            seen += os.read(fd, 4096)
    return seen


# ----------------------------------------------------------------------------- hostile manifests


def hostile_folders(base: Path) -> dict[str, Path]:
    good = GOOD.format(name="hostile")
    bodies = {
        "deep": good + "keywords = " + "[" * 5000 + "]" * 5000 + "\n",
        "bigint": good + "[limits]\nmemory_mb = " + "9" * 5000 + "\n",
        "huge": good + "# " + "x" * (2 * 1024 * 1024) + "\n",
    }
    out = {}
    for name, body in bodies.items():
        out[name] = base / name
        out[name].mkdir(parents=True)
        (out[name] / "extension.toml").write_text(body)
        (out[name] / "m.py").write_text("class E: pass\n")
    out["garbage"] = base / "garbage"
    out["garbage"].mkdir()
    (out["garbage"] / "extension.toml").write_bytes(bytes(range(256)) * 64)
    (out["garbage"] / "m.py").write_text("class E: pass\n")
    return out


def test_hostile_manifests_give_typed_errors(tmp_path: Path) -> None:
    for name, folder in hostile_folders(tmp_path).items():
        with pytest.raises(ValidationError) as err:
            load_manifest(folder)
        assert err.value.problems[0].path == "extension.toml", name


def test_exthost_answers_hostile_packages_with_typed_errors_and_stays_up(world: World, tmp_path: Path) -> None:
    def exthost_pid() -> int:
        return next(n["pid"] for n in world.client.status()["nodes"] if n["name"] == "exthost")

    before = exthost_pid()
    folders = hostile_folders(tmp_path)
    garbage_zip = tmp_path / "garbage.zip"
    garbage_zip.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 16)
    for name, path in [*folders.items(), ("garbage.zip", garbage_zip), ("nul", Path("/tmp/a\0b"))]:
        with pytest.raises(UsageError):  # ValidationError / ProtocolError / UsageError: all "fix the input"
            world.client.call("exthost", "install", path=str(path))
        assert exthost_pid() == before, f"exthost restarted after {name}"
    assert isinstance(world.client.call("exthost", "list"), list)


# ----------------------------------------------------------------------------- the editor


def test_the_editor_refuses_a_fifo_a_device_and_a_directory_and_keeps_its_buffers(world: World,
                                                                                    tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    info = world.client.call("editor", "create_buffer", text="keep")
    world.client.call("editor", "insert", buffer_id=info.buffer_id, position=Position(0, 4), text=" me")
    status = world.client.call("editor", "status")
    for path, why in ((fifo, "FIFO"), (Path("/dev/urandom"), "character device"), (tmp_path, "directory")):
        with pytest.raises(UsageError, match=why):
            world.client.call("editor", "open_buffer", path=str(path), timeout=5.0)
    after = world.client.call("editor", "status")
    assert (after["pid"], after["restarts"]) == (status["pid"], status["restarts"])
    assert world.client.call("editor", "content", buffer_id=info.buffer_id) == "keep me"


def test_the_editor_refuses_a_file_over_its_size_limit(world: World, tmp_path: Path) -> None:
    from symphony_actors.editor.buffer import MAX_FILE_BYTES

    big = tmp_path / "big.txt"
    with big.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk used
    with pytest.raises(UsageError, match=r"at most \d+ bytes"):
        world.client.call("editor", "open_buffer", path=str(big), timeout=5.0)
