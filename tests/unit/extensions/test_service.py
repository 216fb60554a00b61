"""The ExtensionHost service hosted in LocalRuntime and called through its client, as the runtime will."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony_actors.domain.errors import ConflictError, NotFoundError, PermissionDenied, UsageError
from symphony_actors.extension_host.service import ExtensionHost, ExtensionHostClient
from symphony_actors.testing import LocalRuntime
from tests.unit.extensions.conftest import EXAMPLES


@pytest.fixture
def runtime(data_dir: Path, tmp_path: Path) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(data_dir)
    rt.start("exthost", "symphony_actors.extension_host.service:build", workspace=str(tmp_path))
    yield rt
    rt.close()


@pytest.fixture
def client(runtime: LocalRuntime) -> ExtensionHostClient:
    return ExtensionHostClient(runtime)


def test_install_list_info_remove_through_the_client(client: ExtensionHostClient, runtime: LocalRuntime) -> None:
    reply = client.install(str(EXAMPLES / "read-files"))
    assert reply["requested"] == ["fs.read:${workspace}"] and reply["denied"] == []
    assert [e["id"] for e in client.list()] == ["symphony.read-files"]
    assert client.info("symphony.read-files")["dependents"] == []
    assert client.remove("symphony.read-files")["id"] == "symphony.read-files"
    assert client.list() == []
    assert [e.topic for e in runtime.events_matching("extensions.#")] == ["extensions.installed",
                                                                          "extensions.removed"]


def test_enable_disable_resolve_and_plan(client: ExtensionHostClient, tmp_path: Path) -> None:
    client.install(str(EXAMPLES / "hash-embed"))
    client.install(str(EXAMPLES / "summarise"))
    assert [s["id"] for s in client.resolve("symphony.summarise")] == ["symphony.hash-embed", "symphony.summarise"]
    plan = client.plan_load("symphony.summarise")
    assert [s["id"] for s in plan] == ["symphony.hash-embed", "symphony.summarise"]
    assert plan[1]["granted"] == ["model.use:symphony.hash-embed"]
    assert plan[1]["variables"]["workspace"] == str(tmp_path.resolve())
    with pytest.raises(ConflictError):
        client.disable("symphony.hash-embed")
    assert client.disable("symphony.summarise")["enabled"] is False
    assert client.list(enabled_only=True) == [client.list()[0]]
    assert client.enable("symphony.summarise")["enabled"] is True


def test_check_access_denies_audits_and_the_error_keeps_its_type(client: ExtensionHostClient,
                                                                  data_dir: Path) -> None:
    client.install(str(EXAMPLES / "todo-finder"))
    assert client.check_access("symphony.todo-finder", "bus.publish", "ext.todo-finder.found") is True
    with pytest.raises(PermissionDenied):
        client.check_access("symphony.todo-finder", "bus.publish", "run.r1.cancel")
    with pytest.raises(PermissionDenied):
        client.check_access("symphony.todo-finder", "artifact.read", "art-1")
    with pytest.raises(UsageError, match=r"unknown permission kind"):
        client.check_access("symphony.todo-finder", "root", None)
    records = client.audit("symphony.todo-finder")
    assert [(r["permission"], r["target"]) for r in records] == [("bus.publish", "run.r1.cancel"),
                                                                 ("artifact.read", "art-1")]
    assert (data_dir / "extensions" / "audit.jsonl").read_text().count("\n") == 2
    assert client.audit(limit=1) == records[-1:]


def test_grant_and_revoke_change_what_is_allowed(client: ExtensionHostClient) -> None:
    client.install(str(EXAMPLES / "todo-finder"), grant=[])
    with pytest.raises(PermissionDenied):
        client.check_access("symphony.todo-finder", "bus.publish", "ext.todo-finder.found")
    client.grant("symphony.todo-finder", ["bus.publish:ext.todo-finder.#"])
    assert client.check_access("symphony.todo-finder", "bus.publish", "ext.todo-finder.found")
    client.revoke("symphony.todo-finder", ["bus.publish:ext.todo-finder.#"])
    assert client.info("symphony.todo-finder")["granted"] == []


def test_search_follows_installs_and_filters(client: ExtensionHostClient) -> None:
    assert client.search("chunk") == []
    for name in ("chunk-text", "summarise", "hash-embed", "todo-finder", "read-files"):
        if name == "summarise":
            continue
        client.install(str(EXAMPLES / name))
    client.install(str(EXAMPLES / "summarise"))
    assert client.search("chunk")[0]["id"] == "symphony.chunk-text"
    assert client.search("sumarise")[0]["id"] == "symphony.summarise"  # typo
    assert client.search("embed", type="instrument")[0]["id"] == "symphony.hash-embed"
    assert [h["id"] for h in client.search("", permission="fs.read")] == ["symphony.read-files"]
    client.remove("symphony.chunk-text")
    assert all(h["id"] != "symphony.chunk-text" for h in client.search("chunk"))
    with pytest.raises(UsageError):
        client.search("x", type="plugin")


def test_unknown_ids_are_not_found(client: ExtensionHostClient) -> None:
    with pytest.raises(NotFoundError):
        client.info("nobody.here")


def test_the_host_works_without_a_runtime(data_dir: Path) -> None:
    from symphony_actors.ports.service import ServiceSettings

    host = ExtensionHost(ServiceSettings("extensions", data_dir, {"search_engine": "sqlite"}))
    host.install(str(EXAMPLES / "py-metrics"))
    assert host.search("complexity")[0]["id"] == "symphony.py-metrics"
    host.on_stop()


def test_node_types_lists_what_enabled_extensions_contribute(client: ExtensionHostClient) -> None:
    for name in ("read-files", "chunk-text", "todo-finder"):
        client.install(str(EXAMPLES / name))
    nodes = {(n["extension"], n["node"]): n for n in client.node_types()}
    assert set(nodes) == {("symphony.read-files", "read-files"), ("symphony.chunk-text", "chunk")}
    assert [p["name"] for p in nodes[("symphony.chunk-text", "chunk")]["inputs"]] == ["text", "files"]
    assert nodes[("symphony.chunk-text", "chunk")]["params"]["properties"]["size"]["default"] == 1000
    client.disable("symphony.chunk-text")
    assert [n["node"] for n in client.node_types()] == ["read-files"]
