"""From a load step (manifest grants and limits) to the worker's :class:`SandboxPolicy`.

:func:`policy_for_step` is the one place where what the user granted becomes what the
kernel enforces for an extension's worker:

=====================================  ==============================================================
manifest                               SandboxPolicy
=====================================  ==============================================================
``fs.read:<path>``                     ``read_paths`` (``${workspace}``, ``${extension}``,
                                       ``${data}``, ``${tmp}`` substituted; undefined ones dropped)
``fs.write:<path>``                    ``write_paths`` (same substitution; write does not imply read)
``net.connect:<host>:<port|N-M|*>``    ``connect_ports`` (ranges expanded) or ``connect_any_port``
                                       when more than :data:`MAX_LISTED_PORTS` ports would be listed
``process.spawn``                      ``allow_spawn``
``fs.metadata``                        ``allow_metadata``
``net.udp``                            ``allow_udp``
``env.read:<NAME>`` / ``PREFIX_*``     ``env_names``
``limits.memory_mb``                   ``memory_limit_bytes`` (at least 32 MiB, the worker's floor)
``limits.cpu_share``                   ``cpu_share`` (a fraction of one core; >= 1 core: no cap)
``limits.timeout_s``                   ``call_timeout_seconds``
``${extension}``                       ``extension_folder`` (read-only, the entry is imported from it)
``${data}``                            ``data_folder`` (read-write, the worker's cwd and HOME)
=====================================  ==============================================================

Dependencies an extension may call through ``model.use`` run inside its own worker
(see :mod:`symphony_actors.extension_host.worker_entry`): their folders are added read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from symphony_actors.extension_host.permissions import GrantSet, sandbox_grants
from symphony_actors.extension_host.sandbox.policy import MAX_LISTED_PORTS, SandboxPolicy

__all__ = ["MIN_MEMORY_MB", "policy_for_step"]

MIN_MEMORY_MB = 32


def _ports(ranges: Iterable[tuple[int, int]]) -> tuple[frozenset[int], bool]:
    """Expanded TCP ports, or (empty, True) when the grant is too wide to list."""
    ports: set[int] = set()
    for low, high in ranges:
        low, high = max(1, low), min(65535, high)
        if high - low + 1 + len(ports) > MAX_LISTED_PORTS:
            return frozenset(), True
        ports.update(range(low, high + 1))
    return frozenset(ports), False


def policy_for_step(step: Mapping[str, Any], *, trusted: bool = False,
                    extra_read: Iterable[str] = ()) -> SandboxPolicy:
    """The sandbox policy of one extension from its load step (``LoadStep.to_dict()``).

    ``extra_read`` adds read-only folders (the dependencies run in the same worker).
    Raises ``ValidationError`` when the result is not a valid policy.
    """
    ext_id = str(step["id"])
    variables = {str(k): str(v) for k, v in dict(step.get("variables") or {}).items()}
    grants = sandbox_grants(GrantSet(ext_id, tuple(step.get("granted") or ()), variables), variables)
    limits = dict(step.get("limits") or {})
    connect, any_port = _ports(grants.tcp_ports)
    share = limits.get("cpu_share")
    cpu_share = float(share) if share is not None and 0 < float(share) < 1 else None
    memory_mb = limits.get("memory_mb")
    memory = None if memory_mb is None else max(MIN_MEMORY_MB, int(memory_mb)) * 1024 * 1024
    folder = Path(str(step.get("path") or variables["extension"]))
    data = Path(variables.get("data") or (folder / ".data"))
    reads = tuple(dict.fromkeys([*grants.fs_read, *(str(p) for p in extra_read)]))
    return SandboxPolicy(
        extension_id=ext_id,
        extension_folder=folder,
        data_folder=data,
        read_paths=tuple(Path(p) for p in reads),
        write_paths=tuple(Path(p) for p in grants.fs_write),
        connect_ports=connect,
        connect_any_port=any_port,
        allow_spawn=grants.process_spawn,
        allow_metadata=grants.fs_metadata,
        allow_udp=grants.net_udp,
        env_names=grants.env_names,
        memory_limit_bytes=memory,
        cpu_share=cpu_share,
        call_timeout_seconds=float(limits.get("timeout_s") or 3600.0),
        trusted=trusted,
    )
