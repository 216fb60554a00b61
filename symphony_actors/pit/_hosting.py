"""Helpers shared by the Pit services I host: option parsing, clocks, and a context that may be absent."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from symphony_actors.domain.errors import ConfigError
from symphony_actors.hosting import load_factory
from symphony_actors.ports.service import ActorContext, ServiceSettings

__all__ = ["ServiceBase", "clock_from", "plugin_from"]

Clock = Callable[[], float]


def clock_from(options: Mapping[str, Any]) -> Clock:
    """``options["clock"]`` (a callable, in-process only, e.g. ``FakeClock.time``) or the wall clock."""
    clock = options.get("clock")
    if clock is None:
        return time.time
    if not callable(clock):
        raise ConfigError("option 'clock' must be a callable returning seconds", option="clock")
    return clock  # type: ignore[no-any-return]


def plugin_from(settings: ServiceSettings, key: str, default: object) -> Any:
    """An object given in ``options[key]`` as itself (in-process) or as a ``"pkg.mod:factory"`` path."""
    value = settings.options.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return load_factory(value)(settings)
    return value


class ServiceBase:
    """Keeps the context once started and runs one periodic method.

    ``TIMER`` names the method the runtime calls every ``timer_s`` seconds (it calls :meth:`_repeat`
    around its work); ``on_stop`` saves (:meth:`_save`) and closes (:meth:`_close`). ``_publish`` and
    ``_later`` do nothing before ``on_start``, so the object also works called directly in-process."""

    ctx: ActorContext | None = None
    TIMER: ClassVar[str] = ""
    timer_s: float = 1.0

    def on_start(self, ctx: ActorContext) -> None:
        self.ctx = ctx
        if self.TIMER:
            self._later(self.timer_s, self.TIMER)

    def on_stop(self) -> None:
        self._save()
        self._close()

    def _save(self) -> None:
        """Write what must survive a restart (override)."""

    def _close(self) -> None:
        """Release files and databases (override)."""

    def _repeat(self, work: Callable[[], object]) -> None:
        """Run one timer period's ``work`` and schedule the next period even if it raised."""
        try:
            work()
        finally:
            self._later(self.timer_s, self.TIMER)

    def _publish(self, topic: str, payload: dict[str, Any]) -> None:
        if self.ctx is not None:
            self.ctx.publish(topic, payload)

    def _later(self, delay: float, method: str, **kwargs: Any) -> None:
        if self.ctx is not None:
            self.ctx.call_later(delay, method, **kwargs)
