"""The hosted ``artifacts`` service and its client: events, timers, streaming limits."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony_actors.domain.errors import BusyError, NotFoundError, UsageError
from symphony_actors.pit.artifacts.client import ArtifactClient
from symphony_actors.pit.artifacts.service import ArtifactService
from symphony_actors.ports.artifacts import MAX_PART_BYTES
from symphony_actors.testing.runtime import LocalRuntime


@pytest.fixture
def runtime(data_dir: Path) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(data_dir)
    rt.start("artifacts", "symphony_actors.pit.artifacts.service:build", max_uploads=2, index_delay=0.5)
    yield rt
    rt.close()


class RecordingCaller:
    """A Caller that forwards to a runtime and records the payload bytes of every message."""

    def __init__(self, runtime: LocalRuntime) -> None:
        self.runtime = runtime
        self.sizes: list[tuple[str, int]] = []

    def call(self, service: str, method: str, /, *, timeout: float | None = None, **kwargs: Any) -> Any:
        out = sum(len(v) for v in kwargs.values() if isinstance(v, bytes))
        result = self.runtime.call(service, method, **kwargs)
        back = len(result) if isinstance(result, bytes) else 0
        self.sizes.append((method, max(out, back)))
        return result

    def tell(self, service: str, method: str, /, **kwargs: Any) -> None:
        self.runtime.tell(service, method, **kwargs)


def test_no_message_carries_more_than_one_part(runtime: LocalRuntime) -> None:
    """A 5 MiB artifact goes up in upload parts and comes back in read_range parts of at most 1 MiB."""
    caller = RecordingCaller(runtime)
    client = ArtifactClient(caller)
    data = os.urandom(5 * MAX_PART_BYTES + 7)
    artifact_id = client.store(data, name="five")
    assert data == client.retrieve(artifact_id)
    assert max(size for _, size in caller.sizes) <= MAX_PART_BYTES
    methods = [m for m, _ in caller.sizes]
    assert methods.count("upload_part") == 6 and methods.count("read_range") == 6


def test_a_small_artifact_costs_one_call_each_way(runtime: LocalRuntime) -> None:
    caller = RecordingCaller(runtime)
    client = ArtifactClient(caller)
    client.retrieve(client.store(b"small"))
    assert [m for m, _ in caller.sizes] == ["store", "read_range"]


def test_new_artifacts_are_published_once(runtime: LocalRuntime) -> None:
    """artifacts.stored for a new artifact only; artifacts.deleted names what was unlinked."""
    client = ArtifactClient(runtime)
    parent = client.store(b"p", run_id="r", node_id="a")
    client.store(b"p", run_id="r", node_id="a")
    child = client.store(b"c", run_id="r", node_id="b", parents=[parent])
    stored = [e.payload for e in runtime.events_matching("artifacts.stored")]
    assert [parent, child] == [p["artifact_id"] for p in stored]
    assert ("r", "b", [parent]) == (stored[1]["run_id"], stored[1]["node_id"], stored[1]["parents"])
    client.delete(parent, force=True)
    (deleted,) = [e.payload for e in runtime.events_matching("artifacts.deleted")]
    assert {"artifact_id": parent, "forced": True, "unlinked_children": [child]} == deleted


def test_the_index_catches_up_on_a_timer(runtime: LocalRuntime) -> None:
    """A write schedules one flush; advancing the clock applies it."""
    client = ArtifactClient(runtime)
    client.store(b"indexed later", media_type="text/plain")
    client.store(b"and another", media_type="text/plain")
    service = runtime.services["artifacts"]
    assert isinstance(service, ArtifactService)
    assert runtime.pending_timers == 1
    assert service._open().index_pending() >= 2
    assert runtime.advance(0.5) == 1
    assert service._open().index_pending() == 0


def test_upload_limits(runtime: LocalRuntime) -> None:
    """Parts above 1 MiB, unknown uploads and too many open uploads are refused."""
    first = runtime.call("artifacts", "begin_upload")
    runtime.call("artifacts", "begin_upload")
    with pytest.raises(BusyError):
        runtime.call("artifacts", "begin_upload")
    with pytest.raises(UsageError):
        runtime.call("artifacts", "upload_part", upload_id=first, data=b"x" * (MAX_PART_BYTES + 1))
    with pytest.raises(NotFoundError):
        runtime.call("artifacts", "upload_part", upload_id="upl-nope", data=b"x")
    runtime.call("artifacts", "abort_upload", upload_id=first)
    with pytest.raises(NotFoundError):
        runtime.call("artifacts", "finish_upload", upload_id=first)


def test_finish_upload_with_bad_metadata_can_be_retried(runtime: LocalRuntime) -> None:
    upload_id = runtime.call("artifacts", "begin_upload")
    runtime.call("artifacts", "upload_part", upload_id=upload_id, data=b"payload")
    with pytest.raises(UsageError):
        runtime.call("artifacts", "finish_upload", upload_id=upload_id, media_type="nope")
    artifact_id = runtime.call("artifacts", "finish_upload", upload_id=upload_id, media_type="text/plain")
    assert runtime.call("artifacts", "retrieve", artifact_id=artifact_id) == b"payload"


def test_only_exported_methods_are_callable(runtime: LocalRuntime) -> None:
    with pytest.raises(NotFoundError):
        runtime.call("artifacts", "_open")
    with pytest.raises(NotFoundError):
        runtime.call("artifacts", "on_stop")


def test_single_messages_above_one_part_are_refused(runtime: LocalRuntime) -> None:
    """store and retrieve of more than 1 MiB in one message point to streaming; the client streams."""
    with pytest.raises(UsageError, match="begin_upload"):
        runtime.call("artifacts", "store", data=b"x" * (MAX_PART_BYTES + 1))
    artifact_id = ArtifactClient(runtime).store(b"y" * (MAX_PART_BYTES + 1))
    with pytest.raises(UsageError, match="read_range"):
        runtime.call("artifacts", "retrieve", artifact_id=artifact_id)
    assert ArtifactClient(runtime).retrieve(artifact_id) == b"y" * (MAX_PART_BYTES + 1)


def test_the_timer_works_through_a_backlog_in_batches(data_dir: Path) -> None:
    """Changes queued by other processes are applied index_batch at a time, ticks following closely."""
    from symphony_actors.pit.artifacts.store import ArtifactStore

    with ArtifactStore.open(data_dir) as other_process:
        for i in range(5):
            other_process.store(f"queued elsewhere {i}".encode(), media_type="text/plain")
    rt = LocalRuntime(data_dir)
    rt.start("artifacts", "symphony_actors.pit.artifacts.service:build", index_batch=2, index_delay=1.0)
    try:
        service = rt.services["artifacts"]
        assert isinstance(service, ArtifactService)
        assert rt.advance(1.0) == 1 and service._open().index_pending() == 3
        assert rt.advance(0.01) == 1 and service._open().index_pending() == 1
        assert rt.advance(0.01) == 1 and service._open().index_pending() == 0
        assert rt.pending_timers == 1
    finally:
        rt.close()
