"""Every real WfFormat instance in ../shared/data/wfinstances imports, validates and round-trips."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from symphony_actors.cli import main
from symphony_actors.domain.workflow import (
    EdgeKind,
    Workflow,
    check,
    dumps_binary,
    dumps_json,
    load_wfformat,
    loads_binary,
    loads_json,
)


def instances(shared_data: Path) -> list[Path]:
    found = sorted((shared_data / "wfinstances").glob("*.json"))
    if not found:
        pytest.skip("no WfFormat instances in shared data")
    return found


def test_every_instance_imports_validates_and_round_trips(shared_data: Path) -> None:
    """Import, validate (no problem), then JSON and binary give the same workflow back."""
    for path in instances(shared_data):
        wf = load_wfformat(path)
        raw = orjson.loads(path.read_bytes())
        tasks = raw["workflow"]["specification"]["tasks"]
        assert len(wf.nodes) == len(tasks), path.name
        analysis = check(wf)
        assert analysis.problems == (), (path.name, analysis.problems[:5])
        # Every parent/child pair of the instance is an edge of ours.
        pairs = {(e.source, e.target) for e in wf.edges}
        assert all((p, t["id"]) in pairs for t in tasks for p in t["parents"]), path.name
        js, bn = dumps_json(wf), dumps_binary(wf)
        assert loads_json(js) == wf, path.name
        assert loads_binary(bn) == wf, path.name
        assert len(bn) < 0.2 * len(js), (path.name, len(bn), len(js))


def test_instance_structure_is_meaningful(shared_data: Path) -> None:
    """Data edges follow files; depth and width match the instance's dependency structure."""
    for path in instances(shared_data):
        wf = load_wfformat(path)
        assert isinstance(wf, Workflow)
        data = [e for e in wf.edges if e.kind is EdgeKind.DATA]
        assert data, path.name
        for e in data[:200]:
            assert e.source_port in {p.name for p in wf.node(e.source).outputs}
            assert e.target_port in {p.name for p in wf.node(e.target).inputs}
        analysis = check(wf)
        assert analysis.depth >= 2 and analysis.width >= 2
        assert sum(map(len, analysis.levels)) == len(wf.nodes)


def test_cli_validates_and_converts_an_instance(shared_data: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """symphony validate on a real instance prints its summary; convert writes both formats."""
    path = instances(shared_data)[0]
    assert main(["validate", str(path)]) == 0
    assert "(wfformat)" in capsys.readouterr().out
    assert main(["convert", str(path), str(tmp_path / "w.wfb")]) == 0
    assert main(["convert", str(tmp_path / "w.wfb"), str(tmp_path / "w.json")]) == 0
    assert main(["validate", str(tmp_path / "w.json")]) == 0


def test_a_file_over_the_size_limit_is_refused_with_a_way_round_it(shared_data: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Over the limit: exit 2 naming the size and --max-size; with a larger --max-size it is read."""
    path = next(p for p in instances(shared_data) if p.stat().st_size > 4096)
    assert main(["validate", str(path), "--max-size", "4K"]) == 2
    err = capsys.readouterr().err
    assert "over the limit of 4096" in err and "--max-size" in err, err
    assert main(["convert", str(path), str(tmp_path / "w.wfb"), "--max-size", "4K"]) == 2
    assert "--max-size" in capsys.readouterr().err
    assert main(["validate", str(path), "--max-size", "64M"]) == 0
    with pytest.raises(SystemExit):
        main(["validate", str(path), "--max-size", "lots"])
    assert "bad size 'lots'" in capsys.readouterr().err
