"""Where a Symphony system lives: its admin port and data directory, and what it trusts.

Resolved from, in order: explicit arguments (CLI flags), the environment
(``SYMPHONY_PORT``, ``SYMPHONY_HOME``), then defaults. Nothing here runs at
import time.

The data directory is private: :func:`ensure_private_dir` creates it 0700, tightens one
that is group/world-accessible (and everything in it), and refuses one owned by another
user; :func:`private_system` wraps the start of a system so that every process forked
from it creates files 0600 and directories 0700 (umask 077) and enforces the user's
allowed callables (:func:`callable_policy`).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from symphony_actors.domain import callables
from symphony_actors.domain.callables import CallablePolicy
from symphony_actors.domain.errors import ConfigError, UsageError

__all__ = ["ALLOWED_CALLABLES_ENV", "ALLOWED_CALLABLES_FILE", "DEFAULT_PORT", "PRIVATE_UMASK", "SystemAddress",
           "callable_policy", "cli_process", "ensure_private_dir", "private_system", "resolve"]

DEFAULT_PORT = 19500
PRIVATE_UMASK = 0o077
ALLOWED_CALLABLES_ENV = "SYMPHONY_ALLOWED_CALLABLES"
ALLOWED_CALLABLES_FILE = "allowed-callables"
_MAX_ALLOW_FILE = 64 * 1024


@dataclass(frozen=True, slots=True)
class SystemAddress:
    """One system: its Thespian admin port on loopback and its data directory."""

    port: int
    data_dir: Path

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"symphony-{self.port}.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / f"symphony-{self.port}.log"


def _default_home(env: Mapping[str, str]) -> Path:
    xdg = env.get("XDG_DATA_HOME")
    # The XDG spec: a relative XDG_DATA_HOME is invalid and must be ignored.
    if xdg and Path(xdg).is_absolute():
        base = Path(xdg)
    else:
        base = Path(env.get("HOME") or str(Path.home())) / ".local" / "share"
    return base / "symphony"


def resolve(port: int | str | None = None, data_dir: str | os.PathLike[str] | None = None,
            env: Mapping[str, str] | None = None) -> SystemAddress:
    """Resolve the address of a system from arguments, then environment, then defaults."""
    env = os.environ if env is None else env
    # An empty SYMPHONY_PORT (``SYMPHONY_PORT= symphony ...``) means unset, as SYMPHONY_HOME does.
    raw_port: int | str = port if port is not None else (env.get("SYMPHONY_PORT") or DEFAULT_PORT)
    try:
        port_num = int(raw_port)
    except (TypeError, ValueError):
        raise ConfigError(f"port {raw_port!r} is not a number (from --port or SYMPHONY_PORT)") from None
    if not 1024 <= port_num <= 65535:
        raise ConfigError(f"port {port_num} is out of range: use 1024-65535", port=port_num)
    raw_dir = data_dir if data_dir is not None else env.get("SYMPHONY_HOME")
    path = Path(raw_dir).expanduser() if raw_dir else _default_home(env)
    return SystemAddress(port_num, path.resolve())


def ensure_private_dir(path: Path, *, report: bool = True) -> list[str]:
    """Create ``path`` 0700, or make an existing one private; returns what was tightened.

    A directory owned by another user is refused (``ConfigError``): its owner could read or replace
    what the system writes there. A group/world-accessible one is tightened to 0700 and everything
    in it to owner-only (a message on stderr says so when ``report``).
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot create the data directory {path}: {exc.strerror or exc}", path=str(path)) from exc
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"the data directory {path} is not a directory", path=str(path))
    if st.st_uid != os.geteuid():
        raise ConfigError(f"the data directory {path} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}): "
                          "refusing to use it; pick another --data-dir / SYMPHONY_HOME", path=str(path),
                          owner=st.st_uid)
    if not st.st_mode & 0o077:
        return []
    tightened = [f"{path} ({stat.S_IMODE(st.st_mode):04o})"]
    path.chmod(0o700)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            p = Path(root) / name
            try:
                mode = p.lstat().st_mode
                if stat.S_ISLNK(mode) or not mode & 0o077:
                    continue
                p.chmod(stat.S_IMODE(mode) & 0o700)
                tightened.append(f"{p} ({stat.S_IMODE(mode):04o})")
            except OSError as exc:
                raise ConfigError(f"cannot make {p} private: {exc.strerror or exc}", path=str(p)) from exc
    if report:
        print(f"symphony: the data directory {path} was accessible to other users: made it 0700 and "
              f"{len(tightened) - 1} file(s) in it owner-only", file=sys.stderr)
    return tightened


def callable_policy(data_dir: Path | None, env: Mapping[str, str] | None = None) -> CallablePolicy:
    """The user's allowed callables for ``builtin.call``: ``$SYMPHONY_ALLOWED_CALLABLES`` (comma or space
    separated) plus ``<data_dir>/allowed-callables`` (one pattern a line, ``#`` comments). Empty by default."""
    env = os.environ if env is None else env
    items: list[str] = []
    sources: list[str] = []
    raw = env.get(ALLOWED_CALLABLES_ENV, "")
    if raw.strip():
        items += raw.replace(",", " ").split()
        sources.append(f"${ALLOWED_CALLABLES_ENV}")
    if data_dir is not None:
        file = data_dir / ALLOWED_CALLABLES_FILE
        try:
            with file.open("rb") as f:
                text = f.read(_MAX_ALLOW_FILE + 1)
        except FileNotFoundError:
            text = b""
        except OSError as exc:
            raise ConfigError(f"cannot read {file}: {exc.strerror or exc}", path=str(file)) from exc
        if len(text) > _MAX_ALLOW_FILE:
            raise ConfigError(f"{file} is larger than {_MAX_ALLOW_FILE} bytes", path=str(file))
        lines = [ln.split("#", 1)[0] for ln in text.decode("utf-8", "replace").splitlines()]
        if any(ln.strip() for ln in lines):
            items += [w for ln in lines for w in ln.split()]
            sources.append(str(file))
    if not items:
        return callables.DENY_ALL
    try:
        return CallablePolicy.parse(items, " and ".join(sources))
    except UsageError as exc:
        raise ConfigError(exc.message, **exc.details) from None


@contextmanager
def private_system(data_dir: Path, env: Mapping[str, str] | None = None) -> Iterator[CallablePolicy]:
    """Around the start of a system: a private data dir, umask 077 and the user's allowed callables, all
    inherited by the processes forked inside the block; this process gets its umask and policy back after."""
    ensure_private_dir(data_dir)
    policy = callable_policy(data_dir, env)
    old_umask = os.umask(PRIVATE_UMASK)
    try:
        with callables.using(policy):
            yield policy
    finally:
        os.umask(old_umask)


@contextmanager
def cli_process(port: int | str | None, data_dir: str | os.PathLike[str] | None) -> Iterator[None]:
    """Around a ``symphony`` command: what it writes is owner-only (umask 077, inherited by the system it
    starts) and ``symphony validate`` applies the user's allowed callables; both restored after (for callers
    of ``cli.main`` in-process, such as tests)."""
    address = resolve(port, data_dir)
    try:
        policy = callable_policy(address.data_dir)
    except ConfigError as exc:  # a broken allow-list must not stop `symphony stop`: say so, allow nothing
        print(f"symphony: {exc}; builtin.call allows nothing until it is fixed", file=sys.stderr)
        policy = callables.DENY_ALL
    old_umask = os.umask(PRIVATE_UMASK)
    try:
        with callables.using(policy):
            yield
    finally:
        os.umask(old_umask)
