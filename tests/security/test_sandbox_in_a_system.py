"""End to end: an extension granted ``net.connect:*:*`` in a real system cannot reach the system's admin port.

A real Thespian system (admin on a free port), the extension installed with an explicit grant list (so an
install-time confirmation switch, when it comes, changes only the ``install`` call) and loaded into its own
extension actor and sandboxed worker. The attempt is refused by the kernel, audited, and the system stays
healthy. The system is stopped at the end and nothing of it may be left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from symphony_actors.client import Client
from symphony_actors.extension_host.sandbox import probe
from symphony_actors.extension_host.service import ExtensionPortClient
from symphony_actors.runtime.system import RunningSystem, boot, session_pids
from symphony_actors.testing.trees import extensions_tree
from symphony_actors.testing.waiting import wait_for
from tests.integration.conftest import free_port

CAPS = probe()
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(CAPS.landlock_abi < 4 or not CAPS.seccomp,
                                 reason="needs Landlock ABI 4 (TCP ports) and seccomp")]
NETPROBE = Path(__file__).resolve().parents[1] / "fixtures" / "extensions" / "netprobe"
EXT = "test.netprobe"


def _admin_port_below_the_ephemeral_range() -> int:
    """A free admin port the ephemeral range does not already cover (so only the admin port's own
    exclusion can stop the probe)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(50):
        port = free_port()
        if port < low:
            return port
    pytest.skip("no free port below the ephemeral range")


@pytest.fixture
def system(tmp_path: Path) -> Iterator[tuple[RunningSystem, Client]]:
    running = boot(extensions_tree({"executors": 1}), _admin_port_below_the_ephemeral_range(), tmp_path / "data")
    client = Client(running.port, timeout=60)
    pids: set[int] = set()
    try:
        yield running, client
        pids = {p for e in ExtensionPortClient(client).loaded_extensions()
                for p in (e.get("pid"), e.get("zygote_pid")) if p}
    finally:
        client.close()
        running.stop()
    assert session_pids(running.session_id) == []
    wait_for(lambda: not any(psutil.pid_exists(p) for p in pids), timeout=10, what="worker and zygote to exit")


def test_a_star_grant_cannot_reach_the_admin_port_of_its_own_system(system: tuple[RunningSystem, Client]) -> None:
    running, client = system
    port = ExtensionPortClient(client)
    installed = port.install(str(NETPROBE), grant=["net.connect:*:*"])
    assert installed["granted"] == ["net.connect:*:*"]
    port.activate(EXT)
    reply = port.send(EXT, "process", {"inputs": {"port": running.port}})
    assert reply["result"].startswith("refused"), reply
    audit_file = running.data_dir / "extensions" / "audit.jsonl"
    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert any(r["extension"] == EXT and r["permission"] == "net.connect"
               and r["target"] == f"127.0.0.1:{running.port}" for r in records), records
    # The system is healthy: the core answers, the extension keeps working, its guarantees say why.
    assert client.call("bus", "stats") is not None
    assert port.send(EXT, "process", {"inputs": {"port": running.port}})["result"].startswith("refused")
    info = client.call("exthost", "info", extension_id=EXT)
    notes = " ".join(info["runtime"]["guarantees"]["notes"])
    assert str(running.port) in notes and info["runtime"]["guarantees"]["network"] == "enforced"
