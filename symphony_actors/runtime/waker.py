"""Getting work from other threads back onto an actor's loop, safely.

Thespian actors are single-threaded: only the loop may send, touch the outbox or
schedule timers. A service that runs work on its own threads (the DAG executors'
task runners, the extension actors' worker calls) hands each callback to
:meth:`Waker.post`; the waker keeps it in a locked queue and writes one byte to
a socketpair whose reading end the actor watches (``ThespianWatch``, as the
direct data plane's sockets are watched). Thespian then wakes the actor with a
``WatchMessage``, and the loop runs every queued callback in order
(:meth:`Waker.drain`). Only the first post after a drain writes a byte, so a
burst of posts costs one wake-up.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["Waker"]

Callback = tuple[Callable[..., Any], tuple[Any, ...]]


class Waker:
    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._lock = threading.Lock()
        self._calls: deque[Callback] = deque()
        self._armed = False
        self.closed = False

    def fileno(self) -> int:
        return self._r.fileno()

    def post(self, callback: Callable[..., Any], *args: Any) -> None:
        """Queue ``callback(*args)`` to run on the loop; callable from any thread."""
        with self._lock:
            if self.closed:
                return  # the actor is exiting: nobody will run it
            self._calls.append((callback, args))
            if self._armed:
                return
            self._armed = True
            with contextlib.suppress(BlockingIOError):  # a full pipe already holds a wake-up byte
                self._w.send(b"!")

    def drain(self) -> list[Callback]:
        """On the loop: the callbacks queued so far (in order); clears the wake-up bytes."""
        with contextlib.suppress(BlockingIOError, OSError):
            while self._r.recv(4096):
                pass
        with self._lock:
            self._armed = False
            calls = list(self._calls)
            self._calls.clear()
        return calls

    def close(self) -> None:
        with self._lock:
            self.closed = True
            self._calls.clear()
        for s in (self._r, self._w):
            with contextlib.suppress(OSError):
                s.close()
