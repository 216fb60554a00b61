"""Extension permissions: the grammar, matching, per-extension grants, the access guard and its audit log.

Grammar (one string per permission, ``kind`` or ``kind:target``)::

    fs.read:<path>              read files under <path> (absolute, or ${workspace}/..., ${extension}, ${data}, ${tmp})
    fs.write:<path>             create/modify files under <path> (does not imply fs.read)
    fs.metadata                 chmod/chown/utime/xattrs (seccomp sees no paths: this covers every file
                                the system's user owns that the extension can name; setuid bits stay refused)
    net.connect:<host>:<port>   TCP connect; host a name, IPv4, [IPv6], *.suffix or *; port N, N-M or *
                                (never the system's own ports: its admin port and the kernel's ephemeral range)
    net.udp                     UDP to any address and port (no filter can narrow it: loopback included);
                                without it internet sockets are TCP only and names resolve over TCP
    process.spawn               start child processes
    env.read:<NAME>             read an environment variable; NAME or PREFIX_*
    bus.publish:<topic>         publish on topics matching the pattern (``*`` one segment, ``#`` the rest)
    bus.subscribe:<topic>       subscribe to patterns covered by the granted pattern
    artifact.read               read artifacts from the artifact store
    artifact.write              write artifacts to the artifact store
    model.use:<name>            use a model/instrument whose name matches (``*`` wildcards allowed)

The host checks bus, artifact and model access (and, in-process, file access
through the SDK context) at its boundary with :class:`AccessGuard`; a refusal
raises :class:`~symphony_actors.domain.errors.PermissionDenied` and appends one
JSON line to the audit log. The OS sandbox derives its confinement from
:func:`sandbox_grants`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import orjson

from symphony_actors.domain.errors import PermissionDenied, Problem, UsageError, ValidationError
from symphony_actors.domain.topics import check_pattern

__all__ = [
    "KINDS",
    "PATH_VARIABLES",
    "AccessGuard",
    "AuditLog",
    "GrantSet",
    "NetTarget",
    "Permission",
    "SandboxGrants",
    "parse_permission",
    "parse_permissions",
    "sandbox_grants",
]

# kind -> whether it takes a target (True), must not (False)
KINDS: Mapping[str, bool] = {
    "fs.read": True,
    "fs.write": True,
    "fs.metadata": False,
    "net.connect": True,
    "net.udp": False,
    "process.spawn": False,
    "env.read": True,
    "bus.publish": True,
    "bus.subscribe": True,
    "artifact.read": False,
    "artifact.write": False,
    "model.use": True,
}

PATH_VARIABLES = ("workspace", "extension", "data", "tmp")
MAX_PERMISSION_LENGTH = 512
_VARIABLE = re.compile(r"^\$\{([a-z]+)\}(/.*)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\*?$")
_MODEL_NAME = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9_.:/*@+-]{0,127}$")
_HOST_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True, slots=True)
class NetTarget:
    """A parsed ``net.connect`` target: host pattern and inclusive port range."""

    host: str
    port_low: int
    port_high: int

    def covers(self, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        if not self.port_low <= port <= self.port_high:
            return False
        if self.host == "*":
            return True
        if self.host.startswith("*."):
            return host.endswith(self.host[1:])
        return host == self.host


@dataclass(frozen=True, slots=True)
class Permission:
    """One permission: ``kind`` and an optional ``target`` (normalised), e.g. ``bus.publish`` / ``run.#``."""

    kind: str
    target: str | None = None

    def __str__(self) -> str:
        return self.kind if self.target is None else f"{self.kind}:{self.target}"

    @property
    def net(self) -> NetTarget:
        """The host/port range of a ``net.connect`` permission."""
        if self.kind != "net.connect" or self.target is None:
            raise UsageError(f"{self} is not a net.connect permission")
        return _parse_net(self.target)

    def covers(self, kind: str, target: str | None, variables: Mapping[str, str] | None = None) -> bool:
        """Whether this granted permission allows ``kind`` on ``target``."""
        if kind != self.kind:
            return False
        if self.target is None:
            return True
        if target is None:
            return False
        if kind in ("bus.publish", "bus.subscribe"):
            return _pattern_covers(self.target, target)
        if kind in ("fs.read", "fs.write"):
            base = expand_path(self.target, variables or {})
            return base is not None and _path_within(target, base)
        if kind == "net.connect":
            host, _, port = target.rpartition(":")
            return port.isdigit() and self.net.covers(host, int(port))
        if kind == "env.read":
            return (target.startswith(self.target[:-1]) if self.target.endswith("*")
                    else target == self.target)
        if kind == "model.use":
            return fnmatch.fnmatchcase(target, self.target)
        return False


def parse_permission(text: object) -> Permission:
    """Parse one permission string; raises ``UsageError`` saying what is wrong."""
    if not isinstance(text, str):
        raise UsageError(f"a permission must be a string, not {type(text).__name__}")
    if not text or len(text) > MAX_PERMISSION_LENGTH:
        raise UsageError(f"a permission must be 1-{MAX_PERMISSION_LENGTH} characters long")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"permission {text!r} contains control characters")
    kind, sep, target = text.partition(":")
    if kind not in KINDS:
        close = fnmatch.filter(KINDS, kind.split(".")[0] + ".*") or sorted(KINDS)
        raise UsageError(f"unknown permission kind {kind!r} in {text!r}; known: {', '.join(close)}")
    takes_target = KINDS[kind]
    if not takes_target:
        if sep:
            raise UsageError(f"permission {kind!r} takes no target (got {text!r})")
        return Permission(kind)
    if not sep or not target:
        raise UsageError(f"permission {kind!r} needs a target, e.g. {_EXAMPLES[kind]!r}")
    return Permission(kind, _normalise_target(kind, target, text))


def parse_permissions(items: Iterable[object], path: str = "permissions") -> tuple[Permission, ...]:
    """Parse many permissions, reporting every bad one (with its index) in one ``ValidationError``."""
    out: list[Permission] = []
    problems: list[Problem] = []
    seen: set[Permission] = set()
    for i, item in enumerate(items):
        try:
            perm = parse_permission(item)
        except UsageError as exc:
            problems.append(Problem(f"{path}[{i}]", exc.message))
            continue
        if perm in seen:
            problems.append(Problem(f"{path}[{i}]", f"duplicate permission {str(perm)!r}"))
            continue
        seen.add(perm)
        out.append(perm)
    if problems:
        raise ValidationError(problems, subject="permissions")
    return tuple(out)


_EXAMPLES = {
    "fs.read": "fs.read:${workspace}",
    "fs.write": "fs.write:${data}/cache",
    "net.connect": "net.connect:api.example.com:443",
    "env.read": "env.read:HOME",
    "bus.publish": "bus.publish:ext.myname.#",
    "bus.subscribe": "bus.subscribe:run.*.node.#",
    "model.use": "model.use:symphony.summarise",
}


def _normalise_target(kind: str, target: str, text: str) -> str:
    if kind in ("fs.read", "fs.write"):
        return _normalise_path(target, text)
    if kind == "net.connect":
        net = _parse_net(target)
        host = f"[{net.host}]" if ":" in net.host else net.host
        port = "*" if (net.port_low, net.port_high) == (1, 65535) else (
            str(net.port_low) if net.port_low == net.port_high else f"{net.port_low}-{net.port_high}")
        return f"{host}:{port}"
    if kind == "env.read":
        if not _ENV_NAME.match(target):
            raise UsageError(f"{text!r}: environment variable name must match [A-Za-z_][A-Za-z0-9_]* "
                             "(optionally ending in *)")
        return target
    if kind in ("bus.publish", "bus.subscribe"):
        try:
            check_pattern(target)
        except UsageError as exc:
            raise UsageError(f"{text!r}: {exc.message}") from None
        if any(c in target for c in " \t/\\"):
            raise UsageError(f"{text!r}: topic patterns contain no spaces or slashes")
        return target
    if kind == "model.use":
        if not _MODEL_NAME.match(target):
            raise UsageError(f"{text!r}: model name has characters outside [A-Za-z0-9_.:/*@+-]")
        return target
    raise UsageError(f"{text!r}: unexpected target")  # pragma: no cover - KINDS covers every kind


def _normalise_path(target: str, text: str) -> str:
    if "\x00" in target or "\\" in target:
        raise UsageError(f"{text!r}: paths contain no NUL or backslash")
    m = _VARIABLE.match(target)
    if target.startswith("$"):
        if m is None or m.group(1) not in PATH_VARIABLES:
            raise UsageError(f"{text!r}: a path starts with / or one of "
                             + ", ".join("${" + v + "}" for v in PATH_VARIABLES))
        rest = m.group(2) or ""
        head = "${" + m.group(1) + "}"
    elif target.startswith("/"):
        head, rest = "", target
    else:
        raise UsageError(f"{text!r}: relative paths are ambiguous; start with / or ${{workspace}}")
    parts = [p for p in PurePosixPath(rest or "/").parts if p != "/"]
    if any(p in ("..", ".") for p in parts):
        raise UsageError(f"{text!r}: '..' and '.' segments are not allowed")
    if any("*" in p or "?" in p for p in parts):
        raise UsageError(f"{text!r}: wildcards are not allowed in paths; a directory grants its subtree")
    joined = "/".join(parts)
    return f"{head}/{joined}" if head and joined else (head or "/" + joined)


def _parse_net(target: str) -> NetTarget:
    host, sep, port = target.rpartition(":")
    if not sep or not host:
        raise UsageError(f"net.connect target {target!r} must be <host>:<port>")
    if host.startswith("["):
        if not host.endswith("]"):
            raise UsageError(f"net.connect host {host!r}: unterminated [IPv6]")
        try:
            host = str(ipaddress.IPv6Address(host[1:-1]))
        except ValueError:
            raise UsageError(f"net.connect host {host!r} is not an IPv6 address") from None
    else:
        host = host.lower()
        if host != "*":
            try:
                host = str(ipaddress.IPv4Address(host))
            except ValueError:
                if len(host) > 253 or not _HOST_NAME.match(host):
                    raise UsageError(f"net.connect host {host!r} is not a host name, IP address, *.suffix or *"
                                     ) from None
    low, high = _parse_ports(port, target)
    return NetTarget(host, low, high)


def _parse_ports(port: str, target: str) -> tuple[int, int]:
    if port == "*":
        return 1, 65535
    lo, dash, hi = port.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()) or len(lo) > 5 or len(hi) > 5:
        raise UsageError(f"net.connect port {port!r} in {target!r} must be N, N-M or *")
    low, high = int(lo), int(hi) if dash else int(lo)
    if not 1 <= low <= high <= 65535:
        raise UsageError(f"net.connect ports {port!r} must lie in 1-65535, low <= high")
    return low, high


def _pattern_covers(grant: str, wanted: str) -> bool:
    """Whether every topic matched by pattern ``wanted`` is matched by pattern ``grant``."""
    gp, wp = grant.split("."), wanted.split(".")
    for i, g in enumerate(gp):
        if g == "#":
            return True
        if i >= len(wp):
            return False
        w = wp[i]
        if w == "#":
            return False
        if g != "*" and g != w:
            return False
    return len(gp) == len(wp)


def expand_path(target: str, variables: Mapping[str, str]) -> str | None:
    """A granted path with its ``${variable}`` replaced; None if the variable is not defined here."""
    m = _VARIABLE.match(target)
    if m is None:
        return target
    base = variables.get(m.group(1))
    if not base:
        return None
    return os.path.normpath(base + (m.group(2) or ""))


def _path_within(path: str, base: str) -> bool:
    real = os.path.realpath(path)
    root = os.path.realpath(base)
    return real == root or real.startswith(root.rstrip("/") + "/")


# --------------------------------------------------------------------------- grants


class GrantSet:
    """The permissions granted to one extension, with path variables for ``fs.*`` checks."""

    __slots__ = ("_by_kind", "extension", "permissions", "variables")

    def __init__(self, extension: str, permissions: Iterable[Permission | str],
                 variables: Mapping[str, str] | None = None) -> None:
        self.extension = extension
        perms = tuple(p if isinstance(p, Permission) else parse_permission(p) for p in permissions)
        self.permissions: tuple[Permission, ...] = perms
        self.variables: dict[str, str] = dict(variables or {})
        self._by_kind: dict[str, list[Permission]] = {}
        for p in perms:
            self._by_kind.setdefault(p.kind, []).append(p)

    def allows(self, kind: str, target: str | None = None) -> bool:
        return any(p.covers(kind, target, self.variables) for p in self._by_kind.get(kind, ()))

    def __iter__(self) -> Iterator[Permission]:
        return iter(self.permissions)

    def strings(self) -> list[str]:
        return [str(p) for p in self.permissions]


@dataclass(frozen=True, slots=True)
class SandboxGrants:
    """What the OS sandbox must allow, derived from granted permissions (paths expanded, absolute)."""

    fs_read: tuple[str, ...]
    fs_write: tuple[str, ...]
    tcp_connect: tuple[NetTarget, ...]
    process_spawn: bool
    env_names: tuple[str, ...]
    fs_metadata: bool = False
    net_udp: bool = False

    @property
    def tcp_ports(self) -> tuple[tuple[int, int], ...]:
        """Distinct inclusive port ranges (Landlock filters TCP by port, not host)."""
        return tuple(sorted({(t.port_low, t.port_high) for t in self.tcp_connect}))

    def env_allowed(self, name: str) -> bool:
        return any(name.startswith(n[:-1]) if n.endswith("*") else name == n for n in self.env_names)


def sandbox_grants(grants: GrantSet | Iterable[Permission | str],
                   variables: Mapping[str, str] | None = None) -> SandboxGrants:
    """The OS-level view of a grant set: file trees to read/write, TCP targets, spawn and env names.

    Paths with a ``${variable}`` not defined in ``variables`` are left out (nothing granted).
    """
    gs = grants if isinstance(grants, GrantSet) else GrantSet("", grants, variables)
    env_vars = {**gs.variables, **(variables or {})}
    reads: list[str] = []
    writes: list[str] = []
    nets: list[NetTarget] = []
    spawn = metadata = udp = False
    envs: list[str] = []
    for p in gs:
        if p.kind in ("fs.read", "fs.write") and p.target is not None:
            path = expand_path(p.target, env_vars)
            if path is not None:
                (reads if p.kind == "fs.read" else writes).append(path)
        elif p.kind == "net.connect":
            nets.append(p.net)
        elif p.kind == "process.spawn":
            spawn = True
        elif p.kind == "fs.metadata":
            metadata = True
        elif p.kind == "net.udp":
            udp = True
        elif p.kind == "env.read" and p.target is not None:
            envs.append(p.target)
    return SandboxGrants(tuple(reads), tuple(writes), tuple(nets), spawn, tuple(envs), metadata, udp)


# --------------------------------------------------------------------------- audit and guard


class AuditLog:
    """Append-only JSONL audit log: one object per line with time, extension, permission, target, decision.

    Each record is written with one ``write`` on an ``O_APPEND`` descriptor, so lines from several
    processes (the host, sandboxed workers) never interleave.
    """

    def __init__(self, path: Path | str | None, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path) if path is not None else None
        self._clock = clock
        self._lock = threading.Lock()
        self._memory: list[dict[str, Any]] = []   # path None: records kept in memory (tests, fakes)

    def append(self, extension: str, permission: str, target: str | None, decision: str = "denied",
               **extra: Any) -> dict[str, Any]:
        now = self._clock()
        record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z",
                  "extension": extension, "permission": permission, "target": target, "decision": decision,
                  **extra}
        line = orjson.dumps(record) + b"\n"
        if self.path is None:
            self._memory.append(record)
            return record
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        return record

    def read(self, extension: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Records, oldest first (the last ``limit`` of them); lines that do not parse are skipped and counted."""
        if self.path is None:
            recs = [r for r in self._memory if extension is None or r.get("extension") == extension]
            return recs[-limit:] if limit else recs
        if not self.path.exists():
            return []
        out: list[dict[str, Any]] = []
        with self.path.open("rb") as fh:
            for raw in fh:
                try:
                    rec = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    out.append({"time": None, "extension": None, "permission": None, "target": None,
                                "decision": "unreadable-line"})
                    continue
                if isinstance(rec, dict) and (extension is None or rec.get("extension") == extension):
                    out.append(rec)
        return out[-limit:] if limit else out


class AccessGuard:
    """Checks one extension's accesses against its grants; a refusal raises ``PermissionDenied`` and is audited."""

    def __init__(self, grants: GrantSet, audit: AuditLog | None) -> None:
        self.grants = grants
        self.audit = audit

    @property
    def extension(self) -> str:
        return self.grants.extension

    def allows(self, kind: str, target: str | None = None) -> bool:
        return self.grants.allows(kind, target)

    def check(self, kind: str, target: str | None = None) -> None:
        """Allow silently or raise ``PermissionDenied`` (and append an audit record)."""
        if self.grants.allows(kind, target):
            return
        permission = kind if target is None else f"{kind}:{target}"
        if self.audit is not None:
            self.audit.append(self.extension, kind, target)
        raise PermissionDenied(f"extension {self.extension} is not granted {permission}",
                               extension=self.extension, permission=kind, target=target)

    def check_publish(self, topic: str) -> None:
        self.check("bus.publish", topic)

    def check_subscribe(self, pattern: str) -> None:
        self.check("bus.subscribe", pattern)

    def check_artifact_read(self, artifact_id: str | None = None) -> None:
        self._check_bare("artifact.read", artifact_id)

    def check_artifact_write(self, name: str | None = None) -> None:
        self._check_bare("artifact.write", name)

    def check_model(self, name: str) -> None:
        self.check("model.use", name)

    def check_fs(self, path: str | os.PathLike[str], mode: str = "read") -> None:
        if mode not in ("read", "write"):
            raise UsageError(f"file access mode must be 'read' or 'write', not {mode!r}")
        self.check(f"fs.{mode}", os.path.normpath(Path(path).absolute()))

    def _check_bare(self, kind: str, target: str | None) -> None:
        # artifact.* take no target in the grammar; the target is recorded in the audit for context only.
        if self.grants.allows(kind):
            return
        if self.audit is not None:
            self.audit.append(self.extension, kind, target)
        raise PermissionDenied(f"extension {self.extension} is not granted {kind}"
                               + (f" (for {target})" if target else ""),
                               extension=self.extension, permission=kind, target=target)
