"""Plain Thespian actors used as the same-run baseline in perf/bus.py (no Symphony layer at all)."""

from __future__ import annotations

import time
from typing import Any

from thespian.actors import Actor

__all__ = ["RawEcho", "RawPinger"]


class RawEcho(Actor):  # type: ignore[misc]
    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, tuple) and msg and msg[0] == "flood":
            self.count = getattr(self, "count", 0) + len(msg[1])
            return
        if msg == "count?":
            self.send(sender, getattr(self, "count", 0))
            return
        self.send(sender, msg)


class RawPinger(Actor):  # type: ignore[misc]
    """('pingpong', target, n) -> list of round-trip seconds, one message in flight at a time."""

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, tuple) and msg[0] == "pingpong":
            _, self.target, self.n = msg
            self.client, self.times, self.t0 = sender, [], time.perf_counter()
            self.send(self.target, "ping")
        elif msg == "ping":
            now = time.perf_counter()
            self.times.append(now - self.t0)
            if len(self.times) >= self.n:
                self.send(self.client, self.times)
            else:
                self.t0 = now
                self.send(self.target, "ping")
