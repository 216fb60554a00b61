"""Running tracker tasks off the actor loop, with time limits, hang detection and per-attempt logs.

A :class:`TaskRunner` owns one worker thread (an executor *slot*) that takes
tasks from a :class:`~.tasks.TaskQueue` and runs them one at a time. The actor
loop stays free: it answers the supervisor's pings, takes new batches, and is
woken (``wake``, i.e. ``ctx.call_soon_threadsafe``) to deliver each result as
soon as it exists.

Time limits. Every attempt has one: the node's ``timeout_s``, else the
runner's ``default_limit`` (one hour unless configured). A Python thread
cannot be stopped from outside, so the limit works like this:

1. ``builtin.sleep`` and operators that use :func:`sleep` / :func:`cancelled`
   notice the limit themselves and end with ``DeadlineExceeded``;
2. for anything else, the loop's watchdog (:meth:`TaskRunner.check`, every
   second) reports ``DeadlineExceeded`` for the attempt at once, abandons its
   thread (sets its cancel event, ignores what it returns) and starts a fresh
   thread for the next task;
3. an abandoned thread that has not returned ``grace`` seconds later is a hung
   task: :meth:`TaskRunner.hung` says so, the service reports it in its
   heartbeat (the pong's ``hung``), and its supervisor kills and restarts the
   process (a *hang kill*, in the system log). Tasks the process held then fail
   with ``ServiceCrashed`` and their retry policies decide.

Logs. While a task runs on its thread, what that thread writes to
``sys.stdout``/``sys.stderr`` and the lines it logs with :func:`log` are kept
with the attempt (bounded, :class:`BoundedText`), together with its start and
end times, worker and host; :meth:`Attempt.record` is what the tracker stores.
Output written below Python (C code, child processes writing to fd 1/2) is not
captured.
"""

from __future__ import annotations

import io
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from symphony_actors.domain.errors import DeadlineExceeded

if TYPE_CHECKING:
    from symphony_actors.pit.dag.engine import Task
    from symphony_actors.pit.dag.tasks import TaskQueue

__all__ = ["DEFAULT_GRACE_S", "DEFAULT_LIMIT_S", "Attempt", "BoundedText", "TaskRunner", "cancelled",
           "current_attempt", "install_output_capture", "log", "sleep"]

DEFAULT_LIMIT_S = 3600.0     # a task without a limit of its own may run for an hour
DEFAULT_GRACE_S = 10.0       # after its limit, an attempt's thread has this long to return before the hang kill
TEXT_MAX = 64 * 1024         # characters kept per attempt and stream (head and tail)
LINES_MAX = 1000             # log lines kept per attempt
HOST = socket.gethostname()

Result = tuple[Any, ...]
_local = threading.local()


class BoundedText:
    """Text that keeps its first and last ``limit/2`` characters, and says how much it dropped between."""

    def __init__(self, limit: int = TEXT_MAX) -> None:
        self.half = limit // 2
        self.head: list[str] = []
        self.head_len = 0
        self.tail: list[str] = []
        self.tail_len = 0
        self.dropped = 0

    def write(self, text: str) -> None:
        if self.head_len < self.half:
            take = text[:self.half - self.head_len]
            self.head.append(take)
            self.head_len += len(take)
            text = text[len(take):]
        if not text:
            return
        self.tail.append(text)
        self.tail_len += len(text)
        if self.tail_len > 2 * self.half:  # compact now and then, keeping the last half
            joined = "".join(self.tail)
            self.dropped += len(joined) - self.half
            self.tail, self.tail_len = [joined[-self.half:]], self.half

    @property
    def truncated(self) -> bool:
        return self.dropped > 0 or self.tail_len > self.half

    def text(self) -> str:
        tail = "".join(self.tail)
        dropped = self.dropped + max(0, len(tail) - self.half)
        tail = tail[-self.half:] if self.half else ""
        marker = f"\n[... {dropped} characters truncated ...]\n" if dropped else ""
        return "".join(self.head) + marker + tail


_cancel_lock = threading.Lock()


class Attempt:
    """One run of one task: its limit, cancel signal and what it left behind (cheap: most tasks are tiny)."""

    __slots__ = ("_event", "abandoned", "cancelled", "deadline", "ended", "limit", "lines", "lines_dropped",
                 "started", "stderr", "stdout", "task", "worker")

    def __init__(self, task: Task, worker: str, limit: float, deadline: float) -> None:
        self.task = task
        self.worker = worker
        self.limit = limit
        self.deadline = deadline              # time.monotonic()
        self.started = time.time()
        self.ended: float | None = None
        self.stdout: BoundedText | None = None     # created on the first write (most tasks print nothing)
        self.stderr: BoundedText | None = None
        self.lines: list[list[Any]] = []
        self.lines_dropped = 0
        self.abandoned = False
        self.cancelled = False
        self._event: threading.Event | None = None  # made when someone waits on it (an Event costs ~10 us)

    def cancel(self) -> None:
        """Past its limit, abandoned or its run cancelled: cooperative code stops (see :func:`sleep`)."""
        with _cancel_lock:
            self.cancelled = True
            if self._event is not None:
                self._event.set()

    def wait_cancel(self, timeout: float) -> bool:
        with _cancel_lock:
            if self._event is None:
                self._event = threading.Event()
                if self.cancelled:
                    self._event.set()
            event = self._event
        return event.wait(timeout)

    def write(self, which: str, text: str) -> None:
        if which == "stdout":
            if self.stdout is None:
                self.stdout = BoundedText()
            self.stdout.write(text)
        else:
            if self.stderr is None:
                self.stderr = BoundedText()
            self.stderr.write(text)

    def add_line(self, level: str, message: str, fields: dict[str, Any] | None = None) -> None:
        if len(self.lines) >= LINES_MAX:
            self.lines_dropped += 1
            return
        self.lines.append([time.time(), level, message, fields or {}])

    def record(self, ok: bool, error: dict[str, Any] | None = None) -> dict[str, Any]:
        """What the tracker keeps with the run (``DagStore.write_attempts``)."""
        t = self.task
        lines = list(self.lines)
        if self.lines_dropped:
            lines.append([time.time(), "warning", f"[... {self.lines_dropped} more log lines truncated ...]", {}])
        return {"run_id": t.run_id, "node": t.node_id, "item": t.item, "attempt": t.attempt, "worker": self.worker,
                "host": HOST, "started": self.started, "ended": self.ended if self.ended is not None else time.time(),
                "ok": ok, "error": error, "stdout": self.stdout.text() if self.stdout else "",
                "stderr": self.stderr.text() if self.stderr else "", "log": lines,
                "truncated": bool((self.stdout and self.stdout.truncated) or (self.stderr and self.stderr.truncated)
                                  or self.lines_dropped)}


# ---------------------------------------------------------------------- helpers for the code a task runs
def current_attempt() -> Attempt | None:
    """The attempt this thread is running, if any."""
    a: Attempt | None = getattr(_local, "attempt", None)
    return a


def log(message: str, level: str = "info", **fields: Any) -> None:
    """A log line kept with the current attempt (``symphony logs RUN NODE``); printed when there is none."""
    a = current_attempt()
    if a is None:
        print(f"[{level}] {message}", file=sys.stderr)
        return
    a.add_line(level, str(message), fields)


def cancelled() -> bool:
    """Whether the current attempt is past its limit (or its run was cancelled): long loops should stop."""
    a = current_attempt()
    return a is not None and (a.cancelled or time.monotonic() > a.deadline)


def sleep(seconds: float) -> None:
    """Sleep, but end with ``DeadlineExceeded`` at the attempt's limit or when it is abandoned."""
    a = current_attempt()
    if a is None:
        time.sleep(seconds)  # not a task (a direct call): plain sleep
        return
    left = a.deadline - time.monotonic()
    if a.wait_cancel(max(0.0, min(seconds, left))) or seconds > left:
        raise DeadlineExceeded(f"node {a.task.node_id!r} did not finish within {a.limit:g} s",
                               node=a.task.node_id)


class _Capture(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` in a process with task runners: a task thread's writes go to its attempt."""

    def __init__(self, stream: TextIO, which: str) -> None:
        self.stream = stream
        self.which = which

    def write(self, text: str) -> int:
        a = current_attempt()
        if a is None:
            return self.stream.write(text)
        a.write(self.which, text)
        return len(text)

    def flush(self) -> None:
        if current_attempt() is None:
            self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return False


def install_output_capture() -> None:
    """Route task threads' ``print`` output to their attempts (once per process; other threads unchanged)."""
    if not isinstance(sys.stdout, _Capture):
        sys.stdout = _Capture(sys.stdout, "stdout")
    if not isinstance(sys.stderr, _Capture):
        sys.stderr = _Capture(sys.stderr, "stderr")


# ---------------------------------------------------------------------- the runner
class TaskRunner:
    """One slot: a worker thread running queued tasks in order, off the actor loop."""

    def __init__(self, worker: str, queue: TaskQueue, execute: Callable[[Task], Result],
                 wake: Callable[[], None], *, default_limit: float = DEFAULT_LIMIT_S,
                 grace: float = DEFAULT_GRACE_S, margin: float = 0.0) -> None:
        """``margin``: added to every limit, when the task enforces its limit itself first (a sandbox)."""
        self.worker = worker
        self.queue = queue
        self.execute = execute
        self.wake = wake
        self.default_limit = default_limit
        self.grace = grace
        self.margin = margin
        self.lock = threading.Condition()
        self.current: Attempt | None = None
        self.thread: threading.Thread | None = None
        self.abandoned: list[tuple[threading.Thread, Attempt, float]] = []
        self.out: list[tuple[Result, dict[str, Any]]] = []
        self.posted = False
        self.stopped = False
        self.started = 0

    # ------------------------------------------------------------------ on the loop
    def offer(self, tasks: list[Task]) -> list[Result]:
        """Queue new tasks; returns the cached results of tasks already run (exactly once)."""
        with self.lock:
            cached = self.queue.offer(tasks)
            if len(self.queue):
                if self.thread is None:
                    self._spawn()
                self.lock.notify()
            return cached

    def take(self) -> list[tuple[Result, dict[str, Any]]]:
        """Results (with their attempt records) finished since the last take."""
        with self.lock:
            out, self.out = self.out, []
            self.posted = False
            return out

    def check(self) -> bool:
        """Watchdog: fail an attempt past its limit at once and give the slot a fresh thread.

        Returns whether anything is left to watch (a task queued or running, or a thread abandoned)."""
        now = time.monotonic()
        with self.lock:
            a = self.current
            if a is not None and now > a.deadline and self.thread is not None:
                a.abandoned = True
                a.cancel()
                a.ended = time.time()
                err = DeadlineExceeded(f"node {a.task.node_id!r} did not finish within {a.limit:g} s "
                                       f"(its thread is abandoned: a hang kill follows after {self.grace:g} s "
                                       "unless it returns)", node=a.task.node_id).to_wire()
                result = (a.task.run_id, a.task.node_id, a.task.item, a.task.attempt, False, None, None, err,
                          a.started, a.ended - a.started)
                self.queue.done(a.task, result)
                self.out.append((result, a.record(False, err)))
                self.abandoned.append((self.thread, a, now))
                self.current = None
                self.thread = None
                if len(self.queue):
                    self._spawn()
            self.abandoned = [x for x in self.abandoned if x[0].is_alive()]
            return bool(self.current or len(self.queue) or self.abandoned or self.out)

    def hung(self) -> str | None:
        """Why this slot is hung (a thread past its limit and grace), or None."""
        now = time.monotonic()
        with self.lock:
            for thread, a, at in self.abandoned:
                if thread.is_alive() and now - at > self.grace:
                    return (f"task {a.task.node_id!r} of run {a.task.run_id} on {self.worker} still running "
                            f"{now - at + a.limit:.0f} s after it started "
                            f"(limit {a.limit:g} s, grace {self.grace:g} s)")
        return None

    def forget_run(self, run_id: str) -> int:
        with self.lock:
            if self.current is not None and self.current.task.run_id == run_id:
                self.current.cancel()  # cooperative operators stop; the result is dropped by the tracker
            return self.queue.forget_run(run_id)

    @property
    def busy(self) -> bool:
        return self.current is not None

    @property
    def more_coming(self) -> bool:
        """A task is running or queued: another result may follow shortly (worth waiting to batch)."""
        return self.current is not None or len(self.queue) > 0

    def drain(self, timeout: float) -> list[tuple[Result, dict[str, Any]]]:
        """A graceful stop: no task starts any more; the one running may finish within ``timeout``; returns
        every result finished so far (the caller journals them, so that none of them runs again)."""
        deadline = time.monotonic() + timeout
        with self.lock:
            self.stopped = True
            self.lock.notify_all()
            while self.current is not None and (left := deadline - time.monotonic()) > 0:
                self.lock.wait(left)
        return self.take()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            if self.current is not None:
                self.current.cancel()
            self.lock.notify_all()

    # ------------------------------------------------------------------ on the worker thread
    def _spawn(self) -> None:
        self.started += 1
        self.thread = threading.Thread(target=self._loop, name=f"{self.worker}-task-{self.started}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        me = threading.current_thread()
        while True:
            with self.lock:
                while not self.stopped and self.thread is me and not len(self.queue):
                    self.lock.wait()
                if self.stopped or self.thread is not me:
                    if self.thread is me:
                        self.thread = None
                    return
                task = self.queue.pop()
                assert task is not None
                limit = (float(task.timeout_s) if task.timeout_s and task.timeout_s > 0 else self.default_limit) \
                    + self.margin
                a = Attempt(task, self.worker, limit, time.monotonic() + limit)
                self.current = a
            _local.attempt = a
            try:
                result = self.execute(task)
            except BaseException as exc:  # noqa: BLE001 - SystemExit & co. in a task: its failure, not the slot's
                result = _crashed(task, a, exc)
            finally:
                _local.attempt = None
            with self.lock:
                if a.abandoned:
                    return  # its DeadlineExceeded went out already; the slot has a new thread
                a.ended = time.time()
                self.queue.done(task, result)
                self.out.append((result, a.record(bool(result[4]), result[7])))
                self.current = None
                self.lock.notify_all()  # a graceful stop may be waiting for it (drain)
                wake = not self.posted
                self.posted = True
            if wake:
                self.wake()


def _crashed(task: Task, a: Attempt, exc: BaseException) -> Result:
    from symphony_actors.domain.errors import ServiceCrashed

    err = ServiceCrashed(f"node {task.node_id!r} ({task.type}) raised {type(exc).__name__}: {exc}",
                         node=task.node_id, remote_type=type(exc).__name__).to_wire()
    return (task.run_id, task.node_id, task.item, task.attempt, False, None, None, err, a.started,
            time.time() - a.started)


def run_inline(worker: str, task: Task, execute: Callable[[Task], Result],
               default_limit: float = DEFAULT_LIMIT_S) -> tuple[Result, dict[str, Any]]:
    """Run one task on this thread (in-process runtimes without threads): same attempt, logs and record."""
    limit = float(task.timeout_s) if task.timeout_s and task.timeout_s > 0 else default_limit
    a = Attempt(task, worker, limit, time.monotonic() + limit)
    _local.attempt = a
    try:
        result = execute(task)
    finally:
        _local.attempt = None
    a.ended = time.time()
    return result, a.record(bool(result[4]), result[7])
