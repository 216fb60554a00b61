"""``symphony ext ...`` against a data directory, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symphony_actors.cli import main
from tests.unit.extensions.conftest import EXAMPLES


def ext(capsys: pytest.CaptureFixture[str], data_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["ext", *args, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_install_prints_the_requested_permissions(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = ext(capsys, data_dir, "install", str(EXAMPLES / "todo-finder"))
    assert code == 0
    assert "installed symphony.todo-finder 1.0.0 (addon)" in out
    assert "requested permissions:\n  - bus.publish:ext.todo-finder.#" in out


def test_install_with_deny_grants_less(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    code, out, _ = ext(capsys, data_dir, "install", str(EXAMPLES / "read-files"), "--deny", "fs.read:${workspace}")
    assert code == 0 and "denied (not granted):\n  - fs.read:${workspace}" in out
    code, out, _ = ext(capsys, data_dir, "info", "symphony.read-files", "--json")
    assert json.loads(out)["granted"] == []


def test_list_search_info_disable_enable_remove(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    for name in ("hash-embed", "summarise", "chunk-text"):
        assert ext(capsys, data_dir, "install", str(EXAMPLES / name))[0] == 0
    code, out, _ = ext(capsys, data_dir, "list")
    assert code == 0 and out.splitlines()[0].split() == ["ID", "VERSION", "TYPE", "ENABLED", "NAME"]
    assert len(out.splitlines()) == 4
    code, out, _ = ext(capsys, data_dir, "search", "embeding", "--type", "instrument", "--json")
    assert json.loads(out)[0]["id"] == "symphony.hash-embed"
    code, out, _ = ext(capsys, data_dir, "search", "zzzzqqq")
    assert out.strip() == "no matches"
    code, out, _ = ext(capsys, data_dir, "info", "symphony.summarise")
    assert "dependencies: symphony.hash-embed" in out and "node summarise: (text: string)" in out
    code, _, err = ext(capsys, data_dir, "remove", "symphony.hash-embed")
    assert code == 2 and "ConflictError" in err and "symphony.summarise depends on it" in err
    assert ext(capsys, data_dir, "disable", "symphony.summarise")[1].strip() == "symphony.summarise disabled"
    assert ext(capsys, data_dir, "enable", "symphony.summarise")[1].strip() == "symphony.summarise enabled"
    assert ext(capsys, data_dir, "remove", "symphony.summarise")[0] == 0
    assert ext(capsys, data_dir, "remove", "symphony.hash-embed")[0] == 0
    code, out, _ = ext(capsys, data_dir, "list", "--json")
    assert [e["id"] for e in json.loads(out)] == ["symphony.chunk-text"]


def test_audit_shows_denials(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    from symphony_actors.extension_host.service import ExtensionHost
    from symphony_actors.ports.service import ServiceSettings

    ext(capsys, data_dir, "install", str(EXAMPLES / "todo-finder"))
    assert ext(capsys, data_dir, "audit", "symphony.todo-finder")[1].strip() == \
        "no audit records for symphony.todo-finder"
    host = ExtensionHost(ServiceSettings("extensions", data_dir))
    with pytest.raises(PermissionError):
        host.check_access("symphony.todo-finder", "bus.publish", "run.x")
    code, out, _ = ext(capsys, data_dir, "audit", "symphony.todo-finder")
    assert code == 0 and "denied" in out and "bus.publish" in out and "run.x" in out


def test_grant_and_revoke_commands(capsys: pytest.CaptureFixture[str], data_dir: Path) -> None:
    ext(capsys, data_dir, "install", str(EXAMPLES / "todo-finder"), "--grant", "bus.publish:ext.todo-finder.#")
    code, out, _ = ext(capsys, data_dir, "revoke", "symphony.todo-finder", "bus.publish:ext.todo-finder.#")
    assert code == 0 and out.strip() == "symphony.todo-finder granted: none"
    code, out, _ = ext(capsys, data_dir, "grant", "symphony.todo-finder", "bus.publish:ext.todo-finder.#")
    assert "  - bus.publish:ext.todo-finder.#" in out


def test_errors_are_one_line_with_exit_codes(capsys: pytest.CaptureFixture[str], data_dir: Path,
                                             tmp_path: Path) -> None:
    code, _, err = ext(capsys, data_dir, "info", "nobody.here")
    assert code == 2 and err.startswith("symphony: NotFoundError")
    (tmp_path / "evil.zip").write_bytes(b"PK junk")
    code, _, err = ext(capsys, data_dir, "install", str(tmp_path / "evil.zip"))
    assert code == 2 and "not a readable archive" in err
