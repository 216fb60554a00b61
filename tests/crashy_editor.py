"""An editor that fails on purpose, once per marker, for the bridge's crash tests.

Input lines (other than ``buffer.restore``) containing ``BOMB<n>`` make it exit
before handling them, ``SPLIT<n>`` after sending the update but before the
reply, ``HANG<n>`` stop reading forever. Each marker fires once (the first unfired one in a line): a file named
after it in ``$CRASHY_DIR`` remembers it across restarts. ``ALWAYS`` exits every time.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

from symphony_actors.editor.server import Server

MARKER = re.compile(rb"(BOMB|SPLIT|HANG)(\d+)")


def main() -> None:
    marks = Path(os.environ["CRASHY_DIR"])
    server = Server()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in iter(stdin.readline, b""):
        if b"buffer.restore" not in line:
            if b"ALWAYS" in line:
                os._exit(3)
            fresh = [(m, marks / (m.group(1) + m.group(2)).decode()) for m in MARKER.finditer(line)]
            fresh = [(m, flag) for m, flag in fresh if not flag.exists()]
            if fresh:
                m, flag = fresh[0]
                flag.touch()
                if m.group(1) == b"BOMB":
                    os._exit(3)
                if m.group(1) == b"HANG":
                    while True:
                        signal.pause()
                update = server.handle_line(line).split(b"\n")[0]
                stdout.write(update + b"\n")
                stdout.flush()
                os._exit(3)
        out = server.handle_line(line)
        if out:
            stdout.write(out)
            stdout.flush()


if __name__ == "__main__":
    main()
