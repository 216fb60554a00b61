"""Crash safety: a writer killed with SIGKILL at random points leaves a store that opens and verifies.

Each round starts the writer, lets it commit a random number of operations, kills it by
pid in the middle of whatever it does next (a store, a streamed upload, a delete, a gc or
an index flush), then checks: the store opens, ``verify`` finds nothing wrong, every
artifact the writer reported is there with its bytes, every reported delete is gone, and
search still answers.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from symphony_actors.domain.errors import NotFoundError
from symphony_actors.pit.artifacts.store import ArtifactStore
from tests.conftest import REPO

ROUNDS = 12
LINE_DEADLINE_S = 60.0


def _read_line(proc: subprocess.Popen[str], deadline: float) -> str:
    """The writer's next line, or fail at the deadline (no sleeping)."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=max(0.0, deadline - time.monotonic())):
            raise AssertionError("the writer printed nothing before the deadline")
    return proc.stdout.readline()


def _kill(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkill_at_random_points_leaves_a_consistent_store(data_dir: Path) -> None:
    rng = random.Random(8)
    alive: dict[str, str] = {}  # artifact id -> digest the writer reported after commit
    gone: set[str] = set()
    maybe: dict[str, str] = {}  # being deleted when the writer was killed: either there intact, or gone
    for round_no in range(ROUNDS):
        proc = subprocess.Popen([sys.executable, "-m", "tests.unit.artifacts._crash_writer", str(data_dir),
                                 str(round_no)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        try:
            wait_for = rng.choice([0, 1, 2, 5, 10, 20])  # 0: kill while it opens the store
            deadline = time.monotonic() + LINE_DEADLINE_S
            while len(lines) < wait_for:
                text = _read_line(proc, deadline)
                if not text.endswith("\n"):
                    break
                lines.append(text)
        finally:
            _kill(proc)
        # Everything the writer printed before it died counts, including what is still in the pipe.
        assert proc.stdout is not None and proc.stderr is not None
        lines += proc.stdout.read().split("\n")[:-1]  # the last piece may be a line cut short by the kill
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
        assert "Traceback" not in err, err
        for words in (text.split() for text in lines if text.strip()):
            if words[0] == "stored":
                alive[words[1]] = words[2]
            elif words[0] == "deleting":  # committed or not: the kill may come before "deleted"
                maybe[words[1]] = alive.pop(words[1])
            elif words[0] == "deleted":
                maybe.pop(words[1], None)
                gone.add(words[1])
        with ArtifactStore.open(data_dir) as store:
            report = store.verify()
            assert report.ok, report.problems[:5]
            for artifact_id, digest in alive.items():
                assert digest == store.info(artifact_id).digest
            for artifact_id in rng.sample(sorted(alive), min(3, len(alive))):
                store.retrieve(artifact_id)
            for artifact_id in gone:
                with pytest.raises(NotFoundError):
                    store.info(artifact_id)
            for artifact_id, digest in maybe.items():
                if store.exists(artifact_id):
                    assert digest == store.info(artifact_id).digest
            maybe.clear()
            store.search("crash")  # the index replays its queue after any crash
    assert alive, "the writer never committed anything: the test proved nothing"
