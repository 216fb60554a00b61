"""Wire codec benchmark: encode+decode of a standard request envelope.

The standard envelope is a request with sender, reply-to, deadline and a
~200-byte payload (an editor edit). Baselines: raw orjson and raw cbor2 on the
same envelope as a plain dict and as the bare ten-field array, measured in the
same run.

    python perf/codec.py [--quick]
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import _harness  # also puts the repository on sys.path
import cbor2
import orjson

from symphony_actors.domain.envelope import Envelope, request
from symphony_actors.wire import (
    FIELDS,
    decode_batch,
    decode_cbor,
    decode_frame,
    decode_json,
    encode_batch,
    encode_cbor,
    encode_frame,
    encode_json,
)

PAYLOAD: dict[str, Any] = {
    "buffer_id": "buf-0190f3a2c1d4e5f6a7b8c9d0",
    "range": {"start": {"line": 12, "character": 4}, "end": {"line": 12, "character": 19}},
    "text": "def greet(name: str) -> str:\n    return f'hello {name}'\n",
    "undo_group": True,
    "source": "editor",
}


def standard_envelope() -> Envelope:
    return request("replace", PAYLOAD, sender="gateway", reply_to="gateway", timeout=5.0)


def per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Median over ``repeat`` runs of the mean time per call, in microseconds (GC off, as timeit does).

    The median, not timeit's minimum: the minimum is the figure a lucky run gets, not the one a caller
    sees on a loaded machine (the p99 is recorded beside the headline metrics).
    """
    return percentile_us(fn, number, repeat, 50)


def percentile_us(fn: Callable[[], object], number: int, repeat: int, pct: float) -> float:
    """The ``pct`` percentile of the per-call means of ``repeat`` runs of ``number`` calls, in microseconds."""
    runs = sorted(t / number * 1e6 for t in timeit.repeat(fn, number=number, repeat=repeat))
    return runs[round(pct / 100 * (len(runs) - 1))]  # pct <= 100: always a valid index


def main() -> None:
    bench = _harness.Bench("codec", description=__doc__ or "")
    number, repeat = (2_000, 40) if bench.quick else (2_000, 300)
    env = standard_envelope()
    as_dict = {f: getattr(env, f) for f in Envelope.__dataclass_fields__}

    jb, cb = encode_json(env), encode_cbor(env)
    assert decode_json(jb) == env and decode_cbor(cb) == env and decode_frame(encode_frame(env)) == env

    json_rt, cbor_rt = (lambda: decode_json(encode_json(env))), (lambda: decode_cbor(encode_cbor(env)))
    bench.record("codec_json_roundtrip_us", per_call_us(json_rt, number, repeat), goal=5, unit="us",
                 note="median of the runs")
    bench.record("codec_cbor_roundtrip_us", per_call_us(cbor_rt, number, repeat), goal=10, unit="us",
                 note="median of the runs")
    bench.record("codec_json_roundtrip_p99_us", percentile_us(json_rt, number, repeat, 99), unit="us")
    bench.record("codec_cbor_roundtrip_p99_us", percentile_us(cbor_rt, number, repeat, 99), unit="us")
    bench.record("raw_orjson_roundtrip_us", per_call_us(lambda: orjson.loads(orjson.dumps(as_dict)), number,
                                                        repeat), unit="us", note="baseline: same envelope as a dict")
    bench.record("raw_cbor2_roundtrip_us", per_call_us(lambda: cbor2.loads(cbor2.dumps(as_dict)), number,
                                                       repeat), unit="us", note="baseline: same envelope as a dict")
    as_array = [getattr(env, f) for f in FIELDS]
    bench.record("raw_orjson_array_roundtrip_us",
                 per_call_us(lambda: orjson.loads(orjson.dumps(as_array)), number, repeat), unit="us",
                 note="baseline: the same ten-field array, no checks")
    bench.record("raw_cbor2_array_roundtrip_us",
                 per_call_us(lambda: cbor2.loads(cbor2.dumps(as_array)), number, repeat), unit="us",
                 note="baseline: the same ten-field array, no checks")
    bench.record("codec_json_encode_us", per_call_us(lambda: encode_json(env), number, repeat), unit="us")
    bench.record("codec_json_decode_us", per_call_us(lambda: decode_json(jb), number, repeat), unit="us")
    bench.record("codec_cbor_encode_us", per_call_us(lambda: encode_cbor(env), number, repeat), unit="us")
    bench.record("codec_cbor_decode_us", per_call_us(lambda: decode_cbor(cb), number, repeat), unit="us")
    bench.record("codec_frame_cbor_roundtrip_us",
                 per_call_us(lambda: decode_frame(encode_frame(env, "cbor")), number, repeat), unit="us",
                 note="header byte + CBOR, below the compression threshold")

    batch = [standard_envelope() for _ in range(100)]
    n_batch = max(1, number // 200)
    for codec in ("json", "cbor"):
        frame = encode_batch(batch, codec)  # type: ignore[arg-type]
        assert decode_batch(frame) == batch
        us = per_call_us(lambda c=codec: decode_batch(encode_batch(batch, c)), n_batch, repeat) / len(batch)
        bench.record(f"codec_batch100_{codec}_roundtrip_per_envelope_us", us, unit="us",
                     note=f"{len(frame)} bytes per frame of 100 (zstd)")

    bench.record("codec_json_bytes", len(jb), unit="bytes", note=f"payload {len(orjson.dumps(PAYLOAD))} bytes as JSON")
    bench.record("codec_cbor_bytes", len(cb), unit="bytes")
    bench.record("raw_orjson_bytes", len(orjson.dumps(as_dict)), unit="bytes", note="baseline: as a dict")
    bench.record("raw_cbor2_bytes", len(cbor2.dumps(as_dict)), unit="bytes", note="baseline: as a dict")
    bench.finish()


if __name__ == "__main__":
    main()
