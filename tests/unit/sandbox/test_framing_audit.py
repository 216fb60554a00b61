"""The frame codec (never pickle) and the audit log's read-back."""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from symphony_actors.extension_host.sandbox import AuditLog, probe, read_audit
from symphony_actors.extension_host.sandbox._framing import MAX_FRAME, FrameError, FrameReader, send_frame


def test_frames_round_trip_and_split_reads_are_joined() -> None:
    """Several frames in one write, and one frame across many writes, decode the same."""
    a, b = socket.socketpair()
    with a, b:
        send_frame(a, {"id": 1, "payload": [1, 2, 3]})
        send_frame(a, {"id": 2, "payload": "é" * 1000})
        raw = struct.pack(">I", 9) + b'{"id": 3}'
        for i in range(len(raw)):
            a.sendall(raw[i:i + 1])
        reader = FrameReader(b)
        assert [reader.read(time.monotonic() + 5)["id"] for _ in range(3)] == [1, 2, 3]


def test_a_silent_peer_times_out_and_a_closed_one_is_eof() -> None:
    """The deadline is honoured; EOF is its own kind."""
    a, b = socket.socketpair()
    with b:
        reader = FrameReader(b)
        started = time.monotonic()
        with pytest.raises(FrameError) as info:
            reader.read(time.monotonic() + 0.05)
        assert info.value.kind == "timeout" and time.monotonic() - started < 2
        a.close()
        with pytest.raises(FrameError) as info:
            reader.read(time.monotonic() + 5)
        assert info.value.kind == "eof"


@pytest.mark.parametrize("raw", [
    struct.pack(">I", MAX_FRAME + 1),
    struct.pack(">I", 4) + b"\x80\x04K.",  # a pickle: refused as not JSON
    struct.pack(">I", 2) + b"[]",
])
def test_oversize_non_json_and_non_object_frames_are_protocol_errors(raw: bytes) -> None:
    """What a hostile worker might send never reaches pickle or an unbounded buffer."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(raw)
        with pytest.raises(FrameError) as info:
            FrameReader(b).read(time.monotonic() + 5)
        assert info.value.kind == "protocol"


def test_audit_records_read_back_in_order_and_by_extension(tmp_path: Path) -> None:
    """Records from several threads land whole, one per line; a torn line is reported, not fatal."""
    log = AuditLog(tmp_path / "audit.jsonl")

    def write(ext: str) -> None:
        for i in range(50):
            log.append(ext, "fs.read", f"/etc/file{i}", source="worker")

    threads = [threading.Thread(target=write, args=(f"ext-{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with (tmp_path / "audit.jsonl").open("ab") as fh:
        fh.write(b"{torn\n")
    records = read_audit(tmp_path / "audit.jsonl")
    assert len(records) == 201 and records[-1]["decision"] == "unreadable-line"
    mine = read_audit(tmp_path / "audit.jsonl", "ext-2")
    assert [r["target"] for r in mine] == [f"/etc/file{i}" for i in range(50)]
    assert {"time", "extension", "permission", "target", "decision", "source"} <= set(mine[0])
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o600


def test_reading_a_missing_audit_log_gives_nothing(tmp_path: Path) -> None:
    """No file yet means no denials yet."""
    assert read_audit(tmp_path / "none.jsonl") == []


def test_probe_reports_what_this_host_can_do() -> None:
    """The probe is cached and serialisable; can_confine follows Landlock."""
    caps = probe()
    assert caps is probe()
    wire = caps.to_wire()
    assert wire["can_confine"] == (caps.landlock_abi >= 1)
    assert caps.cgroup_version in (0, 1, 2)
