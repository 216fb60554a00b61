"""``symphony artifact`` put/get/ls/search/verify/gc/stats on a data directory."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from symphony_actors.cli import main


def run(capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["artifact", *argv, "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_put_get_round_trip_with_a_prefix(capsys: pytest.CaptureFixture[str], data_dir: Path,
                                          tmp_path: Path) -> None:
    src = tmp_path / "notes.md"
    src.write_text("# Notes\nthe heron stands still\n")
    code, out, _ = run(capsys, data_dir, "put", str(src), "--tag", "docs", "--tag", "draft")
    artifact_id = out.strip()
    assert code == 0 and len(artifact_id) == 64
    dest = tmp_path / "copy.md"
    assert run(capsys, data_dir, "get", artifact_id[:10], "-o", str(dest))[0] == 0
    assert src.read_bytes() == dest.read_bytes()


def test_ls_search_and_stats(capsys: pytest.CaptureFixture[str], data_dir: Path, tmp_path: Path) -> None:
    for name, text in (("a.py", "print('kingfisher')\n"), ("b.txt", "kingfisher kingfisher\n"), ("c.txt", "x\n")):
        (tmp_path / name).write_text(text)
        run(capsys, data_dir, "put", str(tmp_path / name), "--tag", "birds" if "king" in text else "other")
    code, out, _ = run(capsys, data_dir, "ls", "--json", "--tag", "birds")
    listed = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {"a.py", "b.txt"} == {i["name"] for i in listed}
    assert {"text/x-python", "text/plain"} == {i["media_type"] for i in listed}
    code, out, _ = run(capsys, data_dir, "search", "kingfisher", "--json")
    assert [json.loads(line)["name"] for line in out.splitlines()] == ["b.txt", "a.py"]
    code, out, _ = run(capsys, data_dir, "stats", "--json")
    stats = json.loads(out)
    assert stats["artifacts"] == 3 and stats["dedup_ratio"] >= 1.0
    code, out, _ = run(capsys, data_dir, "stats")
    assert "dedup ratio" in out and "stored bytes" in out


def test_verify_fails_on_corruption_and_gc_reports(capsys: pytest.CaptureFixture[str], data_dir: Path,
                                                   tmp_path: Path) -> None:
    src = tmp_path / "blob.bin"
    src.write_bytes(bytes(range(256)) * 400)
    artifact_id = run(capsys, data_dir, "put", str(src))[1].strip()
    assert run(capsys, data_dir, "verify")[0] == 0
    con = sqlite3.connect(data_dir / "artifacts" / "artifacts.db")
    con.execute("UPDATE chunks SET data = zeroblob(length(data))")
    con.commit()
    con.close()
    code, out, _ = run(capsys, data_dir, "verify")
    assert code == 1 and "PROBLEM" in out and artifact_id in out
    code, _, err = run(capsys, data_dir, "get", artifact_id)
    assert code == 1 and "IntegrityError" in err
    code, out, _ = run(capsys, data_dir, "gc", "--json")
    assert code == 0 and json.loads(out) == {"chunks_removed": 0, "bytes_freed": 0, "uploads_expired": 0}


def test_unknown_ids_and_missing_files_are_clear_errors(capsys: pytest.CaptureFixture[str], data_dir: Path,
                                                        tmp_path: Path) -> None:
    code, _, err = run(capsys, data_dir, "get", "abcd1234")
    assert code == 2 and "NotFoundError" in err
    code, _, err = run(capsys, data_dir, "put", str(tmp_path / "absent.txt"))
    assert code == 2 and "absent.txt" in err
