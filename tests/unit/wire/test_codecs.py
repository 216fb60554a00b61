"""The wire codecs on chosen inputs: layout, version rule, limits and each ProtocolError reason."""

from __future__ import annotations

import dataclasses
import datetime
import os
import uuid
from typing import Any

import cbor2
import orjson
import pytest

from symphony_actors.domain.envelope import SCHEMA_VERSION, Envelope, error_for, event, reply_to, request
from symphony_actors.domain.errors import (
    NotFoundError,
    Problem,
    ProtocolError,
    UsageError,
    ValidationError,
    error_from_wire,
)
from symphony_actors.wire import (
    COMPRESS_AT,
    FIELDS,
    FrameHeader,
    Limits,
    decode_batch,
    decode_cbor,
    decode_cbor_batch,
    decode_frame,
    decode_json,
    decode_json_batch,
    encode_batch,
    encode_cbor,
    encode_cbor_batch,
    encode_frame,
    encode_json,
    encode_json_batch,
    read_header,
)


def standard() -> Envelope:
    return request("replace", {"buffer_id": "b1", "text": "hello", "range": [1, 2]}, sender="gateway",
                   reply_to="gateway", timeout=5.0)


def array_of(env: Envelope) -> list[Any]:
    return [env.schema, env.kind, env.id, env.topic, env.payload, env.correlation_id, env.sender, env.reply_to,
            env.created_at, env.deadline]


def reason_of(fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ProtocolError) as info:
        fn(*args, **kwargs)
    return str(info.value.reason)


# --------------------------------------------------------------------------- layout


def test_json_is_a_ten_field_array_with_schema_first() -> None:
    """The JSON form is [schema, kind, id, topic, payload, correlation_id, sender, reply_to, created_at, deadline]."""
    env = standard()
    assert array_of(env) == orjson.loads(encode_json(env))
    assert FIELDS == ("schema", "kind", "id", "topic", "payload", "correlation_id", "sender", "reply_to", "created_at",
            "deadline")


def test_cbor_is_the_same_array() -> None:
    env = standard()
    assert array_of(env) == cbor2.loads(encode_cbor(env))


@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_every_constructor_round_trips(codec: str) -> None:
    """request, reply_to, event and error_for envelopes come back equal."""
    req = standard()
    envs = [req, reply_to(req, {"ok": True}), event("run.r1.node.n1.succeeded", {"n": 1}),
            error_for(req, NotFoundError("no buffer 'b1'", buffer_id="b1").to_wire())]
    enc, dec = (encode_json, decode_json) if codec == "json" else (encode_cbor, decode_cbor)
    for env in envs:
        assert env == dec(enc(env))


@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_errors_in_payloads_come_back_as_their_class(codec: str) -> None:
    """An error envelope carries to_wire(); error_from_wire rebuilds the same class with its problems."""
    err = ValidationError([Problem("nodes[0].params.t", "must be <= 2"), Problem("", "no nodes")], subject="flow")
    env = error_for(standard(), err.to_wire())
    frame = encode_frame(env, codec)  # type: ignore[arg-type]
    back = error_from_wire(decode_frame(frame).payload)
    assert isinstance(back, ValidationError)
    assert err.problems == back.problems
    assert str(err) == str(back)


def test_cbor_carries_bytes_and_big_integers() -> None:
    env = event("blob", {"data": b"\x00\xff", "big": 2**100, "neg": -(2**90)})
    assert env == decode_cbor(encode_cbor(env))


def test_decoders_accept_bytearray_and_memoryview() -> None:
    env = standard()
    assert env == decode_json(bytearray(encode_json(env)))
    assert env == decode_json(memoryview(encode_json(env)))
    assert env == decode_json(encode_json(env).decode())
    assert env == decode_cbor(bytearray(encode_cbor(env)))
    assert env == decode_frame(memoryview(encode_frame(env)))
    big = event("log", {"lines": ["same"] * 2000})
    assert big == decode_frame(memoryview(encode_frame(big, compress_at=0)))
    assert [big] == decode_batch(bytearray(encode_batch([big], "json", compress_at=0)))


def test_integer_timestamps_from_other_writers_are_accepted_as_floats() -> None:
    a = array_of(standard())
    a[8], a[9] = 1_700_000_000, 1_700_000_005
    env = decode_json(orjson.dumps(a))
    assert env.created_at == 1_700_000_000.0
    assert isinstance(env.created_at, float)
    assert env.deadline == 1_700_000_005.0


# --------------------------------------------------------------------------- frames


def test_header_byte_names_codec_compression_and_batch() -> None:
    env = standard()
    assert FrameHeader("json", False, False) == read_header(encode_frame(env, "json"))
    assert FrameHeader("cbor", False, False) == read_header(encode_frame(env, "cbor"))
    assert FrameHeader("cbor", True, True) == read_header(encode_batch([env] * 50, "cbor", compress_at=0))
    assert encode_frame(env, "json")[0] == 0xA0
    assert encode_frame(env, "cbor")[0] == 0xA1


def test_bodies_above_the_threshold_are_compressed_and_small_ones_are_not() -> None:
    small = standard()
    big = event("log", {"lines": ["the same line of log output"] * 500})
    assert not read_header(encode_frame(small)).compressed
    big_frame = encode_frame(big)
    assert read_header(big_frame).compressed
    assert len(big_frame) < COMPRESS_AT
    assert big == decode_frame(big_frame)
    assert not read_header(encode_frame(big, compress_at=None)).compressed


def test_incompressible_bodies_are_sent_plain() -> None:
    """Compression that would not shrink the body is skipped."""
    env = event("blob", {"data": os.urandom(512)})
    assert not read_header(encode_frame(env, compress_at=0)).compressed


def test_decode_frame_refuses_a_batch_and_decode_batch_accepts_a_single() -> None:
    env = standard()
    assert reason_of(decode_frame, encode_batch([env])) == "bad_type"
    assert [env] == decode_batch(encode_frame(env))


def test_batches_keep_order_for_both_codecs() -> None:
    envs = [event(f"t.{i}", i) for i in range(20)]
    assert envs == decode_batch(encode_batch(envs, "json"))
    assert envs == decode_batch(encode_batch(envs, "cbor"))
    assert envs == decode_json_batch(encode_json_batch(envs))
    assert envs == decode_cbor_batch(encode_cbor_batch(envs))
    assert decode_batch(encode_batch([], "cbor")) == []


def test_unknown_codec_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        encode_frame(standard(), "xml")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- version rule


@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_newer_schema_is_refused_naming_both_versions(codec: str) -> None:
    a = array_of(standard())
    a[0] = SCHEMA_VERSION + 1
    a.append("a field from the future")
    data = orjson.dumps(a) if codec == "json" else cbor2.dumps(a)
    with pytest.raises(ProtocolError) as info:
        (decode_json if codec == "json" else decode_cbor)(data)
    assert info.value.reason == "bad_version"
    assert f"schema version {SCHEMA_VERSION + 1}" in str(info.value)
    assert f"..{SCHEMA_VERSION}" in str(info.value)


def test_schema_zero_is_refused() -> None:
    a = array_of(standard())
    a[0] = 0
    assert reason_of(decode_json, orjson.dumps(a)) == "bad_version"


def test_encoding_a_newer_schema_is_refused_too() -> None:
    env = dataclasses.replace(standard(), schema=SCHEMA_VERSION + 1)
    assert reason_of(encode_json, env) == "bad_version"


# --------------------------------------------------------------------------- each reason


@pytest.mark.parametrize(("mutate", "reason", "words"), [
    (lambda a: a.__setitem__(1, "shout"), "unknown_kind", "unknown kind 'shout'"),
    (lambda a: a.__setitem__(1, 3), "bad_type", "'kind' must be a string"),
    (lambda a: a.__setitem__(2, None), "bad_type", "'id' must be a string, got null"),
    (lambda a: a.__setitem__(3, ["x"]), "bad_type", "'topic' must be a string, got list"),
    (lambda a: a.__setitem__(5, 7), "bad_type", "'correlation_id' must be a string or null"),
    (lambda a: a.__setitem__(8, "now"), "bad_type", "'created_at' must be a number"),
    (lambda a: a.__setitem__(8, True), "bad_type", "'created_at' must be a number, got bool"),
    (lambda a: a.__setitem__(9, "later"), "bad_type", "'deadline' must be a number or null"),
    (lambda a: a.__setitem__(0, "1"), "bad_type", "'schema' must be an integer"),
    (lambda a: a.pop(), "truncated", "has 10 fields, got 9"),
    (lambda a: a.append(1), "malformed", "has 10 fields, got 11"),
    (lambda a: a.clear(), "truncated", "empty array"),
])
@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_each_bad_field_names_its_reason_and_field(mutate: Any, reason: str, words: str, codec: str) -> None:
    a = array_of(standard())
    mutate(a)
    data = orjson.dumps(a) if codec == "json" else cbor2.dumps(a)
    with pytest.raises(ProtocolError) as info:
        (decode_json if codec == "json" else decode_cbor)(data)
    assert reason == info.value.reason
    assert words in str(info.value)


@pytest.mark.parametrize("data", [b"", b"[1,", b'[1,"request","i","t",{"a":'])
def test_truncated_json(data: bytes) -> None:
    assert reason_of(decode_json, data) == "truncated"


@pytest.mark.parametrize("cut", [1, 5, 20, 60])
def test_truncated_cbor(cut: int) -> None:
    data = encode_cbor(standard())
    assert reason_of(decode_cbor, data[:-cut]) == "truncated"


def test_truncated_frames() -> None:
    assert reason_of(decode_frame, b"") == "truncated"
    compressed = encode_frame(event("log", {"l": ["x" * 40] * 300}), compress_at=0)
    assert read_header(compressed).compressed
    assert reason_of(decode_frame, compressed[:-3]) in {"truncated", "malformed"}
    assert reason_of(decode_frame, compressed[:3]) == "truncated"


def test_not_an_array_is_bad_type() -> None:
    assert reason_of(decode_json, b'{"id": "x"}') == "bad_type"
    assert reason_of(decode_cbor, cbor2.dumps("hello")) == "bad_type"
    assert reason_of(decode_json_batch, b"12") == "bad_type"


def test_trailing_bytes_are_malformed() -> None:
    assert reason_of(decode_json, encode_json(standard()) + b" x") == "malformed"
    assert reason_of(decode_cbor, encode_cbor(standard()) + b"\x00") == "malformed"
    assert reason_of(decode_frame, encode_frame(event("log", "x" * 9000)) + b"zz") == "malformed"


def test_a_foreign_header_byte_is_malformed_and_named() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_frame(b'{"jsonrpc": "2.0"}')
    assert info.value.reason == "malformed"
    assert "0x7b" in str(info.value)
    assert reason_of(decode_frame, bytes([0xA2]) + b"[]") == "malformed"  # reserved codec


@pytest.mark.parametrize("tag_bytes", [
    b"\xc1\x1a\x00\x00\x00\x00",                  # epoch datetime
    b"\xd8\x1e\x82\x01\x03",                      # rational
    b"\xd8\x23\x61a",                             # regular expression
    b"\xd9\x01\x02\x81\x00",                      # set
    b"\xd8\x1c\x80",                              # shareable
    b"\xd8\x25\x50" + bytes(16),                  # UUID
    b"\xd9\x99\x99\x00",                          # unknown tag
])
def test_cbor_tags_in_payloads_are_refused(tag_bytes: bytes) -> None:
    data = cbor2.dumps(array_of(standard()))
    a = array_of(standard())
    a[4] = None
    head = cbor2.dumps(a)
    data = head.replace(b"\xf6", tag_bytes, 1)  # the first null is the payload
    with pytest.raises(ProtocolError) as info:
        decode_cbor(data)
    assert info.value.reason == "bad_type"
    assert f"CBOR tag {info.value.details['tag']} " in str(info.value)
    assert type(info.value.details["tag"]) is int


def test_cbor_simple_values_and_bytes_keys_are_refused() -> None:
    for payload in (cbor2.undefined, cbor2.CBORSimpleValue(99), {b"k": 1}, [{"a": {b"k": 1}}]):
        a = array_of(standard())
        a[4] = payload
        with pytest.raises(ProtocolError) as info:
            decode_cbor(cbor2.dumps(a))
        assert info.value.reason == "bad_type"


def test_non_string_keys_are_refused_in_cbor() -> None:
    a = array_of(standard())
    a[4] = {1: "one"}
    assert reason_of(decode_cbor, cbor2.dumps(a)) in {"bad_type", "malformed"}


@pytest.mark.parametrize("payload", [{1, 2}, datetime.datetime(2026, 1, 1), {"when": datetime.date(2026, 1, 1)},
                                     {1: "int key"}, object()])
@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_encoders_refuse_what_is_not_plain_data(payload: Any, codec: str) -> None:
    env = event("t", payload)
    assert reason_of(encode_json if codec == "json" else encode_cbor, env) == "bad_type"


def test_encoders_refuse_dataclasses() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    assert reason_of(encode_json, event("t", Point(1))) == "bad_type"
    assert reason_of(encode_cbor, event("t", Point(1))) == "bad_type"


def test_bytes_are_refused_by_json_with_a_clear_message() -> None:
    with pytest.raises(ProtocolError) as info:
        encode_json(event("t", {"b": b"x"}))
    assert info.value.reason == "bad_type"
    assert "bytes" in str(info.value)


def test_uuid_is_written_by_cbor_but_refused_on_read() -> None:
    """The one documented asymmetry: pass str(uuid) instead."""
    frame = encode_cbor(event("t", uuid.UUID(int=1)))
    assert reason_of(decode_cbor, frame) == "bad_type"


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_depth_at_the_limit_passes_and_one_more_is_too_deep(codec: str) -> None:
    limits = Limits(max_depth=8)
    enc, dec = (encode_json, decode_json) if codec == "json" else (encode_cbor, decode_cbor)
    for leaf in (1, [], {}):
        ok = event("t", nested(7, leaf) if leaf in ([], {}) else nested(8, leaf))
        assert ok == dec(enc(ok, limits=limits), limits=limits)
        deep = event("t", nested(8, leaf) if leaf in ([], {}) else nested(9, leaf))
        assert reason_of(enc, deep, limits=limits) == "too_deep"
        assert reason_of(dec, enc(deep), limits=limits) == "too_deep"


def test_too_deep_names_where_and_the_limit() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_cbor(encode_cbor(event("t", {"a": {"b": [[1]]}})), limits=Limits(max_depth=3))
    assert info.value.reason == "too_deep"
    assert "payload.a.b" in str(info.value)
    for dec, enc in ((decode_cbor, encode_cbor), (decode_json, encode_json)):
        with pytest.raises(ProtocolError) as info:
            dec(enc(event("t", {"a": nested(10)})), limits=Limits(max_depth=4))
        assert info.value.reason == "too_deep"
        assert "limit of 4" in str(info.value)


@pytest.mark.parametrize("depth", [300, 2000, 100_000])
def test_absurd_nesting_is_too_deep_not_a_crash(depth: int) -> None:
    assert reason_of(decode_json, b"[" * depth + b"]" * depth) == "too_deep"
    assert reason_of(decode_cbor, b"\x81" * depth + b"\x00") in {"too_deep", "bad_type"}
    assert reason_of(decode_frame, b"\xa1" + b"\x81" * depth + b"\x00") in {"too_deep", "bad_type"}


def test_oversize_input_is_refused_before_decoding() -> None:
    limits = Limits(max_bytes=1000)
    big = event("t", "x" * 2000)
    for enc in (encode_json, encode_cbor):
        assert reason_of(enc, big, limits=limits) == "oversize"
    for dec, data in ((decode_json, encode_json(big)), (decode_cbor, encode_cbor(big)),
                      (decode_frame, encode_frame(big, compress_at=None))):
        with pytest.raises(ProtocolError) as info:
            dec(data, limits=limits)
        assert info.value.reason == "oversize"
        assert "1000" in str(info.value)


def test_a_zstd_bomb_is_oversize_without_inflating_it() -> None:
    """A small compressed frame that would inflate past the limit is refused from its header."""
    frame = encode_frame(event("t", "x" * 5000), compress_at=0)
    assert read_header(frame).compressed
    assert len(frame) < 200
    assert reason_of(decode_frame, frame, limits=Limits(max_bytes=4000)) == "oversize"


def test_batches_above_the_count_limit_are_oversize() -> None:
    envs = [event("t", i) for i in range(5)]
    limits = Limits(max_batch=4)
    assert reason_of(encode_batch, envs, limits=limits) == "oversize"
    assert reason_of(decode_batch, encode_batch(envs), limits=limits) == "oversize"
    assert reason_of(decode_batch, encode_batch(envs, "json"), limits=limits) == "oversize"


def test_a_bad_envelope_in_a_batch_is_located() -> None:
    good = array_of(event("t", 1))
    bad = list(good)
    bad[1] = "whisper"
    with pytest.raises(ProtocolError) as info:
        decode_json_batch(orjson.dumps([good, good, bad]))
    assert info.value.reason == "unknown_kind"
    assert "batch[2]" in str(info.value)


def test_limits_refuse_nonsense() -> None:
    for kwargs in ({"max_depth": 0}, {"max_depth": 10_000}, {"max_bytes": 1}, {"max_batch": 0}):
        with pytest.raises(UsageError):
            Limits(**kwargs)


def test_protocol_errors_travel_as_wire_dicts() -> None:
    """A ProtocolError is itself a SymphonyError: it keeps its reason across processes."""
    with pytest.raises(ProtocolError) as info:
        decode_json(b"[9]")
    back = error_from_wire(info.value.to_wire())
    assert isinstance(back, ProtocolError)
    assert back.reason == "bad_version"
