"""Small real services for runtime tests and benchmarks (echo, crash on demand, hang, count events)."""

from __future__ import annotations

import os
import time
from typing import Any

from symphony_actors.domain.errors import NotFoundError, UsageError
from symphony_actors.ports.service import ServiceSettings

__all__ = ["EchoService", "build_echo"]


class EchoService:
    """Echoes, counts, crashes or hangs on request; records events it is subscribed to."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.name = settings.name
        self.data_dir = settings.data_dir
        self.options = dict(settings.options)
        self.ctx: Any = None
        self.count = 0
        self.events: list[dict[str, Any]] = []
        self.received: list[Any] = []
        self.replies: list[Any] = []

    def on_start(self, ctx: Any) -> None:
        self.ctx = ctx
        if self.options.get("fail_start"):
            raise RuntimeError("configured to fail at start")
        for pattern in self.options.get("subscribe", ()):
            ctx.subscribe(pattern)

    def on_stop(self) -> None:
        with (self.data_dir / "stopped.log").open("a") as f:
            f.write(self.name + "\n")

    def echo(self, value: Any = None) -> Any:
        self.count += 1
        return value

    def pid(self) -> int:
        return os.getpid()

    def boom(self) -> None:
        raise RuntimeError("boom on request")

    def missing(self) -> None:
        raise NotFoundError("nothing here", what="missing")

    def die(self) -> None:
        os._exit(3)

    def hang(self, seconds: float = 3600.0) -> None:
        time.sleep(seconds)  # a hung handler, on purpose

    def exit_normally(self) -> None:
        self.ctx.exit()

    def record(self, value: Any = None) -> None:
        self.received.append(value)

    def received_values(self) -> list[Any]:
        return list(self.received)

    def forward(self, target: str, count: int = 1, start: int = 0) -> int:
        for i in range(start, start + count):
            self.ctx.tell(target, "record", value=i)
        return count

    def publish_many(self, topic: str, count: int) -> int:
        for i in range(count):
            self.ctx.publish(topic, {"i": i})
        return count

    # ---- benchmark helpers (perf/bus.py)
    def tick(self, value: Any = None) -> None:
        now = time.perf_counter()
        if self.count == 0:
            self.first_tick = now
        self.count += 1
        self.last_tick = now

    def tick_stats(self) -> dict[str, float]:
        span = getattr(self, "last_tick", 0.0) - getattr(self, "first_tick", 0.0)
        return {"count": self.count, "span_s": span}

    def reset(self) -> None:
        self.count = 0

    def blast(self, target: str, count: int) -> int:
        for i in range(count):
            self.ctx.tell(target, "tick", value=i)
        return count

    def pingpong(self, target: str, n: int) -> Any:
        """n sequential request/replies to ``target``; the reply is the list of round-trip seconds."""
        self._pp = {"target": target, "left": n, "times": [], "t0": time.perf_counter(), "done": self.ctx.defer()}
        self.ctx.request(target, "echo", {"value": 0}, reply="pp_reply")
        return self._pp["done"]

    def watch(self, target: str) -> bool:
        """Resolve ``target`` now (ctx.call needs its address)."""
        self.ctx.watch(target)
        return True

    def call_loop(self, target: str, n: int) -> list[float]:
        """n synchronous calls (ctx.call) of ``target.echo``; the round-trip seconds of each."""
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            self.ctx.call(target, "echo", value=0)
            times.append(time.perf_counter() - t0)
        return times

    def pp_reply(self, result: Any, error: Any, context: Any) -> None:
        pp = self._pp
        now = time.perf_counter()
        pp["times"].append(now - pp["t0"])
        pp["left"] -= 1
        if pp["left"] <= 0 or error is not None:
            pp["done"].resolve(pp["times"])
            return
        pp["t0"] = now
        self.ctx.request(pp["target"], "echo", {"value": 0}, reply="pp_reply")

    def on_event(self, topic: str, payload: Any) -> None:
        self.events.append({"topic": topic, "payload": payload})

    def seen_events(self) -> list[dict[str, Any]]:
        return list(self.events)

    def ask_other(self, target: str, value: Any) -> Any:
        reply = self.ctx.defer()
        self.ctx.request(target, "echo", {"value": value}, reply="got_reply", context=reply)
        return reply

    def _got_reply(self, result: Any, error: Any, context: Any) -> None:
        if error is not None:
            context.fail(error)
        else:
            context.resolve({"via": self.name, "result": result})

    def got_reply(self, result: Any, error: Any, context: Any) -> None:
        self._got_reply(result, error, context)


def build_echo(settings: ServiceSettings) -> EchoService:
    return EchoService(settings)


def negate(a: float) -> float:
    """A callable for ``builtin.call`` tests."""
    return -a


def scale(a: float, b: float = 2) -> float:
    """A callable for ``builtin.call`` tests."""
    return a * b


def read_number(path: str, **inputs: Any) -> float:
    """The number written in the file at ``path`` (inputs are ignored): a node that fails until the file
    says a number, so a test can fix a failed run's cause and retry it."""
    from pathlib import Path

    text = Path(path).read_text().strip()
    try:
        return float(text)
    except ValueError:
        raise UsageError(f"{path} does not hold a number: {text[:40]!r}", path=path) from None
