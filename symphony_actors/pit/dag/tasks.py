"""Exactly-once bookkeeping for whoever runs tracker tasks (executors, extension actors).

Tasks are keyed by (run, node, item, attempt). A key is queued once; its result
is cached, so a task re-dispatched by a restarted tracker is answered from the
cache instead of running again, and one still waiting in the queue, or running
(on a task runner's thread, between :meth:`TaskQueue.pop` and
:meth:`TaskQueue.done`), is not queued twice (see docs/dag.md, "Checkpoints and
recovery"). Not thread-safe by itself: a :class:`~.runner.TaskRunner` holds its
lock around every call.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from symphony_actors.pit.dag.engine import Task

__all__ = ["TaskQueue"]

Key = tuple[str, str, int, int]


def key_of(task: Task) -> Key:
    return (task.run_id, task.node_id, task.item, task.attempt)


class TaskQueue:
    def __init__(self, cache_max: int) -> None:
        self.cache_max = cache_max
        self._queue: deque[Task] = deque()
        self._queued: set[Key] = set()
        self._running: set[Key] = set()
        self._done: OrderedDict[Key, tuple[Any, ...]] = OrderedDict()

    def offer(self, tasks: list[Task]) -> list[tuple[Any, ...]]:
        """Queue the tasks not seen before; returns the cached results of those already run."""
        cached: list[tuple[Any, ...]] = []
        for t in tasks:
            key = key_of(t)
            result = self._done.get(key)
            if result is not None:
                cached.append(result)
            elif key not in self._queued and key not in self._running:
                self._queued.add(key)
                self._queue.append(t)
        return cached

    def pop(self) -> Task | None:
        if not self._queue:
            return None
        task = self._queue.popleft()
        key = key_of(task)
        self._queued.discard(key)
        self._running.add(key)
        return task

    def done(self, task: Task, result: tuple[Any, ...]) -> None:
        key = key_of(task)
        self._running.discard(key)
        self._done[key] = result
        if len(self._done) > self.cache_max:
            self._done.popitem(last=False)

    def forget_run(self, run_id: str) -> int:
        """Drop a finished or cancelled run's cached results and queued tasks; returns how many."""
        keys = [k for k in self._done if k[0] == run_id]
        for k in keys:
            del self._done[k]
        before = len(self._queue)
        self._queue = deque(t for t in self._queue if t.run_id != run_id)
        self._queued = {k for k in self._queued if k[0] != run_id}
        self._running = {k for k in self._running if k[0] != run_id}
        return len(keys) + before - len(self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def cached(self) -> int:
        return len(self._done)
