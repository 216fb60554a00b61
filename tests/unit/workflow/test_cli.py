"""``symphony validate`` and ``symphony convert`` through the CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from symphony_actors.cli import main
from symphony_actors.domain.workflow import Edge, Workflow, dumps_binary, dumps_json, load

from .test_wfformat import TASKS, instance


def test_validate_valid_json_prints_summary(tmp_path: Path, sample: Workflow,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A valid file: exit 0 and one summary line with nodes, edges, depth and width."""
    f = tmp_path / "w.json"
    f.write_bytes(dumps_json(sample))
    assert main(["validate", str(f)]) == 0
    out = capsys.readouterr().out
    assert "valid workflow 'triage' (json): 8 nodes, 10 edges, depth 7, width 2" in out


def test_validate_invalid_lists_every_problem(tmp_path: Path, sample: Workflow,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """An invalid file: exit 1 and one line per problem with its path and kind."""
    f = tmp_path / "w.wfb"
    f.write_bytes(dumps_binary(sample.with_edges(Edge.control("fan", "read"), Edge.control("ghost", "read"))))
    assert main(["validate", str(f)]) == 1
    out = capsys.readouterr().out
    assert "invalid (4 problems)" in out
    assert "edges[11].source: no node 'ghost' [dangling]" in out
    assert "cycle: read -> clean -> score -> keep -> either -> fan -> read [cycle]" in out


def test_validate_json_output(tmp_path: Path, sample: Workflow, capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object with validity, summary and problems."""
    f = tmp_path / "w.json"
    f.write_bytes(dumps_json(sample))
    assert main(["validate", str(f), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["valid"] is True and got["summary"]["depth"] == 7


def test_validate_shape_errors_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A document of the wrong shape lists its problems by path, exit 1."""
    f = tmp_path / "w.json"
    f.write_bytes(orjson.dumps({"format": "symphony.workflow", "version": 1, "name": "x",
                                "nodes": [{"id": "a", "type": "t.x/a", "params": {"t": {"$param": 1}}}]}))
    assert main(["validate", str(f)]) == 1
    assert "nodes[0].params.t.$param" in capsys.readouterr().out


def test_validate_wfformat(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A WfFormat instance is imported and validated."""
    f = tmp_path / "inst.json"
    f.write_bytes(orjson.dumps(instance(TASKS)))
    assert main(["validate", str(f)]) == 0
    assert "(wfformat): 3 nodes, 2 edges, depth 2, width 2" in capsys.readouterr().out


def test_validate_garbage_and_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Undecodable input and missing files: exit 2 with one line, no traceback."""
    f = tmp_path / "junk.json"
    f.write_bytes(b"\x00\x01garbage")
    assert main(["validate", str(f)]) == 2
    assert main(["validate", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err
    assert "ProtocolError" in err and "NotFoundError" in err
    assert "Traceback" not in err


def test_convert_both_ways(tmp_path: Path, sample: Workflow, capsys: pytest.CaptureFixture[str]) -> None:
    """JSON to binary and back gives the same workflow; --to overrides the suffix."""
    src = tmp_path / "w.json"
    src.write_bytes(dumps_json(sample))
    assert main(["convert", str(src), str(tmp_path / "w.wfb")]) == 0
    assert main(["convert", str(tmp_path / "w.wfb"), str(tmp_path / "back.json")]) == 0
    assert main(["convert", str(src), str(tmp_path / "w.out"), "--to", "binary"]) == 0
    assert load(tmp_path / "back.json") == sample
    assert (tmp_path / "w.out").read_bytes()[:4] == (tmp_path / "w.wfb").read_bytes()[:4]
    assert "(binary" in capsys.readouterr().out


def test_convert_wfformat_and_unknown_suffix(tmp_path: Path) -> None:
    """A WfFormat instance converts to our formats; an unknown output suffix is a usage error."""
    f = tmp_path / "inst.json"
    f.write_bytes(orjson.dumps(instance(TASKS)))
    assert main(["convert", str(f), str(tmp_path / "out.wfb")]) == 0
    assert len(load(tmp_path / "out.wfb").nodes) == 3  # type: ignore[union-attr]
    assert main(["convert", str(f), str(tmp_path / "out.txt")]) == 2
