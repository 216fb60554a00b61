"""The bridge keeps the editor alive: restarts on crash or hang and restores every buffer exactly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import psutil
import pytest

from symphony_actors.domain.errors import DeadlineExceeded, NotFoundError, ServiceCrashed
from symphony_actors.domain.text import Position, Range
from symphony_actors.editor import bridge as bridge_module
from symphony_actors.editor.bridge import EditorBridge
from symphony_actors.ports.text_editing import TOPIC_CHANGED, TOPIC_RESTARTED
from tests.editor_support import crashy_options, hosted_bridge


def P(line: int, character: int) -> Position:
    return Position(line, character)


def kill(bridge: EditorBridge) -> int:
    pid = bridge.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    return pid


def gone(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_editor_runs_as_its_own_process(data_dir: Path) -> None:
    """The bridge starts the editor on start and stops it by pid on stop."""
    with hosted_bridge(data_dir) as (_, bridge):
        pid = bridge.pid
        assert pid is not None and pid != os.getpid()
        assert psutil.Process(pid).is_running()
    assert gone(pid)


def test_default_hang_detection_is_within_one_second(data_dir: Path) -> None:
    """A ping every 0.25 s, a hang after 0.75 s without answer: at most 1 s from hang to detection."""
    with hosted_bridge(data_dir) as (_, bridge):
        assert bridge.ping_interval + bridge.hang_timeout <= 1.0


def test_crash_restores_every_buffer_with_revisions_undo_and_views(data_dir: Path, tmp_path: Path) -> None:
    """After SIGKILL, the next call restarts the editor; ids, text, revisions, dirty, undo and views survive."""
    f = tmp_path / "file.txt"
    f.write_bytes(b"one\r\ntwo\r\n")
    with hosted_bridge(data_dir) as (runtime, bridge):
        scratch = bridge.create_buffer("scratch\n").buffer_id
        bridge.insert(scratch, P(1, 0), "more")
        filed = bridge.open_buffer(str(f)).buffer_id
        bridge.insert(filed, P(0, 0), "zero\n")
        bridge.save(filed)
        bridge.insert(filed, P(3, 0), "three")
        bridge.delete(filed, Range(P(0, 0), P(0, 1)))
        view = bridge.create_view(filed).view_id
        bridge.cursor(view, P(2, 3))
        bridge.selection(view, Range(P(1, 0), P(2, 1)))
        before = {b.buffer_id: (b, bridge.content(b.buffer_id)) for b in bridge.buffers()}
        old = kill(bridge)

        after = {b.buffer_id: (b, bridge.content(b.buffer_id)) for b in bridge.buffers()}
        assert before == after
        assert gone(old) and bridge.pid != old and bridge.restarts == 1
        assert (P(2, 3), Range(P(1, 0), P(2, 1))) == (bridge.cursor(view), bridge.selection(view))
        (restart,) = list(runtime.events_matching(TOPIC_RESTARTED))
        assert (old, bridge.pid, 2, []) == (restart.payload["old_pid"], restart.payload["pid"],
                                            restart.payload["buffers"], restart.payload["lost"])
        # Undo reaches back across the restart and past the save.
        assert bridge.undo(filed) is not None and bridge.undo(filed) is not None
        assert bridge.content(filed) == "zero\none\ntwo\n"
        assert bridge.undo(filed) is not None
        assert bridge.content(filed) == "one\ntwo\n"
        assert bridge.info(filed).dirty
        bridge.save(filed)
        assert f.read_bytes() == b"one\r\ntwo\r\n"


def test_crash_noticed_by_the_health_tick(data_dir: Path) -> None:
    """Without any request, health ticks see the editor gone (at the latest on the second) and restart it."""
    with hosted_bridge(data_dir) as (runtime, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        old = kill(bridge)
        runtime.advance(bridge.ping_interval)
        runtime.advance(bridge.ping_interval)
        assert bridge.restarts == 1 and bridge.pid != old
        assert bridge.content(buf) == "abc"


def test_hang_is_detected_by_pings_and_the_editor_replaced(data_dir: Path) -> None:
    """A stopped (hung) editor misses a ping; within two ticks it is killed by pid and replaced."""
    with hosted_bridge(data_dir) as (runtime, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        bridge.insert(buf, P(0, 3), "d")
        hung = bridge.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        runtime.advance(bridge.ping_interval)  # returns at all: waiting for a pong is bounded by its deadline
        runtime.advance(bridge.ping_interval)
        assert bridge.restarts == 1 and gone(hung)
        assert (bridge.content(buf), bridge.info(buf).revision) == ("abcd", 1)


def test_request_to_a_hung_editor_times_out_restarts_and_succeeds(data_dir: Path) -> None:
    """A request stuck on a hung editor restarts it after request_timeout and is retried."""
    with hosted_bridge(data_dir, request_timeout=0.3) as (_, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        hung = bridge.pid
        assert hung is not None
        os.kill(hung, signal.SIGSTOP)
        result = bridge.insert(buf, P(0, 0), ">")
        assert (result.revision, bridge.content(buf)) == (1, ">abc")
        assert gone(hung)


def test_crash_before_handling_is_retried(data_dir: Path, tmp_path: Path) -> None:
    """The editor dies on reading a request: the bridge restarts it and the retry succeeds."""
    with hosted_bridge(data_dir, **crashy_options(tmp_path / "marks")) as (_, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        result = bridge.insert(buf, P(0, 3), "BOMB1")
        assert (result.revision, bridge.content(buf), bridge.restarts) == (1, "abcBOMB1", 1)


def test_crash_after_the_update_does_not_apply_the_edit_twice(data_dir: Path, tmp_path: Path) -> None:
    """The editor applied the edit and sent its update, then died: the edit counts once."""
    with hosted_bridge(data_dir, **crashy_options(tmp_path / "marks")) as (_, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        result = bridge.insert(buf, P(0, 0), "SPLIT1 ")
        assert (1, Range(P(0, 0), P(0, 7))) == (result.revision, result.range)
        assert (bridge.content(buf), bridge.info(buf).revision) == ("SPLIT1 abc", 1)


def test_a_request_that_always_crashes_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """Three crashes in a row on the same request give ServiceCrashed; the buffers are intact afterwards."""
    with hosted_bridge(data_dir, **crashy_options(tmp_path / "marks")) as (_, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        with pytest.raises(ServiceCrashed):
            bridge.insert(buf, P(0, 0), "ALWAYS")
        assert (bridge.content(buf), bridge.info(buf).revision) == ("abc", 0)


def test_a_request_that_always_hangs_is_refused(data_dir: Path, tmp_path: Path) -> None:
    """Three hangs in a row on the same request give DeadlineExceeded."""
    with hosted_bridge(data_dir, request_timeout=0.2, **crashy_options(tmp_path / "marks")) as (_, bridge):
        buf = bridge.create_buffer("abc").buffer_id
        with pytest.raises(DeadlineExceeded):
            bridge.insert(buf, P(0, 0), "HANG1 HANG2 HANG3")  # one marker fires per try
        assert bridge.content(buf) == "abc"


def test_restart_intensity_gives_up(data_dir: Path) -> None:
    """More than max_restarts within the window: ServiceCrashed for the supervisor."""
    with hosted_bridge(data_dir, max_restarts=2, within_seconds=600) as (_, bridge):
        buf = bridge.create_buffer("x").buffer_id
        for _ in range(2):
            kill(bridge)
            bridge.content(buf)
        kill(bridge)
        with pytest.raises(ServiceCrashed):
            bridge.content(buf)


def test_file_changed_on_disk_behind_a_journal_is_reported_lost(data_dir: Path, tmp_path: Path) -> None:
    """If the file under unsaved edits changed before a crash, that buffer cannot be rebuilt: an event says so."""
    f = tmp_path / "f.txt"
    f.write_text("original\n")
    with hosted_bridge(data_dir) as (runtime, bridge):
        buf = bridge.open_buffer(str(f)).buffer_id
        other = bridge.create_buffer("safe").buffer_id
        bridge.insert(buf, P(0, 0), "edit ")
        f.write_text("someone else wrote this\n")
        kill(bridge)
        assert bridge.content(other) == "safe"
        with pytest.raises(NotFoundError):
            bridge.content(buf)
        (lost,) = list(runtime.events_matching("editor.buffer.lost"))
        assert buf == lost.payload["buffer_id"]


def test_edits_publish_buffer_changed_on_the_bus(data_dir: Path) -> None:
    """Each edit is one editor.buffer.changed event with revision, range and text."""
    with hosted_bridge(data_dir) as (runtime, bridge):
        buf = bridge.create_buffer("ab").buffer_id
        bridge.insert(buf, P(0, 1), "X")
        bridge.undo(buf)
        changed = [e.payload for e in runtime.events_matching(TOPIC_CHANGED)]
        assert [{"buffer_id": buf, "kind": "edit", "revision": 1, "text": "X",
                 "range": {"start": {"line": 0, "character": 1}, "end": {"line": 0, "character": 1}}},
                {"buffer_id": buf, "kind": "undo", "revision": 2, "text": "",
                 "range": {"start": {"line": 0, "character": 1}, "end": {"line": 0, "character": 2}}}] == changed


def test_long_journals_are_compacted(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the compaction threshold the current text becomes the base; a restart still restores it."""
    monkeypatch.setattr(bridge_module, "_COMPACT_CHANGES", 10)
    with hosted_bridge(data_dir) as (_, bridge):
        buf = bridge.create_buffer("").buffer_id
        for i in range(25):
            bridge.insert(buf, P(0, 0), str(i % 10))
        record = bridge._records[buf]
        assert len(record.journal) < 10 and record.base_text is not None
        kill(bridge)
        assert ("".join(str(i % 10) for i in reversed(range(25))), 25) == (bridge.content(buf),
                                                                           bridge.info(buf).revision)
        assert bridge.undo(buf) is not None


def test_status_reports_pid_and_restarts(data_dir: Path) -> None:
    with hosted_bridge(data_dir) as (runtime, bridge):
        bridge.create_buffer("x")
        status = runtime.call("editor", "status")
        assert (bridge.pid, 0, 1) == (status["pid"], status["restarts"], status["buffers"])


def test_positions_and_ranges_may_come_as_wire_dicts(data_dir: Path) -> None:
    """Callers speaking JSON (the gateway) may pass {line, character} and {start, end}."""
    with hosted_bridge(data_dir) as (runtime, _):
        buf = runtime.call("editor", "create_buffer", text="abc").buffer_id
        runtime.call("editor", "insert", buffer_id=buf, position={"line": 0, "character": 3}, text="d")
        runtime.call("editor", "delete", buffer_id=buf,
                     range={"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}})
        assert runtime.call("editor", "content", buffer_id=buf) == "bcd"


def test_results_survive_pickling(data_dir: Path) -> None:
    """Replies cross process boundaries pickled: every result type round-trips."""
    import pickle

    with hosted_bridge(data_dir) as (runtime, bridge):
        seen: list[object] = []
        bridge.subscribe(seen.append)
        buf = bridge.create_buffer("abc").buffer_id
        values = [bridge.info(buf), bridge.insert(buf, P(0, 0), "x"), bridge.create_view(buf), seen[-1],
                  *[e.payload for e in runtime.events]]
        for value in values:
            assert pickle.loads(pickle.dumps(value)) == value


def test_a_failing_subscriber_does_not_break_editing(data_dir: Path) -> None:
    """An exception in an in-process subscriber is logged; the edit still answers."""
    def broken(event: object) -> None:
        raise RuntimeError("subscriber bug")

    with hosted_bridge(data_dir) as (_, bridge):
        bridge.subscribe(broken)
        buf = bridge.create_buffer("a").buffer_id
        assert bridge.insert(buf, P(0, 1), "b").revision == 1
        assert bridge.content(buf) == "ab"
