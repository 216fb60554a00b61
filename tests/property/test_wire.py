"""Properties of the wire protocol: valid envelopes round-trip unchanged; bad bytes raise ProtocolError only."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony_actors.domain.envelope import KINDS, MIN_SCHEMA_VERSION, SCHEMA_VERSION, Envelope
from symphony_actors.domain.errors import ProtocolError
from symphony_actors.wire import (
    decode_batch,
    decode_cbor,
    decode_cbor_batch,
    decode_frame,
    decode_json,
    decode_json_batch,
    encode_batch,
    encode_cbor,
    encode_frame,
    encode_json,
)

REASONS = {"truncated", "bad_type", "unknown_kind", "oversize", "bad_version", "malformed", "too_deep"}
DECODERS: dict[str, Callable[[bytes], Any]] = {
    "json": decode_json, "cbor": decode_cbor, "json_batch": decode_json_batch, "cbor_batch": decode_cbor_batch,
    "frame": decode_frame, "batch": decode_batch,
}
# One decode of a few hundred bytes takes microseconds; a second means a hang.
BOUND_S = 1.0
PROPS = settings(max_examples=300, deadline=timedelta(seconds=2),
                 suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(codec="utf-8"), max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | finite | text
cbor_scalars = json_scalars | st.binary(max_size=40) | st.integers()


def payloads(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                        max_leaves=20)


def envelopes(payload: st.SearchStrategy[Any]) -> st.SearchStrategy[Envelope]:
    opt = st.none() | text
    return st.builds(Envelope, id=text, kind=st.sampled_from(sorted(KINDS)), topic=text, payload=payload,
                     correlation_id=opt, sender=opt, reply_to=opt, created_at=finite, deadline=st.none() | finite,
                     schema=st.integers(MIN_SCHEMA_VERSION, SCHEMA_VERSION))


json_envelopes = envelopes(payloads(json_scalars))
cbor_envelopes = envelopes(payloads(cbor_scalars))


def decode_only_protocol_errors(decoder: Callable[[bytes], Any], data: bytes) -> None:
    """Decoding either succeeds or raises ProtocolError with a known reason, within the bound."""
    started = time.perf_counter()
    try:
        decoder(data)
    except ProtocolError as exc:
        assert exc.reason in REASONS, exc.reason
        assert str(exc)
    assert time.perf_counter() - started < BOUND_S


# --------------------------------------------------------------------------- round trips


@PROPS
@given(json_envelopes)
def test_every_json_envelope_round_trips_through_json(env: Envelope) -> None:
    """decode_json(encode_json(e)) == e."""
    assert env == decode_json(encode_json(env))


@PROPS
@given(cbor_envelopes)
def test_every_cbor_envelope_round_trips_through_cbor(env: Envelope) -> None:
    """decode_cbor(encode_cbor(e)) == e, bytes and big integers included."""
    assert env == decode_cbor(encode_cbor(env))


@PROPS
@given(json_envelopes, st.sampled_from(["json", "cbor"]), st.sampled_from([None, 0, 64]))
def test_every_envelope_round_trips_through_frames(env: Envelope, codec: Any, compress_at: int | None) -> None:
    """Frames, compressed or not, give back the envelope they carry."""
    frame = encode_frame(env, codec, compress_at=compress_at)
    assert env == decode_frame(frame)
    assert [env] == decode_batch(frame)


@PROPS
@given(st.lists(json_envelopes, max_size=8), st.sampled_from(["json", "cbor"]), st.sampled_from([None, 0]))
def test_every_batch_round_trips(envs: list[Envelope], codec: Any, compress_at: int | None) -> None:
    """A batch frame gives back its envelopes in order."""
    assert envs == decode_batch(encode_batch(envs, codec, compress_at=compress_at))


# --------------------------------------------------------------------------- bad input


@settings(max_examples=500, deadline=timedelta(seconds=2))
@given(st.binary(max_size=300), st.sampled_from(sorted(DECODERS)))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes, name: str) -> None:
    """Random bytes never raise anything but ProtocolError, and never hang."""
    decode_only_protocol_errors(DECODERS[name], data)


@settings(max_examples=300, deadline=timedelta(seconds=2))
@given(st.binary(max_size=300), st.sampled_from([0xA0, 0xA1, 0xA4, 0xA5, 0xA8, 0xA9, 0xAC, 0xAD]))
def test_arbitrary_bodies_behind_valid_headers_raise_only_protocol_error(body: bytes, header: int) -> None:
    """A correct header byte followed by junk reaches the codecs and still fails cleanly."""
    data = bytes([header]) + body
    decode_only_protocol_errors(decode_frame, data)
    decode_only_protocol_errors(decode_batch, data)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    codec = draw(st.sampled_from(["json", "cbor"]))
    env = draw(cbor_envelopes if codec == "cbor" else json_envelopes)  # bytes payloads travel as CBOR only
    batch = draw(st.booleans())
    compress_at = draw(st.sampled_from([None, 0]))
    frame = bytearray(encode_batch([env, env], codec, compress_at=compress_at) if batch
                      else encode_frame(env, codec, compress_at=compress_at))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(frame) - 1)))
        if op == "flip" and frame:
            frame[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and frame:
            frame[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del frame[pos:]
        elif op == "insert":
            frame[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and frame:
            del frame[pos:pos + draw(st.integers(1, 8))]
    return bytes(frame)


@settings(max_examples=500, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
@given(mutated_frames())
def test_mutated_valid_frames_raise_only_protocol_error(frame: bytes) -> None:
    """Flipped, cut, inserted or deleted bytes in a valid frame fail cleanly (or still decode)."""
    decode_only_protocol_errors(decode_frame, frame)
    decode_only_protocol_errors(decode_batch, frame)
    if frame:
        decode_only_protocol_errors(decode_json, frame[1:])
        decode_only_protocol_errors(decode_cbor, frame[1:])


@pytest.mark.parametrize("name", sorted(DECODERS))
def test_non_bytes_input_raises_protocol_error(name: str) -> None:
    """Passing an int or None instead of bytes is a bad_type, not a crash."""
    for value in (None, 12, ["a"]):
        with pytest.raises(ProtocolError) as info:
            DECODERS[name](value)  # type: ignore[arg-type]
        assert info.value.reason == "bad_type"
