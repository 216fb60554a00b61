"""The loader protocol: how the Pool Manager loads, unloads and probes a model instance.

Instruments plug in here later (an extension actor loading weights); the pool
only needs three non-blocking calls. ``InstantLoader`` is the default (loads at
once, never fails); ``ScriptedLoader`` runs on an injected clock and lets tests
and benchmarks decide load times, deaths and hangs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["InstantLoader", "ModelLoader", "Probe", "ScriptedLoader"]

Probe = Literal["loading", "ready", "dead", "stuck"]


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """What a loader is told about the instance to load."""

    instance: str
    model: str
    size_mb: float
    load_cost_s: float


class ModelLoader(Protocol):
    """Non-blocking loading of model instances; a slow load answers ``loading`` to probes until it is ready."""

    def load(self, request: LoadRequest) -> bool:
        """Start loading; ``True`` if the instance is ready already."""
        ...

    def unload(self, instance: str) -> None:
        """Free the instance (kill its process, drop its weights); called for failed instances too."""
        ...

    def probe(self, instance: str) -> Probe:
        """Cheap health check: still loading, ready, dead, or stuck (alive but not making progress)."""
        ...


class InstantLoader:
    """Loads in no time and never fails: for pools whose instruments need no loading."""

    def load(self, request: LoadRequest) -> bool:
        return True

    def unload(self, instance: str) -> None:
        return None

    def probe(self, instance: str) -> Probe:
        return "ready"


class ScriptedLoader:
    """A loader on an injected clock: each load takes ``load_cost_s`` (or ``load_time_s``), and tests kill or
    hang instances with :meth:`kill` and :meth:`hang`. ``loads``/``unloads`` count calls."""

    def __init__(self, clock: Callable[[], float], load_time_s: float | None = None,
                 fail_models: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.load_time_s = load_time_s
        self.fail_models = fail_models
        self.ready_at: dict[str, float] = {}
        self.broken: dict[str, Probe] = {}
        self.loads = 0
        self.unloads = 0

    def load(self, request: LoadRequest) -> bool:
        self.loads += 1
        t = request.load_cost_s if self.load_time_s is None else self.load_time_s
        self.ready_at[request.instance] = self.clock() + t
        if request.model in self.fail_models:
            self.broken[request.instance] = "dead"
        return t <= 0 and request.model not in self.fail_models

    def unload(self, instance: str) -> None:
        self.unloads += 1
        self.ready_at.pop(instance, None)
        self.broken.pop(instance, None)

    def probe(self, instance: str) -> Probe:
        broken = self.broken.get(instance)
        if broken is not None:
            return broken
        due = self.ready_at.get(instance)
        if due is None:
            return "dead"
        return "ready" if self.clock() >= due else "loading"

    def kill(self, instance: str) -> None:
        self.broken[instance] = "dead"

    def hang(self, instance: str) -> None:
        self.broken[instance] = "stuck"
