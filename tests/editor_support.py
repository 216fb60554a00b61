"""Helpers for the editor tests: host the bridge in-process and prove no editor process outlives a test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from symphony_actors.editor.bridge import EditorBridge
from symphony_actors.testing.runtime import LocalRuntime


def editor_children() -> set[int]:
    """Pids of editor processes started by this test process."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
            if "symphony_actors.editor" in cmdline or "crashy_editor" in cmdline:
                pids.add(child.pid)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return pids


def assert_gone(pids: set[int]) -> None:
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"editor processes left behind: {alive}"


@contextmanager
def hosted_bridge(data_dir: Path, **options: Any) -> Iterator[tuple[LocalRuntime, EditorBridge]]:
    """A LocalRuntime hosting the bridge as ``editor``; on exit every editor it started is gone."""
    before = editor_children()
    runtime = LocalRuntime(data_dir)
    bridge = runtime.start("editor", "symphony_actors.editor.bridge:build", **options)
    assert isinstance(bridge, EditorBridge)
    try:
        yield runtime, bridge
    finally:
        started = editor_children() - before
        runtime.close()
        assert_gone(started)


CRASHY = Path(__file__).resolve().parent / "crashy_editor.py"


def crashy_options(marks_dir: Path, **options: Any) -> dict[str, Any]:
    """Bridge options running :mod:`tests.crashy_editor` (fails once per marker in inserted text)."""
    import sys

    marks_dir.mkdir(parents=True, exist_ok=True)
    return {"command": [sys.executable, str(CRASHY)], "env": {"CRASHY_DIR": str(marks_dir)}, **options}
