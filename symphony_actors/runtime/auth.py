"""The system's key, frame authentication and private directories.

Every byte stream a Symphony system accepts (Thespian's TCP ports: the admin,
the logger, each actor, each client; the Unix sockets of the data plane) carries
frames sealed with a keyed BLAKE3 MAC of the system's key. A receiver verifies
the tag, with a constant-time compare, *before* it hands the body to
``pickle.loads``; a frame that fails is never unpickled, its connection is
closed, and the rejection is counted and logged (:func:`reject`).

A sealed payload is ``MAGIC(4) | n(1) | n * (key id(8) | tag(16)) | body``. The
magic names the domain (a Thespian frame, a data-plane frame, a key probe and its
answer), and each domain uses its own key derived from the system key, so a tag
made for one can never be replayed as another. A process normally holds one key;
a process that talks to several systems (a test runner, a notebook attached to
two systems) holds several and seals each frame once per key, so every receiver
finds the tag for the key it knows.

The key is 32 random bytes, hex in ``<data_dir>/system.key`` (0600), made by the
first ``symphony start`` on that data directory and kept across restarts, so that
hosts that were handed it keep working.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from symphony_actors.domain.errors import AuthenticationError, UnsafePathError

__all__ = [
    "DIRECT",
    "KEYRING",
    "MAGIC_PREFIX",
    "PROBE",
    "PROBE_REPLY",
    "REJECT",
    "THESPIAN",
    "Keyring",
    "SystemKey",
    "audit_to",
    "create_or_load_key",
    "ensure_private_dir",
    "key_path",
    "load_key",
    "reject",
    "rejected_count",
]

KEY_FILE = "system.key"
KEY_BYTES = 32
KID_BYTES = 8
TAG_BYTES = 16
# Domains: the last byte of the magic. Each has its own derived key.
THESPIAN, DIRECT, PROBE, PROBE_REPLY = 1, 2, 3, 4
_CONTEXTS = {THESPIAN: "symphony-actors 2026 thespian frame", DIRECT: "symphony-actors 2026 direct frame",
             PROBE: "symphony-actors 2026 key probe", PROBE_REPLY: "symphony-actors 2026 key probe reply"}
MAGIC_PREFIX = b"\xa7SY"
#: What a listener writes back (unsealed, never a pickle) before it closes a connection it rejected.
REJECT = b"SYMPHONY-AUTH-REJECTED"

log = logging.getLogger("symphony.security")


# --------------------------------------------------------------------------- private directories

def ensure_private_dir(path: Path, create: bool = True) -> Path:
    """Create ``path`` (0700) or verify the existing one: a real directory, ours, not writable by others.

    A directory that is a symlink, not ours, or that group/world could write into (and so may hold files
    planted there) raises :class:`UnsafePathError` naming the path and the problem. One that is ours and
    only readable by others (0755, as older versions made them) is tightened to 0700: nobody else
    could have put anything in it."""
    if create:
        try:
            Path(path).mkdir(mode=0o700)
        except FileExistsError:
            pass  # someone made it: verified below like any existing directory
        except FileNotFoundError:
            raise UnsafePathError(f"{path}: its parent directory does not exist", path=str(path)) from None
    st = os.lstat(path)
    problem = None
    if stat.S_ISLNK(st.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(st.st_mode):
        problem = "is not a directory"
    elif st.st_uid != os.geteuid():
        problem = f"is owned by {_user(st.st_uid)}, not by {_user(os.geteuid())}"
    elif st.st_mode & 0o022:
        problem = f"has mode {stat.S_IMODE(st.st_mode):04o}: other users can write into it (must be 0700)"
    if problem:
        raise UnsafePathError(f"{path} {problem}; refusing to use it for Symphony's sockets or run files. "
                              "Remove it (or point TMPDIR elsewhere) and try again", path=str(path))
    if st.st_mode & 0o077:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)  # the directory just checked
        try:
            if os.fstat(fd).st_ino != st.st_ino:
                raise UnsafePathError(f"{path} was replaced while it was being checked", path=str(path))
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
    return path


def _user(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


# --------------------------------------------------------------------------- the key

@dataclass(frozen=True)
class SystemKey:
    """One system's secret, with the derived per-domain MAC keys and its public id."""

    raw: bytes = field(repr=False)
    path: Path | None = None
    kid: bytes = field(init=False)
    derived: dict[int, bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.raw) != KEY_BYTES:
            raise AuthenticationError(f"{self.path or 'key'}: a system key is {KEY_BYTES} bytes",
                                      path=str(self.path))
        derived = {d: blake3.blake3(self.raw, derive_key_context=c).digest() for d, c in _CONTEXTS.items()}
        kid = blake3.blake3(self.raw, derive_key_context="symphony-actors 2026 key id").digest(KID_BYTES)
        object.__setattr__(self, "derived", derived)
        object.__setattr__(self, "kid", kid)

    @classmethod
    def generate(cls) -> SystemKey:
        return cls(secrets.token_bytes(KEY_BYTES))

    def tag(self, body: bytes | memoryview, domain: int) -> bytes:
        return blake3.blake3(body, key=self.derived[domain]).digest(TAG_BYTES)


def key_path(data_dir: Path) -> Path:
    return Path(data_dir) / KEY_FILE


def create_or_load_key(data_dir: Path) -> SystemKey:
    """The key of the system on ``data_dir``: read it, or make it (O_EXCL, 0600) the first time."""
    path = key_path(data_dir)
    key = SystemKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return load_key(data_dir)
    with os.fdopen(fd, "w") as f:
        f.write(key.raw.hex() + "\n")
    return SystemKey(key.raw, path)


def load_key(data_dir: Path) -> SystemKey:
    """Read ``<data_dir>/system.key``; a missing, unsafe or malformed file is an :class:`AuthenticationError`."""
    path = key_path(data_dir)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise AuthenticationError(
            f"no system key at {path}: `symphony start` makes it in the system's data directory; "
            "connect with that data directory (data_dir=..., --data-dir or SYMPHONY_HOME)", path=str(path)) from None
    except OSError as exc:  # ELOOP: a symlink; EACCES: not ours
        raise AuthenticationError(f"cannot read the system key {path}: {exc.strerror}", path=str(path)) from None
    with os.fdopen(fd) as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise UnsafePathError(f"the system key {path} must be a regular file owned by {_user(os.geteuid())} "
                                  f"with mode 0600 (it is {stat.S_IMODE(st.st_mode):04o}, owner "
                                  f"{_user(st.st_uid)}); fix it or delete it and restart the system",
                                  path=str(path))
        text = f.read(4 * KEY_BYTES).strip()
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != KEY_BYTES:
        raise AuthenticationError(f"the system key {path} is malformed (expected {2 * KEY_BYTES} hex digits)",
                                  path=str(path))
    return SystemKey(raw, path)


# --------------------------------------------------------------------------- sealing frames

class Keyring:
    """The keys this process holds; seals with all of them, opens with any of them."""

    def __init__(self) -> None:
        self._keys: dict[bytes, SystemKey] = {}
        self._ports: dict[int, SystemKey] = {}
        self._heads: dict[int, tuple[bytes, tuple[SystemKey, ...]]] = {}
        self.generation = 0  # bumped on every change, so cached sealed frames (Thespian's ACK) are remade

    def add(self, key: SystemKey, port: int | None = None) -> None:
        self._keys[key.kid] = key
        if port is not None:
            self._ports[port] = key
        self._heads.clear()
        self.generation += 1

    def only(self, key: SystemKey, port: int | None = None) -> None:
        """Forget every other key (a system's own processes hold just its key)."""
        self._keys = {key.kid: key}
        self._ports = {port: key} if port is not None else {}
        self._heads.clear()
        self.generation += 1

    def for_port(self, port: int) -> SystemKey | None:
        return self._ports.get(port)

    def __len__(self) -> int:
        return len(self._keys)

    def seal(self, body: bytes, domain: int) -> bytes:
        head = self._heads.get(domain)
        if head is None:
            if not self._keys:
                raise AuthenticationError("this process holds no system key: it cannot talk to a system")
            keys = tuple(self._keys.values())
            head = (MAGIC_PREFIX + bytes((domain, len(keys))), keys)
            self._heads[domain] = head
        magic, keys = head
        if len(keys) == 1:
            key = keys[0]
            return b"".join((magic, key.kid, key.tag(body, domain), body))
        parts = [magic]
        for key in keys:
            parts += (key.kid, key.tag(body, domain))
        parts.append(body)
        return b"".join(parts)

    def open(self, payload: bytes | bytearray | memoryview, domain: int) -> tuple[memoryview | None, str]:
        """The authenticated body of ``payload``, or None and the reason it was refused."""
        head = bytes(payload[:5])
        if len(head) < 5 or head[:3] != MAGIC_PREFIX:
            return None, "not a sealed frame (no key tag)"
        if head[3] != domain:
            return None, f"sealed for another purpose (domain {head[3]}, expected {domain})"
        n = head[4]
        start = 5 + n * (KID_BYTES + TAG_BYTES)
        if n == 0 or len(payload) < start:
            return None, "truncated key tags"
        tags = bytes(payload[5:start])
        for pos in range(0, len(tags), KID_BYTES + TAG_BYTES):
            key = self._keys.get(tags[pos:pos + KID_BYTES])
            if key is not None:
                body = memoryview(payload)[start:]
                if secrets.compare_digest(key.tag(body, domain), tags[pos + KID_BYTES:pos + KID_BYTES + TAG_BYTES]):
                    return body, ""
                return None, "bad tag (wrong key or altered frame)"
        return None, "signed with an unknown key"


#: The keys of this process: used by the patched Thespian transport and by the data plane.
KEYRING = Keyring()


# --------------------------------------------------------------------------- rejections

@dataclass
class _Audit:
    count_file: Path | None = None
    log_file: Path | None = None
    local: int = 0


_AUDIT = _Audit()


def audit_to(count_file: Path | None, log_file: Path | None) -> None:
    """Count rejections in ``count_file`` (one byte each, appended) and log them to ``log_file`` (JSON lines).

    Set in a system's processes (inherited through fork), so ``status`` counts the rejections of all of
    them; a client process just counts its own and logs to the ``symphony.security`` logger."""
    _AUDIT.count_file, _AUDIT.log_file = count_file, log_file


def reject(where: str, peer: str, reason: str) -> None:
    """Record one refused connection or frame. Called from transport code: never raises."""
    _AUDIT.local += 1
    record = {"at": time.time(), "event": "auth_rejected", "pid": os.getpid(), "listener": where,
              "peer": peer, "reason": reason}
    if _AUDIT.count_file is None:
        log.warning("refused a connection to %s from %s: %s", where, peer, reason)
        return
    for path, data in ((_AUDIT.count_file, b"x"), (_AUDIT.log_file, (json.dumps(record) + "\n").encode())):
        if path is None:
            continue
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            log.error("cannot record a refused connection in %s: %s (%s)", path, exc, record)
            continue
        try:
            os.write(fd, data)
        finally:
            os.close(fd)


def rejected_count() -> int:
    """Connections and frames refused by this system's processes since it started (this process's if a client)."""
    if _AUDIT.count_file is None:
        return _AUDIT.local
    with contextlib.suppress(FileNotFoundError):
        return _AUDIT.count_file.stat().st_size
    return 0
