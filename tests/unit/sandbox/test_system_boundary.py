"""The pieces behind "a grant never reaches the system": reserved ports, the fs.metadata grant,
how refusals are named, and what the guarantees say."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from symphony_actors.domain.errors import UsageError, ValidationError
from symphony_actors.extension_host.permissions import parse_permission, sandbox_grants
from symphony_actors.extension_host.policy_map import policy_for_step
from symphony_actors.extension_host.sandbox import SandboxPolicy, _seccomp
from symphony_actors.extension_host.sandbox._levels import _Modes, guarantees_for
from symphony_actors.extension_host.sandbox._netguard import (
    allowed_ranges,
    ephemeral_range,
    is_reserved,
    merge,
    reserved_ranges,
)
from symphony_actors.extension_host.sandbox._notify import describe, socket_target

MODES = _Modes(memory=None, cpu=None, pids=False, root=True)


def _policy(**kw: object) -> SandboxPolicy:
    return SandboxPolicy("acme.x", Path("/opt/ext"), Path("/var/lib/x"), **kw)  # type: ignore[arg-type]


def test_reserved_ports_are_the_system_ports_plus_the_ephemeral_range_merged() -> None:
    reserved = reserved_ranges([19500, 19501, 40000, 0, 70000], ephemeral=(32768, 60999))
    assert reserved == ((19500, 19501), (32768, 60999))
    assert is_reserved(19501, reserved) and is_reserved(60999, reserved) and not is_reserved(19502, reserved)


def test_a_star_grant_compiles_to_every_port_but_the_reserved() -> None:
    allowed = allowed_ranges(((19500, 19500), (32768, 60999)))
    assert allowed == ((1, 19499), (19501, 32767), (61000, 65535))
    assert allowed_ranges(((1, 65535),)) == ()
    assert merge([(5, 9), (1, 3), (4, 4), (20, 30), (25, 26)]) == ((1, 9), (20, 30))


def test_the_ephemeral_range_is_read_from_the_kernel_or_defaults(tmp_path: Path) -> None:
    f = tmp_path / "range"
    f.write_text("40000\t50000\n")
    assert ephemeral_range(f) == (40000, 50000)
    f.write_text("garbage")
    assert ephemeral_range(f) == (32768, 60999)
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)


def test_fs_metadata_is_a_permission_without_target_that_maps_to_allow_metadata() -> None:
    assert str(parse_permission("fs.metadata")) == "fs.metadata"
    with pytest.raises(UsageError, match="takes no target"):
        parse_permission("fs.metadata:/tmp")
    assert sandbox_grants(["fs.metadata"]).fs_metadata and not sandbox_grants(["process.spawn"]).fs_metadata
    step = {"id": "acme.x", "path": "/opt/ext", "variables": {"data": "/var/lib/x"}, "granted": ["fs.metadata"]}
    assert policy_for_step(step).allow_metadata
    assert not policy_for_step({**step, "granted": []}).allow_metadata


def test_net_udp_is_an_explicit_grant_that_maps_to_allow_udp() -> None:
    assert str(parse_permission("net.udp")) == "net.udp"
    assert sandbox_grants(["net.udp"]).net_udp and not sandbox_grants(["net.connect:*:*"]).net_udp
    step = {"id": "acme.x", "path": "/opt/ext", "variables": {"data": "/var/lib/x"}, "granted": ["net.udp"]}
    policy = policy_for_step(step)
    assert policy.allow_udp and policy.net_granted and not policy.connect_any_port


def test_allow_metadata_must_be_a_bool() -> None:
    with pytest.raises(ValidationError) as info:
        _policy(allow_metadata="yes")
    assert [p.path for p in info.value.problems] == ["allow_metadata"]
    assert _policy(allow_metadata=True).to_wire()["allow_metadata"] is True


@pytest.mark.skipif(not _seccomp.available(), reason="libseccomp is not installed")
def test_the_metadata_grant_removes_all_but_the_setuid_rules() -> None:
    """Without the grant every metadata syscall has a rule; with it only the setuid/setgid checks remain."""
    base = {"allow_spawn": False, "allow_inet": False, "protected_pids": (1234,)}
    denied = _seccomp.compile_filter(_seccomp.SeccompSpec(**base))  # type: ignore[arg-type]
    granted = _seccomp.compile_filter(_seccomp.SeccompSpec(**base, allow_metadata=True))  # type: ignore[arg-type]
    names = _seccomp.syscall_names()
    assert {"chmod", "fchmodat2", "setxattr", "utimensat", "setxattrat"} <= set(names.values())
    assert granted != denied


def test_refused_calls_are_named_for_the_audit() -> None:
    af_unix = describe("socket", 7, (socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC, 0, 0, 0, 0))
    assert (af_unix.permission, af_unix.target) == ("net.connect", "socket(AF_UNIX, SOCK_STREAM, 0)")
    udp = describe("socket", 7, (socket.AF_INET, socket.SOCK_DGRAM, 0, 0, 0, 0))
    assert udp.target == socket_target(socket.AF_INET, socket.SOCK_DGRAM, 0) == "socket(AF_INET, SOCK_DGRAM, 0)"
    assert describe("kill", 7, (1, 9, 0, 0, 0, 0)).target == "pid 1"
    assert describe("io_uring_setup", 7, (0,) * 6).permission == "syscall"
    # a path in memory that cannot be read (pid 0 has no /proc entry): named by the syscall instead
    chmod = describe("chmod", 0, (0xDEAD, 0o4755, 0, 0, 0, 0))
    assert (chmod.permission, chmod.target) == ("fs.metadata", "chmod(0xdead)")


def test_guarantees_name_the_reserved_ports_and_the_audit_level() -> None:
    applied = {"landlock_abi": 7, "seccomp_instructions": 1, "seccomp_notify": True,
               "reserved_ports": [[19500, 19500], [32768, 60999]], "system_ports": [19500]}
    g = guarantees_for(_policy(connect_any_port=True), MODES, applied)
    assert (g.network, g.file_metadata, g.audit) == ("enforced", "enforced", "best_effort")
    assert any("19500, 32768-60999" in n for n in g.notes)
    assert "file_metadata" in g.to_wire() and "audit" in g.to_wire()
    old_kernel = guarantees_for(_policy(connect_any_port=True), MODES, {**applied, "landlock_abi": 3})
    assert old_kernel.network == "none" and any("reachable" in n for n in old_kernel.notes)
    unnamed = guarantees_for(_policy(connect_ports=frozenset({443})), MODES, {**applied, "system_ports": []})
    assert any("only the kernel's ephemeral range" in n for n in unnamed.notes)
    no_seccomp = guarantees_for(_policy(), MODES, {"landlock_abi": 7, "seccomp_instructions": 0})
    assert (no_seccomp.file_metadata, no_seccomp.audit) == ("none", "none")
