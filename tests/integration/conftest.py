"""Real multiprocTCPBase systems for integration tests: one per test, its own port, nothing left after."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from symphony_actors.client import Client
from symphony_actors.ports.service import SupervisorSpec
from symphony_actors.runtime.system import RunningSystem, boot, session_pids


def free_port() -> int:
    """A loopback port nobody listens on (never Thespian's default 1900)."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port")


class SystemUnderTest:
    def __init__(self, system: RunningSystem) -> None:
        self.system = system
        self.port = system.port
        self.data_dir = system.data_dir
        self.client = Client(system.port, timeout=10.0)

    def pids(self) -> dict[str, int]:
        return {n["name"]: n["pid"] for n in self.client.status()["nodes"]}

    def node(self, name: str) -> dict[str, object] | None:
        return next((n for n in self.client.status()["nodes"] if n["name"] == name), None)

    def session_pids(self) -> list[int]:
        return session_pids(self.system.session_id)


@contextlib.contextmanager
def running_system(tree: SupervisorSpec, data_dir: Path,
                   timeout: float = 60.0) -> Iterator[tuple[RunningSystem, Client]]:
    """A real system and a client for a module-scoped fixture; always stopped, then checked for leftovers,
    even when the test or the rest of the teardown fails."""
    system = boot(tree, free_port(), data_dir)
    client: Client | None = None
    try:
        client = Client(system.port, timeout=timeout)
        yield system, client
    finally:
        try:
            if client is not None:
                client.close()
        finally:
            system.stop()
    left = [p for p in session_pids(system.session_id) if psutil.pid_exists(p)]
    assert left == [], f"processes left behind: {left}"


@pytest.fixture
def make_system(tmp_path: Path) -> Iterator[Callable[[SupervisorSpec], SystemUnderTest]]:
    started: list[SystemUnderTest] = []

    def make(tree: SupervisorSpec) -> SystemUnderTest:
        sut = SystemUnderTest(boot(tree, free_port(), tmp_path / f"data{len(started)}"))
        started.append(sut)
        return sut

    yield make
    for sut in started:
        sut.client.close()
        sut.system.stop()
        left = [p for p in session_pids(sut.system.session_id) if psutil.pid_exists(p)]
        assert left == [], f"processes left behind: {left}"


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    """Run `symphony ...` as a real subprocess on a private port and data dir; stops that system after."""
    port = free_port()
    env = {**os.environ, "SYMPHONY_PORT": str(port), "SYMPHONY_HOME": str(tmp_path / "home")}

    def run(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "symphony_actors.cli", *args], env=env, text=True,
                              capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)

    run.port = port  # type: ignore[attr-defined]
    run.env = env  # type: ignore[attr-defined]
    yield run
    run("stop")
