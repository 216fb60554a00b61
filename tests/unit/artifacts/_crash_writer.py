"""A writer for the crash test: stores, streams, deletes, collects and indexes until it is killed.

Run as ``python -m tests.unit.artifacts._crash_writer DATA_DIR SEED``. After each committed
operation it prints one line (``stored ID DIGEST`` or ``deleted ID``) and flushes, so the test
knows what must have survived a SIGKILL; ``deleting ID`` comes before a delete, whose outcome a
kill may leave unreported.
"""

from __future__ import annotations

import random
import sys

import blake3

from symphony_actors.domain.errors import ConflictError
from symphony_actors.pit.artifacts.store import ArtifactStore


def main(data_dir: str, seed: int) -> None:
    rng = random.Random(seed)
    base = rng.randbytes(1 << 20)
    mine: list[str] = []
    print("open", flush=True)
    with ArtifactStore.open(data_dir) as store:
        for step in range(1_000_000):
            op = rng.random()
            if op < 0.55:  # an edited slice of the base: shares chunks with earlier ones
                start = rng.randrange(0, len(base) - 1)
                data = base[start:start + rng.randrange(1, 400_000)] + rng.randbytes(rng.randrange(0, 5000))
                parents = rng.sample(mine, min(len(mine), rng.randrange(0, 3)))
                artifact_id = store.store(data, name=f"s{seed}-{step}", media_type="text/plain" if op < 0.2
                                          else "application/octet-stream", tags=["crash"], run_id=f"run-{seed}",
                                          parents=parents)
            elif op < 0.7:  # a streamed upload of several parts
                data = rng.randbytes(rng.randrange(1 << 20, 3 << 20))
                upload = store.begin_upload()
                for i in range(0, len(data), 1 << 20):
                    upload.write(data[i:i + (1 << 20)])
                artifact_id = upload.finish(name=f"u{seed}-{step}")
            elif op < 0.85 and mine:
                victim = mine.pop(rng.randrange(len(mine)))
                print("deleting", victim, flush=True)  # a kill may land after the commit, before "deleted"
                try:
                    store.delete(victim)
                except ConflictError:
                    store.delete(victim, force=True)
                print("deleted", victim, flush=True)
                continue
            elif op < 0.93:
                store.gc()
                print("gc", flush=True)
                continue
            else:
                store.flush_index()
                print("indexed", flush=True)
                continue
            mine.append(artifact_id)
            print("stored", artifact_id, blake3.blake3(data).hexdigest(), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
