"""Frame authentication, the key file and private directories (runtime/auth.py, the transport's buffer)."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from symphony_actors.domain.errors import AuthenticationError, UnsafePathError
from symphony_actors.runtime import auth
from symphony_actors.runtime.auth import DIRECT, THESPIAN, Keyring, SystemKey
from symphony_actors.runtime.transport import _AuthBuffer, _frame, _SealedPickle


def ring(*keys: SystemKey) -> Keyring:
    r = Keyring()
    for k in keys:
        r.add(k)
    return r


class Boom:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.marker}",))


# --------------------------------------------------------------------------- sealing


def test_a_sealed_frame_opens_to_its_body() -> None:
    r = ring(SystemKey.generate())
    body, why = r.open(r.seal(b"hello", THESPIAN), THESPIAN)
    assert body is not None and bytes(body) == b"hello" and why == ""


@pytest.mark.parametrize("flip", [0, 3, 5, 13, 20, -1])
def test_any_altered_byte_is_refused(flip: int) -> None:
    r = ring(SystemKey.generate())
    sealed = bytearray(r.seal(b"some pickle bytes", THESPIAN))
    sealed[flip] ^= 0x01
    body, why = r.open(bytes(sealed), THESPIAN)
    assert body is None and why


def test_a_frame_sealed_with_another_key_is_refused() -> None:
    mine, theirs = ring(SystemKey.generate()), ring(SystemKey.generate())
    body, why = mine.open(theirs.seal(b"x", THESPIAN), THESPIAN)
    assert body is None and "unknown key" in why


def test_a_forged_tag_under_a_known_key_id_is_refused() -> None:
    key = SystemKey.generate()
    r = ring(key)
    forged = auth.MAGIC_PREFIX + bytes((THESPIAN, 1)) + key.kid + b"\0" * auth.TAG_BYTES + b"x"
    body, why = r.open(forged, THESPIAN)
    assert body is None and "bad tag" in why


def test_a_tag_for_one_domain_does_not_open_another() -> None:
    r = ring(SystemKey.generate())
    body, why = r.open(r.seal(b"x", DIRECT), THESPIAN)
    assert body is None and "another purpose" in why


@pytest.mark.parametrize("payload", [b"", b"\xa7SY", b"\xa7SY\x01\x00x", b"\xa7SY\x01\x02" + b"\0" * 30,
                                     pickle.dumps("plain pickle")])
def test_unsealed_or_truncated_payloads_are_refused(payload: bytes) -> None:
    body, why = ring(SystemKey.generate()).open(payload, THESPIAN)
    assert body is None and why


def test_a_process_holding_two_keys_seals_for_both() -> None:
    a, b = SystemKey.generate(), SystemKey.generate()
    sealed = ring(a, b).seal(b"both", THESPIAN)
    for only in (ring(a), ring(b)):
        body, _ = only.open(sealed, THESPIAN)
        assert body is not None and bytes(body) == b"both"


def test_a_process_without_a_key_cannot_send() -> None:
    with pytest.raises(AuthenticationError, match="no system key"):
        Keyring().seal(b"x", THESPIAN)


def test_only_forgets_other_keys_and_maps_the_port() -> None:
    a, b = SystemKey.generate(), SystemKey.generate()
    r = ring(a, b)
    r.only(b, 4321)
    assert len(r) == 1 and r.for_port(4321) is b
    assert r.open(ring(a).seal(b"x", THESPIAN), THESPIAN)[0] is None


# --------------------------------------------------------------------------- Thespian's buffer


def feed(data: bytes, chunk: int = 7) -> _AuthBuffer:
    buf = _AuthBuffer()
    while data and not buf.isDone():
        n = min(chunk, buf.remainingAmount())
        buf.addMore(data[:n])
        data = data[n:]
    return buf


def test_the_buffer_never_unpickles_an_unsealed_frame(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    buf = feed(_frame(pickle.dumps(Boom(marker))))
    assert buf.isDone()
    body, why = buf.verdict()
    assert body is None and "no key tag" in why
    assert buf.completed() is None
    assert not marker.exists()


def test_the_buffer_unpickles_a_sealed_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "KEYRING", ring(SystemKey.generate()))
    monkeypatch.setattr("symphony_actors.runtime.transport.KEYRING", auth.KEYRING)
    buf = feed(_frame(_SealedPickle.dumps(("sender", {"n": 1}))))
    assert buf.completed() == (("sender", {"n": 1}), b"")


@pytest.mark.parametrize("data", [b"x" * 60, b"12a>" + b"x" * 20, b"%d>" % (1 << 40)])
def test_the_buffer_refuses_garbage_and_oversize_without_reading_on(data: bytes) -> None:
    buf = feed(data)
    assert buf.isDone() and buf.verdict()[0] is None and buf.completed() is None


# --------------------------------------------------------------------------- the key file


def test_the_key_file_is_made_once_0600_and_read_back(tmp_path: Path) -> None:
    key = auth.create_or_load_key(tmp_path)
    path = auth.key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert auth.create_or_load_key(tmp_path).raw == key.raw == auth.load_key(tmp_path).raw


def test_a_missing_key_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(AuthenticationError, match=str(tmp_path / "system.key")):
        auth.load_key(tmp_path)


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    auth.create_or_load_key(tmp_path)
    auth.key_path(tmp_path).chmod(0o644)
    with pytest.raises(UnsafePathError, match="mode 0600"):
        auth.load_key(tmp_path)


def test_a_symlinked_key_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    auth.create_or_load_key(real)
    (tmp_path / "data").mkdir()
    auth.key_path(tmp_path / "data").symlink_to(auth.key_path(real))
    with pytest.raises(AuthenticationError, match="cannot read"):
        auth.load_key(tmp_path / "data")


def test_a_malformed_key_is_refused(tmp_path: Path) -> None:
    path = auth.key_path(tmp_path)
    path.write_text("not hex\n")
    path.chmod(0o600)
    with pytest.raises(AuthenticationError, match="malformed"):
        auth.load_key(tmp_path)


# --------------------------------------------------------------------------- private directories


def test_a_new_directory_is_made_0700(tmp_path: Path) -> None:
    d = auth.ensure_private_dir(tmp_path / "new")
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_a_directory_others_can_write_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "open"
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(UnsafePathError, match="0777: other users can write"):
        auth.ensure_private_dir(d)


def test_a_directory_others_can_only_read_is_tightened(tmp_path: Path) -> None:
    d = tmp_path / "old"
    d.mkdir()
    d.chmod(0o755)
    auth.ensure_private_dir(d)
    assert stat.S_IMODE(d.stat().st_mode) == 0o700


def test_a_symlink_or_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        auth.ensure_private_dir(tmp_path / "link")
    with pytest.raises(UnsafePathError, match="not a directory"):
        auth.ensure_private_dir(tmp_path / "file")


@pytest.mark.skipif(os.geteuid() != 0, reason="making a directory owned by someone else needs root")
def test_a_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "theirs"
    d.mkdir(mode=0o700)
    os.chown(d, 65534, 65534)
    with pytest.raises(UnsafePathError, match="is owned by"):
        auth.ensure_private_dir(d)


# --------------------------------------------------------------------------- counting refusals


def test_refusals_are_counted_and_logged_in_the_audit_files(tmp_path: Path) -> None:
    count, log = tmp_path / "count", tmp_path / "security.log"
    auth.audit_to(count, log)
    try:
        auth.reject("thespian :1", "127.0.0.1:2", "bad tag")
        auth.reject("data plane x", "unix peer", "no key tag")
        assert auth.rejected_count() == 2
        assert [line.count('"auth_rejected"') for line in log.read_text().splitlines()] == [1, 1]
    finally:
        auth.audit_to(None, None)


def test_the_launcher_refuses_a_run_directory_others_can_write(tmp_path: Path) -> None:
    from symphony_actors.config import resolve
    from symphony_actors.runtime.launcher import write_run_file

    addr = resolve(20000, tmp_path)
    addr.run_dir.mkdir()
    addr.run_dir.chmod(0o777)
    with pytest.raises(UnsafePathError, match=f"{addr.run_dir} has mode 0777"):
        write_run_file(addr, state="starting")
    assert not addr.pid_file.exists()


def test_a_client_finds_its_key_explicit_first_then_held_then_recorded_then_home(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from symphony_actors.runtime import endpoint
    from symphony_actors.runtime.direct import socket_dir
    from symphony_actors.runtime.system import DATA_DIR_POINTER

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    explicit, recorded, home = (tmp_path / n for n in ("explicit", "recorded", "home"))
    keys = {}
    for d in (explicit, recorded, home):
        d.mkdir()
        keys[d] = auth.create_or_load_key(d).raw
    monkeypatch.setenv("SYMPHONY_HOME", str(home))
    held = Keyring()
    monkeypatch.setattr(endpoint, "KEYRING", held)
    port = 20001
    assert endpoint.client_key(port).raw == keys[home]  # nothing recorded: $SYMPHONY_HOME
    (socket_dir(port) / DATA_DIR_POINTER).write_text(str(recorded))
    assert endpoint.client_key(port).raw == keys[recorded]  # what the running system recorded
    mine = SystemKey.generate()
    held.add(mine, port)
    assert endpoint.client_key(port) is mine  # a key this process holds for the port
    assert endpoint.client_key(port, explicit).raw == keys[explicit]  # an explicit data_dir wins
