"""Manifest grants and limits -> the worker's SandboxPolicy; the actor refuses unconfined untrusted code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import SandboxError
from symphony_actors.extension_host.actor import ExtensionActor
from symphony_actors.extension_host.policy_map import policy_for_step
from symphony_actors.extension_host.sandbox.policy import MAX_LISTED_PORTS
from symphony_actors.extension_host.service import ExtensionHost
from symphony_actors.ports.service import ServiceSettings

from .conftest import EXAMPLES


def step(granted: list[str], limits: dict[str, Any] | None = None, *, workspace: str | None = "/ws") -> dict[str, Any]:
    variables = {"extension": "/exts/me.x", "data": "/data/extensions/data/me.x", "tmp": "/tmp/symphony-ext-me.x"}
    if workspace:
        variables["workspace"] = workspace
    return {"id": "me.x", "version": "1.0.0", "type": "operator", "path": "/exts/me.x", "entry": "m:X",
            "granted": granted, "variables": variables,
            "limits": limits or {"memory_mb": 512, "cpu_share": 1.0, "timeout_s": 30}}


def test_paths_have_their_variables_substituted_and_undefined_ones_dropped() -> None:
    p = policy_for_step(step(["fs.read:${workspace}/src", "fs.read:${extension}/assets", "fs.write:${data}/out",
                              "fs.write:${tmp}", "fs.read:/usr/share/dict"]))
    assert p.read_paths == (Path("/ws/src"), Path("/exts/me.x/assets"), Path("/usr/share/dict"))
    assert p.write_paths == (Path("/data/extensions/data/me.x/out"), Path("/tmp/symphony-ext-me.x"))
    assert (p.extension_folder, p.data_folder) == (Path("/exts/me.x"), Path("/data/extensions/data/me.x"))
    no_ws = policy_for_step(step(["fs.read:${workspace}"], workspace=None))
    assert no_ws.read_paths == ()                   # no workspace open: nothing granted, not "/"


def test_net_ports_are_expanded_or_become_any_port_when_too_wide() -> None:
    p = policy_for_step(step(["net.connect:api.example.com:443", "net.connect:*.corp:8000-8002"]))
    assert p.connect_ports == frozenset({443, 8000, 8001, 8002}) and not p.connect_any_port and p.net_granted
    wide = policy_for_step(step(["net.connect:*:*"]))
    assert wide.connect_any_port and wide.connect_ports == frozenset()
    assert policy_for_step(step([f"net.connect:h:1-{MAX_LISTED_PORTS}"])).connect_ports == \
        frozenset(range(1, MAX_LISTED_PORTS + 1))
    assert not policy_for_step(step([])).net_granted


def test_spawn_env_and_limits_map_onto_the_policy() -> None:
    p = policy_for_step(step(["process.spawn", "env.read:HOME", "env.read:AWS_*"],
                             {"memory_mb": 16, "cpu_share": 0.25, "timeout_s": 2.5}))
    assert p.allow_spawn and p.env_names == ("HOME", "AWS_*")
    assert p.memory_limit_bytes == 32 * 1024 * 1024          # raised to the worker's floor
    assert (p.cpu_share, p.call_timeout_seconds) == (0.25, 2.5)
    full = policy_for_step(step([], {"memory_mb": 256, "cpu_share": 2.0, "timeout_s": 30}))
    assert full.cpu_share is None and full.memory_limit_bytes == 256 * 1024 * 1024 and not full.allow_spawn
    assert policy_for_step(step([]), extra_read=["/exts/dep"]).read_paths == (Path("/exts/dep"),)


def _actor(tmp_path: Path, **options: Any) -> ExtensionActor:
    host = ExtensionHost(ServiceSettings("exthost", tmp_path, {}))
    host.install(str(EXAMPLES / "chunk-text"))
    plan = host.plan_load("symphony.chunk-text")[0]
    host.on_stop()
    return ExtensionActor(ServiceSettings("ext:symphony.chunk-text", tmp_path, {"step": plan, **options}))


NO_LANDLOCK = {"landlock_abi": 0, "seccomp": True, "cgroup_version": 0, "cgroup_memory_writable": False,
               "cgroup_cpu_writable": False, "cgroup_pids_writable": False, "root": True}


def test_without_landlock_an_untrusted_extension_is_refused_unless_the_user_opted_out(tmp_path: Path) -> None:
    refused = _actor(tmp_path / "a", capabilities=NO_LANDLOCK)
    refused.on_start(_NullCtx())  # type: ignore[arg-type]
    try:
        assert refused.state == "failed"
        with pytest.raises(SandboxError, match=r"cannot confine"):
            refused.ready()
    finally:
        refused.on_stop()
    allowed = _actor(tmp_path / "b", capabilities=NO_LANDLOCK, allow_unconfined=True)
    allowed.on_start(_NullCtx())  # type: ignore[arg-type]
    try:
        status = allowed.ready()
        assert status["guarantees"]["filesystem"] == "none" and status["pid"]
        assert "none: filesystem" in status["guarantee_summary"]
    finally:
        allowed.on_stop()


class _NullCtx:
    def publish(self, topic: str, payload: Any = None) -> None:
        pass

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        pass
