"""Cost of transport authentication per frame: sealing and opening, beside pickle in the same run.

The frame is what a client request looks like on Thespian's wire: a pickle of ``(address, Envelope)``.
Every frame a system sends is sealed (a keyed BLAKE3 tag per key held) and every frame it receives is
opened (tag checked) before ``pickle.loads``; see docs/security.md.

    python perf/auth.py [--quick]
"""

from __future__ import annotations

import os
import pickle
import statistics
import timeit
from collections.abc import Callable

from _harness import Bench

from symphony_actors.domain.envelope import request
from symphony_actors.runtime.auth import THESPIAN, Keyring, SystemKey


def per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    bench = Bench("auth")
    number, repeat = (2000, 5) if bench.quick else (20_000, 9)
    ring = Keyring()
    ring.add(SystemKey.generate())
    frame = ("ActorAddr-(T|:40001)", request("echo", {"value": 1}, sender="client", timeout=5.0))
    body = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    sealed = ring.seal(body, THESPIAN)
    big = os.urandom(1 << 20)
    big_sealed = ring.seal(big, THESPIAN)
    dumps = per_call_us(lambda: pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL), number, repeat)
    loads = per_call_us(lambda: pickle.loads(body), number, repeat)
    seal = per_call_us(lambda: ring.seal(body, THESPIAN), number, repeat)
    opened = per_call_us(lambda: ring.open(sealed, THESPIAN), number, repeat)
    bench.record("auth_seal_us", seal, unit="us", note=f"request frame, {len(body)} B pickle")
    bench.record("auth_open_us", opened, unit="us", note="tag check before pickle.loads")
    bench.record("auth_tag_bytes", len(sealed) - len(body), unit="B", note="added per frame (one key)")
    bench.record("pickle_dumps_us", dumps, unit="us", note="baseline, same run")
    bench.record("pickle_loads_us", loads, unit="us", note="baseline, same run")
    bench.record("auth_seal_1mib_ms", per_call_us(lambda: ring.seal(big, THESPIAN), 20, repeat) / 1000, unit="ms")
    bench.record("auth_open_1mib_ms", per_call_us(lambda: ring.open(big_sealed, THESPIAN), 20, repeat) / 1000,
                 unit="ms")
    bench.finish()


if __name__ == "__main__":
    main()
