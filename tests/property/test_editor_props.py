"""Property: random edits through the bridge, with the editor crashing at random points, give the same
text (and revision, and saved file) as the same edits applied to a plain string.

Failures are injected four ways: SIGKILL by pid between operations, the editor dying on reading a
request (``BOMB``), dying after it sent the update but before its reply (``SPLIT``), and hanging on a
request (``HANG``, so the bridge's deadline kills it); see ``tests/crashy_editor.py``.
"""

from __future__ import annotations

import itertools
import os
import signal
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony_actors.domain.text import Position, Range
from symphony_actors.editor.bridge import EditorBridge
from tests.editor_support import crashy_options, hosted_bridge

text_st = st.text(alphabet="ab \né😀", max_size=12)
frac = st.floats(0, 1)
op_st = st.one_of(
    st.tuples(st.just("insert"), frac, text_st),
    st.tuples(st.just("delete"), frac, frac),
    st.tuples(st.just("replace"), frac, frac, text_st),
    st.tuples(st.just("undo")),
    st.tuples(st.just("redo")),
    st.tuples(st.just("save")),
    st.tuples(st.just("kill")),
    st.tuples(st.just("bomb"), frac),
    st.tuples(st.just("split"), frac),
    st.tuples(st.just("hang"), frac),
)


@dataclass
class Model:
    """The plain-string reference: text, revision, undo and redo stacks of (offset, removed, inserted)."""

    text: str
    revision: int = 0
    saved: str = ""
    saved_revision: int = 0
    undo: list[tuple[int, str, str]] = field(default_factory=list)
    redo: list[tuple[int, str, str]] = field(default_factory=list)

    def position(self, offset: int) -> Position:
        before = self.text[:offset]
        return Position(before.count("\n"), offset - before.rfind("\n") - 1)

    def edit(self, a: int, b: int, inserted: str) -> None:
        self.undo.append((a, self.text[a:b], inserted))
        self.redo.clear()
        self._apply(a, b, inserted)

    def _apply(self, a: int, b: int, inserted: str) -> None:
        self.text = self.text[:a] + inserted + self.text[b:]
        self.revision += 1

    def do_undo(self) -> bool:
        if not self.undo:
            return False
        a, removed, inserted = self.undo.pop()
        self._apply(a, a + len(inserted), removed)
        self.redo.append((a, removed, inserted))
        return True

    def do_redo(self) -> bool:
        if not self.redo:
            return False
        a, removed, inserted = self.redo.pop()
        self._apply(a, a + len(removed), inserted)
        self.undo.append((a, removed, inserted))
        return True


def run(bridge: EditorBridge, path: Path, ops: list[tuple[object, ...]]) -> None:
    model = Model(path.read_text())
    model.saved = model.text
    buf = bridge.open_buffer(str(path)).buffer_id
    markers = itertools.count(1)
    for op in ops:
        kind = op[0]
        span = len(model.text)
        if kind in ("insert", "bomb", "split", "hang"):
            a = int(float(op[1]) * span)  # type: ignore[arg-type]
            text = str(op[2]) if kind == "insert" else f"{kind.upper()}{next(markers)}"
            result = bridge.insert(buf, model.position(a), text)
            model.edit(a, a, text)
            assert model.revision == result.revision
        elif kind in ("delete", "replace"):
            a = int(float(op[1]) * span)  # type: ignore[arg-type]
            b = a + int(float(op[2]) * (span - a))  # type: ignore[arg-type]
            rng = Range(model.position(a), model.position(b))
            if kind == "delete":
                bridge.delete(buf, rng)
                model.edit(a, b, "")
            else:
                bridge.replace(buf, rng, str(op[3]))
                model.edit(a, b, str(op[3]))
        elif kind == "undo":
            assert model.do_undo() == (bridge.undo(buf) is not None)
        elif kind == "redo":
            assert model.do_redo() == (bridge.redo(buf) is not None)
        elif kind == "save":
            bridge.save(buf)
            model.saved, model.saved_revision = model.text, model.revision
        elif kind == "kill":
            pid = bridge.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
    assert model.text == bridge.content(buf)
    info = bridge.info(buf)
    assert (model.revision, model.revision != model.saved_revision) == (info.revision, info.dirty)
    assert model.saved == path.read_text()
    kinds = [op[0] for op in ops]
    injected = sum(kinds.count(k) for k in ("bomb", "split", "hang")) + (1 if "kill" in kinds else 0)
    assert bridge.restarts >= injected  # the crashes really happened


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(initial=text_st, ops=st.lists(op_st, max_size=25))
def test_edits_with_crashes_match_a_plain_string(initial: str, ops: list[tuple[object, ...]]) -> None:
    """Whatever the edits and wherever the editor dies, the buffer ends as the plain-string model does."""
    with tempfile.TemporaryDirectory(prefix="editor-prop-") as tmp:
        root = Path(tmp)
        path = root / "doc.txt"
        path.write_text(initial.replace("\r", ""))
        (root / "data").mkdir()
        options = crashy_options(root / "marks", max_restarts=1000, request_timeout=0.5)
        with hosted_bridge(root / "data", **options) as (_, bridge):
            run(bridge, path, ops)
