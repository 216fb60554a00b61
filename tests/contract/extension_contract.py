"""Conformance suite for ExtensionPort: any implementation must pass it.

A runner module defines a ``port`` fixture (an ExtensionPort whose ``${workspace}``
is the ``workspace`` fixture) and subclasses :class:`ExtensionPortContract`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import (
    ConflictError,
    DependencyError,
    ExtensionFailed,
    NotFoundError,
    PermissionDenied,
    UsageError,
    ValidationError,
)
from symphony_actors.ports.extension import ExtensionPort

EXAMPLES = Path(__file__).resolve().parents[2] / "extensions"

FLAKY = '''
from symphony_actors.sdk import Operator

class Flaky(Operator):
    def setup(self, ctx):
        super().setup(ctx)
        self.calls = 0

    def process(self, inputs, params):
        self.calls += 1
        if inputs.get("fail"):
            raise RuntimeError("asked to fail")
        return {"calls": self.calls}
'''


def write_flaky(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "extension.toml").write_text(
        'id = "test.flaky"\nversion = "1.0.0"\ntype = "operator"\nname = "Flaky"\n'
        'description = "Fails when asked."\nentry = "flaky:Flaky"\npermissions = ["artifact.write"]\n')
    (folder / "flaky.py").write_text(FLAKY)
    return folder


class ExtensionPortContract:
    """Behaviour every ExtensionPort shows."""

    def install_examples(self, port: ExtensionPort, *names: str) -> None:
        for name in names:
            port.install(str(EXAMPLES / name))

    def test_is_an_extension_port(self, port: ExtensionPort) -> None:
        assert isinstance(port, ExtensionPort)

    def test_install_reports_requested_and_granted_permissions(self, port: ExtensionPort) -> None:
        reply = port.install(str(EXAMPLES / "todo-finder"))
        assert (reply["id"], reply["version"]) == ("symphony.todo-finder", "1.0.0")
        assert reply["requested"] == reply["granted"] == ["bus.publish:ext.todo-finder.#"]
        assert [(e["id"], e["state"]) for e in port.list()] == [("symphony.todo-finder", "installed")]
        assert port.info("symphony.todo-finder")["granted"] == ["bus.publish:ext.todo-finder.#"]

    def test_install_refuses_duplicates_missing_dependencies_and_bad_manifests(self, port: ExtensionPort,
                                                                              tmp_path: Path) -> None:
        with pytest.raises(DependencyError, match=r"symphony.hash-embed is not installed"):
            port.install(str(EXAMPLES / "summarise"))
        self.install_examples(port, "hash-embed")
        with pytest.raises(ConflictError):
            port.install(str(EXAMPLES / "hash-embed"))
        (tmp_path / "bad").mkdir()
        (tmp_path / "bad" / "extension.toml").write_text('id = "BAD"\n')
        with pytest.raises(ValidationError):
            port.install(str(tmp_path / "bad"))
        with pytest.raises(NotFoundError):
            port.install(str(tmp_path / "nowhere"))

    def test_load_and_activate_follow_dependencies(self, port: ExtensionPort) -> None:
        self.install_examples(port, "hash-embed", "summarise")
        assert port.load("symphony.summarise")["order"] == ["symphony.hash-embed", "symphony.summarise"]
        assert {e["id"]: e["state"] for e in port.list()} == {"symphony.hash-embed": "loaded",
                                                              "symphony.summarise": "loaded"}
        reply = port.activate("symphony.summarise")
        assert reply["state"] == "active" and reply["order"][0] == "symphony.hash-embed"
        assert port.health("symphony.hash-embed")["state"] == "active"

    def test_send_runs_the_extension_and_returns_plain_data(self, port: ExtensionPort) -> None:
        self.install_examples(port, "chunk-text")
        port.activate("symphony.chunk-text")
        reply = port.send("symphony.chunk-text", "process",
                          {"inputs": {"text": "a\nb\n"}, "params": {"size": 16, "overlap": 0}})
        assert reply == {"chunks": [{"source": "text", "index": 0, "text": "a\nb\n", "start": 0, "end": 4,
                                     "start_line": 1, "end_line": 2}]}

    def test_send_refuses_what_the_extension_cannot_do(self, port: ExtensionPort) -> None:
        self.install_examples(port, "chunk-text")
        with pytest.raises(UsageError, match=r"not active"):
            port.send("symphony.chunk-text", "process", {"inputs": {"text": "x"}})
        port.activate("symphony.chunk-text")
        with pytest.raises(UsageError):
            port.send("symphony.chunk-text", "infer", {"inputs": {"text": "x"}})
        with pytest.raises(ValidationError):
            port.send("symphony.chunk-text", "process", {"inputs": {"text": 5}})
        with pytest.raises(NotFoundError):
            port.send("symphony.nothing", "process", {})

    def test_deactivate_and_unload_refuse_while_dependents_use_it(self, port: ExtensionPort) -> None:
        self.install_examples(port, "hash-embed", "summarise")
        port.activate("symphony.summarise")
        with pytest.raises(ConflictError, match=r"symphony.summarise"):
            port.deactivate("symphony.hash-embed")
        with pytest.raises(ConflictError, match=r"symphony.summarise"):
            port.unload("symphony.hash-embed")
        assert port.deactivate("symphony.summarise")["state"] == "loaded"
        assert port.deactivate("symphony.hash-embed")["state"] == "loaded"
        assert port.unload("symphony.summarise")["state"] == "installed"
        assert port.unload("symphony.hash-embed")["state"] == "installed"

    def test_broadcast_reaches_active_addons_implementing_the_hook(self, port: ExtensionPort) -> None:
        self.install_examples(port, "todo-finder", "chunk-text")
        port.activate("symphony.todo-finder")
        port.activate("symphony.chunk-text")
        reply = port.broadcast("on_buffer_changed", {"buffer_id": "b1", "text": "# TODO: x\n", "version": 1})
        assert list(reply["results"]) == ["symphony.todo-finder"] and reply["errors"] == {}
        assert reply["results"]["symphony.todo-finder"][0]["tag"] == "TODO"
        assert port.broadcast("on_buffer_saved", {"buffer_id": "b1"}) == {"results": {}, "errors": {}}

    def test_an_ungranted_access_is_denied_with_a_typed_error(self, port: ExtensionPort) -> None:
        port.install(str(EXAMPLES / "hash-embed"))
        port.install(str(EXAMPLES / "summarise"), grant=[])
        port.activate("symphony.summarise")
        with pytest.raises(PermissionDenied):
            port.send("symphony.summarise", "infer", {"inputs": {"text": "One. Two. Three."}})
        with pytest.raises(UsageError):
            port.install(str(EXAMPLES / "todo-finder"), grant=["process.spawn"])

    def test_a_failure_shows_in_health_until_restart(self, port: ExtensionPort, tmp_path: Path) -> None:
        port.install(str(write_flaky(tmp_path / "flaky")))
        port.activate("test.flaky")
        assert port.send("test.flaky", "process", {"inputs": {}}) == {"calls": 1}
        with pytest.raises(ExtensionFailed, match=r"asked to fail"):
            port.send("test.flaky", "process", {"inputs": {"fail": True}})
        health: dict[str, Any] = port.health("test.flaky")
        assert (health["healthy"], health["failures"], health["last_error"]["code"]) == \
            (False, 1, "extension_failed")
        health = port.restart("test.flaky")
        assert (health["healthy"], health["restarts"], health["state"]) == (True, 1, "active")
        assert port.send("test.flaky", "process", {"inputs": {}}) == {"calls": 1}  # a fresh instance

    def test_unknown_extensions_are_not_found(self, port: ExtensionPort) -> None:
        for call in (port.load, port.activate, port.deactivate, port.unload, port.info, port.health,
                     port.restart):
            with pytest.raises(NotFoundError):
                call("nobody.here")

    def test_a_dangerous_request_needs_explicit_consent(self, port: ExtensionPort, tmp_path: Path) -> None:
        folder = write_flaky(tmp_path / "spawner")
        manifest = folder / "extension.toml"
        manifest.write_text(manifest.read_text().replace('"artifact.write"', '"process.spawn", "artifact.write"'))
        with pytest.raises(PermissionDenied) as err:
            port.install(str(folder))
        assert err.value.details["permissions"] == ["process.spawn"]
        assert port.install(str(folder), grant=True)["granted"] == ["process.spawn", "artifact.write"]
