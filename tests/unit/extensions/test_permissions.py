"""Permission grammar, matching, grants, the access guard and its JSONL audit log, sandbox view."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from symphony_actors.domain.errors import PermissionDenied, UsageError, ValidationError
from symphony_actors.extension_host.permissions import (
    AccessGuard,
    AuditLog,
    GrantSet,
    Permission,
    parse_permission,
    parse_permissions,
    sandbox_grants,
)


@pytest.mark.parametrize("text,kind,target", [
    ("fs.read:/data/in", "fs.read", "/data/in"),
    ("fs.read:/data/in/", "fs.read", "/data/in"),
    ("fs.write:${data}/cache", "fs.write", "${data}/cache"),
    ("fs.read:${workspace}", "fs.read", "${workspace}"),
    ("net.connect:API.example.com:443", "net.connect", "api.example.com:443"),
    ("net.connect:*.example.com:8000-8100", "net.connect", "*.example.com:8000-8100"),
    ("net.connect:127.0.0.1:*", "net.connect", "127.0.0.1:*"),
    ("net.connect:[::1]:80", "net.connect", "[::1]:80"),
    ("process.spawn", "process.spawn", None),
    ("env.read:HOME", "env.read", "HOME"),
    ("env.read:SYMPHONY_*", "env.read", "SYMPHONY_*"),
    ("bus.publish:ext.me.#", "bus.publish", "ext.me.#"),
    ("bus.subscribe:run.*.node.#", "bus.subscribe", "run.*.node.#"),
    ("artifact.read", "artifact.read", None),
    ("artifact.write", "artifact.write", None),
    ("model.use:symphony.summarise", "model.use", "symphony.summarise"),
    ("model.use:gpt-*", "model.use", "gpt-*"),
])
def test_the_grammar_parses_and_normalises(text: str, kind: str, target: str | None) -> None:
    p = parse_permission(text)
    assert (p.kind, p.target) == (kind, target)
    assert parse_permission(str(p)) == p


@pytest.mark.parametrize("text,why", [
    ("fs.read", "needs a target"), ("fs.read:relative/path", "relative"), ("fs.read:/a/../etc", "'..'"),
    ("fs.read:${home}/x", "starts with"), ("fs.read:/a/*.txt", "wildcards"), ("fs.read:/a\\b", "backslash"),
    ("net.connect:host", "must be <host>:<port>"),
    ("net.connect:host:0", "1-65535"),
    ("net.connect:host:99999", "1-65535"), ("net.connect:host:12x", "N, N-M"),
    ("net.connect:host:90-80", "low <= high"),
    ("net.connect:bad_host!:80", "not a host name"), ("net.connect:[::zz]:80", "IPv6"),
    ("process.spawn:/bin/sh", "takes no target"), ("artifact.read:x", "takes no target"),
    ("env.read:1BAD", "environment variable"), ("env.read:A-B", "environment variable"),
    ("bus.publish:a..b", "empty segment"), ("bus.publish:a.#.b", "last segment"),
    ("bus.publish:a b", "no spaces"), ("model.use:bad model", "model name"),
    ("fs.delete:/x", "unknown permission kind"), ("", "1-512"), ("x" * 600, "1-512"),
    ("bus.publish:a\nb", "control characters"),
])
def test_bad_permissions_say_why(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why.replace("(", r"\(").replace("*", r"\*")):
        parse_permission(text)


def test_non_strings_are_refused() -> None:
    with pytest.raises(UsageError, match=r"must be a string"):
        parse_permission(["fs.read"])


def test_parse_permissions_reports_each_bad_one_with_its_index() -> None:
    with pytest.raises(ValidationError) as info:
        parse_permissions(["artifact.read", "nope", "artifact.read"])
    assert [p.path for p in info.value.problems] == ["permissions[1]", "permissions[2]"]


def test_bus_grants_cover_topics_and_narrower_patterns() -> None:
    g = GrantSet("p.x", ["bus.publish:ext.x.#", "bus.subscribe:run.*.done"])
    assert g.allows("bus.publish", "ext.x.found")
    assert g.allows("bus.publish", "ext.x.a.b.c")
    assert not g.allows("bus.publish", "ext.y.found")
    assert g.allows("bus.subscribe", "run.r1.done")
    assert g.allows("bus.subscribe", "run.*.done")
    assert not g.allows("bus.subscribe", "run.#")
    assert not g.allows("bus.subscribe", "run.*.*")


def test_file_grants_cover_their_subtree_only(tmp_path: Path) -> None:
    inside = tmp_path / "ws" / "src"
    inside.mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    g = GrantSet("p.x", ["fs.read:${workspace}"], {"workspace": str(tmp_path / "ws")})
    assert g.allows("fs.read", str(inside / "a.py"))
    assert g.allows("fs.read", str(tmp_path / "ws"))
    assert not g.allows("fs.read", str(tmp_path / "ws2"))
    assert not g.allows("fs.read", str(tmp_path / "ws" / ".." / "secret"))
    assert not g.allows("fs.write", str(inside / "a.py"))


def test_a_symlink_out_of_a_granted_tree_is_not_covered(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", tmp_path / "ws" / "link")
    g = GrantSet("p.x", ["fs.read:${workspace}"], {"workspace": str(tmp_path / "ws")})
    assert not g.allows("fs.read", str(tmp_path / "ws" / "link" / "file"))


def test_an_undefined_path_variable_grants_nothing() -> None:
    assert not GrantSet("p.x", ["fs.read:${workspace}"], {}).allows("fs.read", "/")


def test_network_env_and_model_grants_match() -> None:
    g = GrantSet("p.x", ["net.connect:*.example.com:443", "net.connect:10.0.0.1:8000-8010", "env.read:APP_*",
                         "env.read:HOME", "model.use:gpt-*"])
    assert g.allows("net.connect", "api.example.com:443")
    assert not g.allows("net.connect", "example.org:443")
    assert not g.allows("net.connect", "api.example.com:80")
    assert g.allows("net.connect", "10.0.0.1:8005")
    assert g.allows("env.read", "APP_TOKEN") and g.allows("env.read", "HOME")
    assert not g.allows("env.read", "HOMER")
    assert g.allows("model.use", "gpt-4") and not g.allows("model.use", "llama")


def test_a_denial_raises_and_appends_one_jsonl_record(tmp_path: Path) -> None:
    """time, extension, permission, target: one line per denial; allowed accesses are not logged."""
    log = AuditLog(tmp_path / "audit.jsonl", clock=lambda: 1_700_000_000.25)
    guard = AccessGuard(GrantSet("p.x", ["bus.publish:ext.x.#", "artifact.read"]), log)
    guard.check_publish("ext.x.ok")
    guard.check_artifact_read("art-1")
    with pytest.raises(PermissionDenied) as info:
        guard.check_publish("run.r1.cancel")
    with pytest.raises(PermissionDenied):
        guard.check_artifact_write("report")
    with pytest.raises(PermissionDenied):
        guard.check_model("symphony.summarise")
    assert info.value.details == {"extension": "p.x", "permission": "bus.publish", "target": "run.r1.cancel"}
    lines = (tmp_path / "audit.jsonl").read_bytes().splitlines()
    records = [orjson.loads(line) for line in lines]
    assert [(r["extension"], r["permission"], r["target"]) for r in records] == [
        ("p.x", "bus.publish", "run.r1.cancel"), ("p.x", "artifact.write", "report"),
        ("p.x", "model.use", "symphony.summarise")]
    assert records[0]["time"] == "2023-11-14T22:13:20.250Z" and records[0]["decision"] == "denied"
    assert log.read("p.x", limit=1) == records[-1:]
    assert log.read("p.other") == []


def test_the_denial_error_survives_the_wire() -> None:
    from symphony_actors.domain.errors import error_from_wire

    guard = AccessGuard(GrantSet("p.x", []), AuditLog(None))
    with pytest.raises(PermissionDenied) as info:
        guard.check_fs("/etc/passwd")
    back = error_from_wire(info.value.to_wire())
    assert isinstance(back, PermissionDenied) and back.details["target"] == "/etc/passwd"


def test_a_corrupt_audit_line_is_reported_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append("p.x", "fs.read", "/a")
    with path.open("ab") as fh:
        fh.write(b"{torn\n")
    assert [r["decision"] for r in log.read()] == ["denied", "unreadable-line"]


def test_sandbox_grants_expose_what_the_os_must_allow(tmp_path: Path) -> None:
    grants = GrantSet("p.x", ["fs.read:${workspace}", "fs.read:/usr/share/dict", "fs.write:${data}",
                              "net.connect:api.example.com:443", "net.connect:*:8000-8100", "process.spawn",
                              "env.read:HOME", "bus.publish:ext.x.#"],
                      {"workspace": str(tmp_path), "data": str(tmp_path / "d")})
    sg = sandbox_grants(grants)
    assert sg.fs_read == (str(tmp_path), "/usr/share/dict")
    assert sg.fs_write == (str(tmp_path / "d"),)
    assert sg.tcp_ports == ((443, 443), (8000, 8100))
    assert sg.process_spawn and sg.env_names == ("HOME",)
    assert sg.env_allowed("HOME") and not sg.env_allowed("PATH")
    assert not sandbox_grants([Permission("artifact.read")]).process_spawn
