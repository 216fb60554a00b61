"""Each example extension on real input, loaded and run through the in-memory ExtensionPort."""

from __future__ import annotations

import itertools
import math
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import PermissionDenied, UsageError
from symphony_actors.testing.fake_extension import FakeExtensionPort
from tests.unit.extensions.conftest import EXAMPLES, REPO

ALL = ("hash-embed", "summarise", "read-files", "chunk-text", "py-metrics", "todo-finder")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "a.py").write_text("def f(x):\n    return x\n")
    (ws / "README.md").write_text("# Title\n\nText.\n")
    (ws / "pkg" / "data.txt").write_bytes(b"\x00\x01binary")
    (ws / "big.txt").write_text("x" * 5000)
    (ws / "__pycache__").mkdir()
    (ws / "__pycache__" / "a.txt").write_text("cached")
    (ws / "image.png").write_bytes(b"\x89PNG")
    os.symlink("/etc/hostname", ws / "link.txt")
    return ws


@pytest.fixture
def port(workspace: Path) -> Iterator[FakeExtensionPort]:
    p = FakeExtensionPort(workspace=workspace, config={"symphony.todo-finder": {"tags": ["TODO", "FIXME", "NOTE"]}})
    for name in ALL:
        p.install(str(EXAMPLES / name))
    yield p
    p.close()


def run(port: FakeExtensionPort, ext_id: str, inputs: dict[str, Any], **params: Any) -> Any:
    port.activate(ext_id)
    op = "infer" if port.info(ext_id)["manifest"]["type"] == "instrument" else "process"
    return port.send(ext_id, op, {"inputs": inputs, "params": params})


# ---------------------------------------------------------------- read-files


def test_read_files_reads_text_and_explains_every_skip(port: FakeExtensionPort, workspace: Path) -> None:
    out = run(port, "symphony.read-files", {"root": str(workspace)}, include=["*.py", "*.md", "*.txt"],
              max_bytes=1000)
    assert [f["path"] for f in out["files"]] == ["README.md", "pkg/a.py"]
    assert out["files"][1] == {"path": "pkg/a.py", "text": "def f(x):\n    return x\n", "bytes": 23, "lines": 2}
    reasons = {s["path"]: s["reason"] for s in out["skipped"]}
    assert reasons == {"big.txt": "5000 bytes, over the 1000-byte limit", "link.txt": "symbolic link",
                       "pkg/data.txt": "binary"}


def test_read_files_refuses_folders_outside_the_workspace(port: FakeExtensionPort, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied, match=r"fs.read"):
        run(port, "symphony.read-files", {"root": str(tmp_path)})
    with pytest.raises(PermissionDenied):
        run(port, "symphony.read-files", {"root": str(tmp_path / "ws" / ".." )})
    assert [(r["extension"], r["permission"]) for r in port.audit.read()] == \
        [("symphony.read-files", "fs.read")] * 2


def test_read_files_reads_this_repository(examples: Path) -> None:
    p = FakeExtensionPort(workspace=REPO)
    p.install(str(examples / "read-files"))
    out = run(p, "symphony.read-files", {"root": str(REPO / "symphony_actors" / "sdk")}, include=["*.py"])
    assert {"__init__.py", "base.py", "context.py"} <= {f["path"] for f in out["files"]}
    p.close()


# ---------------------------------------------------------------- chunk-text


def test_chunks_cover_the_text_on_line_boundaries_with_overlap(port: FakeExtensionPort) -> None:
    text = "".join(f"line {i:03d} " + "word " * (i % 7) + "\n" for i in range(200))
    chunks = run(port, "symphony.chunk-text", {"text": text}, size=300, overlap=60)["chunks"]
    assert chunks[0]["start"] == 0 and chunks[-1]["end"] == len(text)
    for c in chunks:
        assert c["text"] == text[c["start"]:c["end"]] and len(c["text"]) <= 300
        assert c["text"].endswith("\n")  # never cut inside a line
    for a, b in itertools.pairwise(chunks):
        assert b["start"] <= a["end"] and a["end"] - b["start"] <= 60  # overlap of whole lines, bounded
        assert b["start"] > a["start"]  # always progresses
        assert b["start_line"] <= a["end_line"] + 1
    assert [c["index"] for c in chunks] == list(range(len(chunks)))


def test_over_long_lines_are_cut_and_files_keep_their_names(port: FakeExtensionPort) -> None:
    files = [{"path": "a.txt", "text": "x" * 250}, {"path": "b.txt", "text": "short\n"}]
    chunks = run(port, "symphony.chunk-text", {"files": files}, size=100, overlap=0)["chunks"]
    assert [(c["source"], len(c["text"])) for c in chunks] == [("a.txt", 100), ("a.txt", 100), ("a.txt", 50),
                                                               ("b.txt", 6)]


def test_chunk_text_refuses_bad_requests(port: FakeExtensionPort) -> None:
    with pytest.raises(UsageError, match=r"give 'text' or 'files'"):
        run(port, "symphony.chunk-text", {})
    with pytest.raises(UsageError, match=r"overlap"):
        run(port, "symphony.chunk-text", {"text": "x"}, size=100, overlap=100)


# ---------------------------------------------------------------- py-metrics

SOURCE = textwrap.dedent('''
    """Module doc."""
    import os
    from . import sibling

    class Shape:
        def area(self, kind, a, b=1):
            """Area."""
            if kind == "square" and a > 0:
                return a * a
            elif kind == "rect":
                for _ in range(3):
                    while a < 0:
                        a += 1
                return a * b
            return 0

    def simple(*args, **kw):
        return [x for x in args if x]
''')


def test_py_metrics_measures_complexity_nesting_and_docs(port: FakeExtensionPort) -> None:
    out = run(port, "symphony.py-metrics", {"files": [{"path": "shape.py", "text": SOURCE},
                                                      {"path": "notes.md", "text": "not python"}]},
              complexity_threshold=5)
    funcs = {f["qualname"]: f for f in out["functions"]}
    area = funcs["Shape.area"]
    # 1 + if + and + elif + for + while = 6
    assert (area["complexity"], area["nesting"], area["args"], area["has_docstring"]) == (6, 3, ["kind", "a", "b"],
                                                                                          True)
    assert funcs["simple"]["complexity"] == 2 and funcs["simple"]["args"] == ["*args", "**kw"]
    module = out["modules"][0]
    assert (module["path"], module["classes"], module["functions"], module["imports"], module["has_docstring"]) == \
        ("shape.py", 1, 2, [".", "os"], True)
    assert module["code_lines"] == 14  # docstrings and blank lines do not count
    assert out["summary"]["over_threshold"] == [{"path": "shape.py", "qualname": "Shape.area", "complexity": 6}]
    assert out["summary"]["files"] == 1 and out["errors"] == []


def test_py_metrics_reports_syntax_errors_with_their_line(port: FakeExtensionPort) -> None:
    out = run(port, "symphony.py-metrics", {"source": "def ok():\n    pass\n\ndef broken(:\n"})
    assert out["errors"] == [{"path": "<source>", "line": 4, "error": "invalid syntax"}]


def test_py_metrics_on_this_repository(port: FakeExtensionPort) -> None:
    files = [{"path": str(p.relative_to(REPO)), "text": p.read_text()}
             for p in sorted((REPO / "symphony_actors" / "extension_host").glob("*.py"))]
    out = run(port, "symphony.py-metrics", {"files": files})
    assert out["summary"]["files"] == len(files) and out["summary"]["functions"] > 50


# ---------------------------------------------------------------- hash-embed


def test_embeddings_are_unit_length_deterministic_and_meaningful(port: FakeExtensionPort) -> None:
    texts = ["the actor system restarts crashed actors", "a supervisor restarts actors that crashed",
             "bake the bread at two hundred degrees"]
    out = run(port, "symphony.hash-embed", {"texts": texts, "query": "restart crashed actors"}, dim=512)
    vectors = out["vectors"]
    assert out["dim"] == 512 and all(len(v) == 512 for v in vectors)
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-4) for v in vectors)
    assert run(port, "symphony.hash-embed", {"texts": texts}, dim=512)["vectors"] == vectors
    cos = [[sum(a * b for a, b in zip(u, v, strict=True)) for v in vectors] for u in vectors]
    assert cos[0][1] > cos[0][2] and cos[0][1] > cos[1][2]
    assert [r["index"] for r in out["ranking"]][-1] == 2


def test_embedding_an_empty_text_gives_a_zero_vector(port: FakeExtensionPort) -> None:
    out = run(port, "symphony.hash-embed", {"texts": ["", "word"]}, dim=16)
    assert out["vectors"][0] == [0.0] * 16


# ---------------------------------------------------------------- summarise


def test_summarise_picks_representative_sentences_in_order(port: FakeExtensionPort) -> None:
    text = (REPO / "docs" / "runtime.md").read_text()[:4000]  # real prose that ships with the repo
    out = run(port, "symphony.summarise", {"text": text}, sentences=3)
    assert len(out["sentences"]) == 3 and out["indices"] == sorted(out["indices"])
    assert all(s in " ".join(text.split()) for s in out["sentences"])
    assert out["summary"] == " ".join(out["sentences"])
    # The summariser reached the embedder through the model permission: both are active.
    assert port.health("symphony.hash-embed")["state"] == "active"


def test_summarise_by_frequency_needs_no_model(port: FakeExtensionPort) -> None:
    text = ("Cats sleep a lot. Cats and dogs are pets. Dogs bark at night. Cats purr when cats are happy. "
            "The weather was mild.")
    out = run(port, "symphony.summarise", {"text": text}, sentences=1, method="frequency")
    assert out["sentences"] == ["Cats purr when cats are happy."]
    assert run(port, "symphony.summarise", {"text": ""})["summary"] == ""


def test_summarise_without_its_model_grant_is_denied(workspace: Path) -> None:
    p = FakeExtensionPort(workspace=workspace)
    p.install(str(EXAMPLES / "hash-embed"))
    p.install(str(EXAMPLES / "summarise"), grant=[])
    with pytest.raises(PermissionDenied, match=r"model.use:symphony.hash-embed"):
        run(p, "symphony.summarise", {"text": "One sentence here. Another one there."})
    assert p.audit.read()[-1]["target"] == "symphony.hash-embed"
    p.close()


# ---------------------------------------------------------------- todo-finder


def test_todo_finder_tracks_notes_per_buffer_and_publishes(port: FakeExtensionPort) -> None:
    port.activate("symphony.todo-finder")
    text = ("x = 1  # TODO(ann): handle negatives\n// FIXME: leaks\n/* NOTE remember */\n"
            "print('TODO in a string is not a note')\n  * HACK not configured here\n")
    reply = port.broadcast("on_buffer_changed", {"buffer_id": "b1", "text": text, "version": 1, "path": "a.py"})
    items = reply["results"]["symphony.todo-finder"]
    assert [(i["line"], i["tag"], i["owner"], i["text"]) for i in items] == [
        (1, "TODO", "ann", "handle negatives"), (2, "FIXME", None, "leaks"), (3, "NOTE", None, "remember")]
    assert port.events[-1][0] == "ext.todo-finder.found" and port.events[-1][1]["count"] == 3
    events = len(port.events)
    port.broadcast("on_buffer_changed", {"buffer_id": "b1", "text": text, "version": 2})
    assert len(port.events) == events  # unchanged notes are not published again
    listed = port.send("symphony.todo-finder", "command", {"command": "todo.list", "args": {}})
    assert list(listed) == ["b1"] and len(listed["b1"]) == 3
    port.broadcast("on_buffer_closed", {"buffer_id": "b1"})
    assert port.send("symphony.todo-finder", "command", {"command": "todo.list", "args": {}}) == {}
    scanned = port.send("symphony.todo-finder", "command", {"command": "todo.scan", "args": {"text": "# FIXME x"}})
    assert scanned == [{"line": 1, "column": 3, "tag": "FIXME", "owner": None, "text": "x"}]


def test_todo_finder_without_its_bus_grant_is_denied_and_audited(workspace: Path) -> None:
    p = FakeExtensionPort(workspace=workspace)
    p.install(str(EXAMPLES / "todo-finder"), grant=[])
    p.activate("symphony.todo-finder")
    reply = p.broadcast("on_buffer_changed", {"buffer_id": "b", "text": "# TODO x"})
    assert reply["errors"]["symphony.todo-finder"]["code"] == "permission_denied"
    assert p.audit.read() and p.audit.read()[0]["target"] == "ext.todo-finder.found"
    p.close()


def test_the_examples_chain_like_a_workflow(tmp_path: Path) -> None:
    """read-files -> chunk-text -> hash-embed ranks the chunk that answers a question first."""
    ws = tmp_path / "project"
    ws.mkdir()
    (ws / "supervision.md").write_text("The supervisor restarts a crashed actor with a new address.\n"
                                       "Restart intensity limits how often that happens.\n")
    (ws / "bread.md").write_text("Knead the dough for ten minutes.\nBake at two hundred degrees.\n")
    (ws / "music.md").write_text("The orchestra tunes to the oboe before the concert.\n")
    p = FakeExtensionPort(workspace=ws)
    for name in ("read-files", "chunk-text", "hash-embed"):
        p.install(str(EXAMPLES / name))
    files = run(p, "symphony.read-files", {"root": str(ws)})["files"]
    chunks = run(p, "symphony.chunk-text", {"files": files}, size=200, overlap=0)["chunks"]
    ranked = run(p, "symphony.hash-embed", {"texts": [c["text"] for c in chunks],
                                            "query": "what restarts a crashed actor?"})["ranking"]
    assert chunks[ranked[0]["index"]]["source"] == "supervision.md"
    p.close()
