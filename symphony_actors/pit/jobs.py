"""A service's own worker thread, for work too long for the actor's loop.

A Thespian actor handles one message at a time; work that takes seconds on its
loop (decoding a 10k-node workflow, a chain of synchronous calls) silences its
heartbeat, and its supervisor kills it as hung. Such work is queued on a
:class:`JobThread` instead: the loop stays free to answer pings and other
requests, and a request's answer is sent when its job is done (``ctx.defer``;
results come back through ``ctx.call_soon_threadsafe``). Jobs run one at a
time, in the order they were queued, so a service whose state only the thread
touches needs no locks.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from symphony_actors.domain.errors import ServiceCrashed, SymphonyError

__all__ = ["JobThread"]

log = logging.getLogger(__name__)
_Job = tuple[Callable[[], Any], Any, str, Callable[[Any], Any] | None]


class JobThread:
    """One thread that runs jobs one at a time, in the order they were queued.

    A job's value (or :class:`SymphonyError`) goes back to its request's deferred answer on the loop. Any
    other exception is a bug: it is raised on the loop, so the actor answers ``ServiceCrashed`` and is
    restarted with fresh state, as if the loop had run the job itself.
    """

    def __init__(self, ctx: Any, service: str) -> None:
        self.ctx, self.service = ctx, service
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.busy_since: float | None = None
        self.busy_with = ""
        self.done = 0
        self.thread = threading.Thread(target=self._run, name=f"{service}-jobs", daemon=True)
        self.thread.start()

    def put(self, job: Callable[[], Any], deferred: Any = None, what: str = "",
            then: Callable[[Any], Any] | None = None) -> Any:
        """Queue ``job``; returns ``deferred`` (the request's answer, sent when the job is done).

        ``then``, if given, runs on the loop with the job's value, and its own value is the answer: the
        thread prepares, the loop commits what only the loop may touch.
        """
        self.jobs.put((job, deferred, what or getattr(job, "__name__", "job"), then))
        return deferred

    def stop(self, timeout: float) -> None:
        self.jobs.put(None)
        self.thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        busy = self.busy_since
        return {"jobs_done": self.done, "jobs_queued": self.jobs.qsize(),
                "job": self.busy_with if busy is not None else None,
                "job_s": round(time.monotonic() - busy, 3) if busy is not None else 0.0}

    def _run(self) -> None:
        while (item := self.jobs.get()) is not None:
            job, deferred, what, then = item
            self.busy_since, self.busy_with = time.monotonic(), what
            try:
                value = job()
            except SymphonyError as exc:
                if deferred is not None:
                    self.ctx.call_soon_threadsafe(deferred.fail, exc)
                else:
                    log.warning("%s: %s: %s", self.service, what, exc)
            except Exception as exc:  # noqa: BLE001 - a bug: crash the actor on its loop (let it crash)
                self.ctx.call_soon_threadsafe(_crash, exc, deferred, f"{self.service} crashed handling {what!r}")
                return
            else:
                if then is not None:
                    self.ctx.call_soon_threadsafe(_commit, then, value, deferred, f"{self.service} {what!r}")
                elif deferred is not None:
                    self.ctx.call_soon_threadsafe(deferred.resolve, value)
            finally:
                self.busy_since = None
                self.done += 1


def _crash(exc: Exception, deferred: Any, what: str) -> None:
    if deferred is not None:
        deferred.fail(ServiceCrashed(f"{what}: {type(exc).__name__}: {exc}", remote_type=type(exc).__name__))
    raise exc


def _commit(then: Callable[[Any], Any], value: Any, deferred: Any, what: str) -> None:
    try:
        answer = then(value)
    except SymphonyError as exc:
        if deferred is not None:
            deferred.fail(exc)
        return
    except Exception as exc:  # noqa: BLE001 - a bug: fail the request, then crash the actor
        _crash(exc, deferred, f"{what} crashed")
    if deferred is not None:
        deferred.resolve(answer)
