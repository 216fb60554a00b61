"""One running ``symphony-editor`` process: its pid, a reader thread, writes with deadlines.

Nothing here blocks without a deadline: a reader thread turns each line the
editor prints into a message on a queue (the bridge waits on the queue with a
timeout), and writes go to a non-blocking pipe through ``select`` so a hung
editor with a full pipe cannot stall the bridge.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["EOF", "EditorDied", "EditorHung", "EditorProcess", "default_command"]

EOF = object()
"""Put on the inbox when the editor's stdout closes (it exited or was killed)."""


class EditorDied(Exception):
    """The editor process exited or its pipe broke."""


class EditorHung(Exception):
    """The editor did not read or answer before the deadline."""


def default_command() -> list[str]:
    """Run the editor with this interpreter, so the bridge and the editor share one installation."""
    return [sys.executable, "-m", "symphony_actors.editor", "--parent-pid", str(os.getpid())]


class EditorProcess:
    """Starts the editor and talks to it; :meth:`kill` stops it by pid."""

    def __init__(self, command: Sequence[str] | None = None, log_path: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self._log: IO[bytes] | None = None
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            list(command or default_command()), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log if self._log is not None else subprocess.DEVNULL, close_fds=True,
            env={**os.environ, **env} if env else None,
            start_new_session=True)  # terminal signals go to the bridge, which decides
        self.pid: int = self.proc.pid
        self.started = time.monotonic()
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._stdin_fd = self.proc.stdin.fileno()
        os.set_blocking(self._stdin_fd, False)
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                        name=f"editor-reader-{self.pid}", daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for line in iter(stream.readline, b""):
                try:
                    self.inbox.put(orjson.loads(line))
                except orjson.JSONDecodeError:
                    self.inbox.put({"_garbage": line[:200].decode("utf-8", "replace")})
        except (OSError, ValueError):  # pipe closed under us while stopping: treat as end of output
            pass
        finally:
            self.inbox.put(EOF)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, data: bytes, deadline: float) -> None:
        """Write all of ``data`` before ``deadline`` (monotonic) or raise :class:`EditorHung`."""
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._stdin_fd, view)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise EditorHung(f"editor pid {self.pid} stopped reading its input") from None
                select.select([], [self._stdin_fd], [], remaining)
                continue
            except (BrokenPipeError, ValueError, OSError) as exc:
                raise EditorDied(f"editor pid {self.pid} closed its input: {exc}") from exc
            view = view[written:]

    def receive(self, deadline: float) -> Any:
        """The next message, :data:`EOF`, or :class:`EditorHung` at the deadline."""
        remaining = deadline - time.monotonic()
        try:
            if remaining <= 0:
                return self.inbox.get_nowait()
            return self.inbox.get(timeout=remaining)
        except queue.Empty:
            raise EditorHung(f"editor pid {self.pid} did not answer in time") from None

    def poll(self) -> Any | None:
        """The next message if one is waiting, else ``None``."""
        try:
            return self.inbox.get_nowait()
        except queue.Empty:
            return None

    def stop(self, grace: float = 1.0) -> int | None:
        """Close its input (it exits at end of input), then SIGKILL by pid after ``grace`` seconds."""
        with contextlib.suppress(OSError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
        return self._finish()

    def kill(self) -> int | None:
        """SIGKILL by pid (works on a stopped process too) and reap it."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        return self._finish()

    def _finish(self) -> int | None:
        code = None
        with contextlib.suppress(subprocess.TimeoutExpired):
            code = self.proc.wait(timeout=5.0)
        # The reader sees end of output once the process is gone; join it before closing its stream.
        self._reader.join(timeout=1.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code
