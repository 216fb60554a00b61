"""SandboxPolicy: validated at construction, every problem reported at once, round-trips through JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from symphony_actors.domain.errors import UsageError, ValidationError
from symphony_actors.extension_host.sandbox import SandboxPolicy


def _policy(**kw: Any) -> SandboxPolicy:
    base: dict[str, Any] = {"extension_id": "acme.formatter", "extension_folder": Path("/opt/ext/acme"),
                            "data_folder": Path("/var/lib/symphony/acme")}
    base.update(kw)
    return SandboxPolicy(**base)


def _problems(**kw: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as info:
        _policy(**kw)
    return {p.path: p.message for p in info.value.problems}


def test_a_minimal_policy_denies_network_and_spawn_by_default() -> None:
    """Defaults: no ports, no spawn, 512 MiB, no CPU cap, 30 s per call, untrusted."""
    p = _policy()
    assert (p.net_granted, p.allow_spawn, p.trusted) == (False, False, False)
    assert (p.memory_limit_bytes, p.cpu_share, p.call_timeout_seconds) == (512 * 1024 * 1024, None, 30.0)


def test_string_paths_and_port_lists_are_normalised() -> None:
    """str paths become Path, port lists become frozensets; the policy is hashable and frozen."""
    p = _policy(extension_folder="/opt/ext/acme", read_paths=["/srv/models"], connect_ports=[443, 443, 8080])
    assert p.extension_folder == Path("/opt/ext/acme")
    assert p.read_paths == (Path("/srv/models"),)
    assert p.connect_ports == frozenset({443, 8080})
    assert p.net_granted
    hash(p)
    with pytest.raises(AttributeError):
        p.allow_spawn = True  # type: ignore[misc]


def test_every_problem_is_reported_at_once() -> None:
    """One ValidationError names each bad field by path."""
    problems = _problems(extension_id="../evil", data_folder="relative/data", connect_ports={0, 70000},
                         cpu_share=1.5, memory_limit_bytes=1024, call_timeout_seconds=0,
                         env_names=("OK_NAME", "BAD-NAME"), max_open_files=3, max_processes=0,
                         write_paths=("relative",))
    assert set(problems) == {"extension_id", "data_folder", "connect_ports", "cpu_share", "memory_limit_bytes",
                             "call_timeout_seconds", "env_names[1]", "max_open_files", "max_processes",
                             "write_paths[0]"}


def test_validation_error_is_a_usage_error_with_wire_problems() -> None:
    """Callers may catch ValueError; the problems travel in details."""
    with pytest.raises(ValueError) as info:
        _policy(cpu_share=0)
    err = info.value
    assert isinstance(err, UsageError)
    assert err.details["problems"][0]["path"] == "cpu_share"


@pytest.mark.parametrize("field, value", [
    ("cpu_share", float("nan")),
    ("cpu_share", True),
    ("memory_limit_bytes", 2.5e9),
    ("call_timeout_seconds", -1),
    ("cpu_time_limit_seconds", 0.5),
    ("max_file_size_bytes", -1),
    ("bind_ports", {22.5}),
    ("allow_spawn", "yes"),
    ("read_paths", "/etc"),
])
def test_bad_values_are_refused(field: str, value: Any) -> None:
    """Booleans are not numbers, NaN is not a share, a bare string is not a tuple of paths."""
    assert field in _problems(**{field: value})


def test_too_many_listed_ports_point_to_connect_any_port() -> None:
    """Landlock needs one rule per port: a huge list is refused with a hint."""
    message = _problems(connect_ports=frozenset(range(1, 5000)))["connect_ports"]
    assert "connect_any_port" in message


def test_wire_form_round_trips_through_json() -> None:
    """to_wire is JSON-friendly and from_wire rebuilds an equal policy."""
    p = _policy(read_paths=(Path("/srv/a"),), write_paths=(Path("/srv/b"),), connect_ports=frozenset({443}),
                bind_ports=frozenset({8000}), env_names=("HOME_URL",), cpu_share=0.25, allow_spawn=True)
    wire = orjson.loads(orjson.dumps(p.to_wire()))
    assert SandboxPolicy.from_wire(wire) == p


def test_unknown_wire_fields_are_refused() -> None:
    """A typo in a mapped grant is an error, not silently ignored."""
    wire = _policy().to_wire()
    wire["alow_spawn"] = True
    with pytest.raises(ValidationError) as info:
        SandboxPolicy.from_wire(wire)
    assert [p.path for p in info.value.problems] == ["alow_spawn"]
