"""What one sandboxed worker may do: :class:`SandboxPolicy`, validated when it is built.

The lead maps manifest grants onto this type; the sandbox never reads manifests.
Every problem is reported at once as a :class:`ValidationError` with one
:class:`Problem` per field, so a user fixing a manifest sees them all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from symphony_actors.domain.errors import Problem, ValidationError

__all__ = ["MAX_LISTED_PORTS", "SandboxPolicy"]

_EXTENSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}\*?$")  # NAME, or PREFIX_* for every name with it
#: Landlock takes one rule per TCP port; a longer list means "any port" (``connect_any_port``).
MAX_LISTED_PORTS = 4096
_MIN_MEMORY = 32 * 1024 * 1024  # below this a Python worker cannot even start


@dataclass(frozen=True, slots=True)
class SandboxPolicy:
    """The confinement of one extension worker.

    ``cpu_share`` is a fraction of one CPU core (0 < share <= 1), ``None`` for no cap.
    ``allow_metadata`` (``fs.metadata``) lets it change mode, owner, times and extended attributes
    of any file its user owns that it can name (seccomp sees no paths); setuid/setgid bits stay refused.
    ``memory_limit_bytes`` counts what the worker itself allocates (cgroup charge, or resident size
    under the watchdog), ``None`` for no cap. Network is granted when any port is listed or
    ``connect_any_port`` is set; without it no internet socket can even be created. Whatever the
    grant, TCP connect never reaches the host's reserved ports (its own listening ports and the
    kernel's ephemeral range, see ``Zygote(system_ports=...)``), and internet sockets are TCP only
    unless ``allow_udp`` (``net.udp``: UDP to any address and port, which no filter here can narrow).
    """

    extension_id: str
    extension_folder: Path
    data_folder: Path
    read_paths: tuple[Path, ...] = ()
    write_paths: tuple[Path, ...] = ()
    connect_ports: frozenset[int] = frozenset()
    bind_ports: frozenset[int] = frozenset()
    connect_any_port: bool = False
    allow_spawn: bool = False
    allow_metadata: bool = False
    allow_udp: bool = False
    env_names: tuple[str, ...] = ()
    memory_limit_bytes: int | None = 512 * 1024 * 1024
    cpu_share: float | None = None
    call_timeout_seconds: float = 30.0
    max_open_files: int = 256
    max_file_size_bytes: int = 1024 * 1024 * 1024
    max_processes: int = 32
    cpu_time_limit_seconds: float | None = None
    trusted: bool = field(default=False)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        set_ = object.__setattr__
        if not isinstance(self.extension_id, str) or not _EXTENSION_ID.match(self.extension_id):
            problems.append(Problem("extension_id", "must be 1-128 letters, digits, '.', '_' or '-', "
                                    f"starting with a letter or digit, got {self.extension_id!r}"))
        for name in ("extension_folder", "data_folder"):
            value = getattr(self, name)
            path = _as_path(value)
            if path is None:
                problems.append(Problem(name, f"must be a path, got {type(value).__name__}"))
            elif not path.is_absolute():
                problems.append(Problem(name, f"must be absolute, got {str(path)!r}"))
            else:
                set_(self, name, path)
        for name in ("read_paths", "write_paths"):
            value = getattr(self, name)
            if isinstance(value, (str, Path)) or not isinstance(value, (tuple, list, frozenset, set)):
                problems.append(Problem(name, "must be a tuple of absolute paths"))
                continue
            converted: list[Path] = []
            for i, item in enumerate(value):
                path = _as_path(item)
                if path is None or not path.is_absolute():
                    problems.append(Problem(f"{name}[{i}]", f"must be an absolute path, got {item!r}"))
                else:
                    converted.append(path)
            set_(self, name, tuple(converted))
        for name in ("connect_ports", "bind_ports"):
            value = getattr(self, name)
            if not isinstance(value, (frozenset, set, tuple, list)):
                problems.append(Problem(name, "must be a set of TCP ports"))
                continue
            bad = [p for p in value if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= 65535]
            if bad:
                problems.append(Problem(name, f"ports must be integers 1-65535, got {sorted(map(repr, bad))}"))
            elif len(value) > MAX_LISTED_PORTS:
                problems.append(Problem(name, f"at most {MAX_LISTED_PORTS} ports may be listed "
                                        "(use connect_any_port for a wide grant)"))
            set_(self, name, frozenset(value))
        if not isinstance(self.env_names, (tuple, list)) or isinstance(self.env_names, str):
            problems.append(Problem("env_names", "must be a tuple of environment variable names"))
        else:
            for i, env in enumerate(self.env_names):
                if not isinstance(env, str) or not _ENV_NAME.match(env):
                    problems.append(Problem(f"env_names[{i}]", f"not an environment variable name: {env!r}"))
            set_(self, "env_names", tuple(self.env_names))
        for name in ("connect_any_port", "allow_spawn", "allow_metadata", "allow_udp", "trusted"):
            if not isinstance(getattr(self, name), bool):
                problems.append(Problem(name, "must be true or false"))
        if self.memory_limit_bytes is not None and (
                not _is_int(self.memory_limit_bytes) or self.memory_limit_bytes < _MIN_MEMORY):
            problems.append(Problem("memory_limit_bytes", f"must be an integer >= {_MIN_MEMORY} (32 MiB) or None"))
        if self.cpu_share is not None and (not _is_number(self.cpu_share) or not 0 < self.cpu_share <= 1):
            problems.append(Problem("cpu_share", "must be a fraction of one core, 0 < share <= 1, or None"))
        if not _is_number(self.call_timeout_seconds) or not 0 < self.call_timeout_seconds <= 86400:
            problems.append(Problem("call_timeout_seconds", "must be a number of seconds, 0 < t <= 86400"))
        if self.cpu_time_limit_seconds is not None and (
                not _is_number(self.cpu_time_limit_seconds) or self.cpu_time_limit_seconds < 1):
            problems.append(Problem("cpu_time_limit_seconds", "must be at least 1 second (kernel granularity) "
                                    "or None"))
        if not _is_int(self.max_open_files) or not 16 <= self.max_open_files <= 1 << 20:
            problems.append(Problem("max_open_files", "must be an integer 16..1048576 (the interpreter needs a few)"))
        if not _is_int(self.max_file_size_bytes) or self.max_file_size_bytes < 0:
            problems.append(Problem("max_file_size_bytes", "must be a non-negative integer"))
        if not _is_int(self.max_processes) or not 1 <= self.max_processes <= 4096:
            problems.append(Problem("max_processes", "must be an integer 1..4096"))
        if problems:
            raise ValidationError(problems, subject="sandbox policy")

    @property
    def net_granted(self) -> bool:
        """Whether the worker may create internet sockets at all."""
        return bool(self.connect_ports or self.bind_ports or self.connect_any_port or self.allow_udp)

    def to_wire(self) -> dict[str, Any]:
        """A JSON-friendly form (paths as strings, port sets as sorted lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = [str(v) for v in value]
            elif isinstance(value, frozenset):
                value = sorted(value)
            out[f.name] = value
        return out

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> SandboxPolicy:
        """Inverse of :meth:`to_wire`; unknown keys are a validation problem, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError([Problem(k, "unknown field") for k in unknown], subject="sandbox policy")
        kw = dict(data)
        for name in ("read_paths", "write_paths"):
            if name in kw and isinstance(kw[name], list):
                kw[name] = tuple(Path(p) if isinstance(p, str) else p for p in kw[name])
        for name in ("extension_folder", "data_folder"):
            if isinstance(kw.get(name), str):
                kw[name] = Path(kw[name])
        for name in ("connect_ports", "bind_ports"):
            if name in kw and isinstance(kw[name], list):
                kw[name] = frozenset(kw[name])
        if "env_names" in kw and isinstance(kw["env_names"], list):
            kw["env_names"] = tuple(kw["env_names"])
        return cls(**kw)


def _as_path(value: object) -> Path | None:
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value and "\x00" not in value:
        return Path(value)
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
