"""The seam between the registry and the loader: what must be started, in which order, with which grants.

:func:`plan_load` resolves an installed extension's dependencies and returns
one :class:`LoadStep` per extension, dependencies first. The extension-host
loader (issue 6, part 7, built on the runtime) starts one extension actor per
step under the extension-host supervisor, derives the worker's sandbox from
``step.sandbox`` and hosts :class:`~symphony_actors.extension_host.inprocess.LoadedExtension`
inside it. The in-memory fake follows the same plan in-process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symphony_actors.extension_host.manifest import Limits
from symphony_actors.extension_host.permissions import SandboxGrants, sandbox_grants
from symphony_actors.extension_host.registry import InstalledExtension, Registry

__all__ = ["LoadStep", "path_variables", "plan_load"]


@dataclass(frozen=True, slots=True)
class LoadStep:
    """One extension to start: where its code is, what it may do, how much it may use."""

    id: str
    version: str
    type: str
    path: str
    entry: str
    granted: tuple[str, ...]
    variables: Mapping[str, str]
    limits: Limits
    sandbox: SandboxGrants

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version, "type": self.type, "path": self.path, "entry": self.entry,
                "granted": list(self.granted), "variables": dict(self.variables),
                "limits": {"memory_mb": self.limits.memory_mb, "cpu_share": self.limits.cpu_share,
                           "timeout_s": self.limits.timeout_s}}


def path_variables(ext: InstalledExtension, data_root: Path, workspace: str | None) -> dict[str, str]:
    """Values of ``${extension}``, ``${data}`` (a private folder per extension), ``${tmp}``, ``${workspace}``."""
    out = {"extension": str(ext.path), "data": str(data_root / "data" / ext.id),
           "tmp": str(Path(tempfile.gettempdir()) / f"symphony-ext-{ext.id}")}
    if workspace:
        out["workspace"] = str(Path(workspace).resolve())
    return out


def plan_load(registry: Registry, ext_id: str, *, workspace: str | None = None) -> tuple[LoadStep, ...]:
    """Steps to load ``ext_id`` and everything it depends on (enabled, resolved), dependencies first."""
    steps: list[LoadStep] = []
    for manifest in registry.resolve(ext_id).order:
        ext = registry.get(manifest.id)
        variables = path_variables(ext, registry.root, workspace)
        grants = ext.grant_set(variables)
        steps.append(LoadStep(ext.id, str(manifest.version), manifest.type, str(ext.path), manifest.entry,
                              ext.granted, variables, manifest.limits, sandbox_grants(grants)))
    return tuple(steps)
