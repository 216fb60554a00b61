"""JSON codec (orjson): the form for the editor, the gateway and files.

Payloads are JSON values: null, bool, int (64-bit), float, str, list, map with
string keys. Tuples are written as arrays and read back as lists; NaN and the
infinities have no JSON form (orjson writes them as ``null``); dataclasses and
datetimes are refused rather than silently turned into maps and strings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import orjson

from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import ProtocolError
from symphony_actors.wire._limits import DEFAULT_LIMITS, Limits
from symphony_actors.wire._model import check_depth, count_containers, from_array, to_array

__all__ = ["decode_json", "decode_json_batch", "encode_json", "encode_json_batch"]

_OPTIONS: Final[int] = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_dumps = orjson.dumps
_loads = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_INPUT_TYPES: Final = (bytes, bytearray, memoryview, str)


def _encode_error(exc: Exception, what: str) -> ProtocolError:
    reason = "too_deep" if "recursion" in str(exc).lower() else "bad_type"
    return ProtocolError(f"{what}: payload cannot be written as JSON: {exc}", reason=reason)


def _decode_error(exc: Exception, what: str, size: int) -> ProtocolError:
    text = str(exc)
    if size == 0 or "unexpected end" in text or "empty document" in text:
        reason = "truncated"
    elif "depth" in text or "recursion" in text:
        reason = "too_deep"
    else:
        reason = "malformed"
    return ProtocolError(f"{what}: not valid JSON: {text}", reason=reason)


def _oversize(what: str, size: int, limits: Limits) -> ProtocolError:
    return ProtocolError(f"{what}: {size} bytes exceeds the limit of {limits.max_bytes}",
                         reason="oversize", size=size, limit=limits.max_bytes)


def _dump(value: Any, what: str, limits: Limits) -> bytes:
    try:
        data = _dumps(value, option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise _encode_error(exc, what) from None
    if len(data) > limits.max_bytes:
        raise _oversize(what, len(data), limits)
    return data


def _load(data: Any, what: str, limits: Limits) -> Any:
    if not isinstance(data, _INPUT_TYPES):
        raise ProtocolError(f"{what}: expected bytes, got {type(data).__name__}", reason="bad_type")
    size = len(data)
    if size > limits.max_bytes:
        raise _oversize(what, size, limits)
    try:
        return _loads(data)
    except _JSONDecodeError as exc:
        raise _decode_error(exc, what, size) from None


def encode_json(env: Envelope, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """One envelope as a JSON array of ten fields (see ``docs/wire.md``)."""
    try:
        data = _dumps(to_array(env), option=_OPTIONS)
    except orjson.JSONEncodeError as exc:
        raise _encode_error(exc, "envelope") from None
    if len(data) > limits.max_bytes:
        raise _oversize("envelope", len(data), limits)
    # Opening brackets bound the nesting from above (C speed); only a frame with
    # more of them than the limit allows needs the exact walk.
    if data.count(b"[") + data.count(b"{") > limits.max_depth + 1:
        check_depth(env.payload, limits.max_depth, "envelope")
    return data


def decode_json(data: bytes | bytearray | memoryview | str, *, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Decode :func:`encode_json` output; any bad input raises ``ProtocolError`` only."""
    if type(data) is bytes and len(data) <= limits.max_bytes:
        try:
            value = _loads(data)
        except _JSONDecodeError as exc:
            raise _decode_error(exc, "envelope", len(data)) from None
        if data.count(b"[") + data.count(b"{") > limits.max_depth + 1:
            check_depth(value, limits.max_depth, "envelope", above=1)
        return from_array(value)
    value = _load(data, "envelope", limits)
    if count_containers(data) > limits.max_depth + 1:
        check_depth(value, limits.max_depth, "envelope", above=1)
    return from_array(value)


def _check_count(n: int, limits: Limits) -> None:
    if n > limits.max_batch:
        raise ProtocolError(f"batch of {n} envelopes exceeds the limit of {limits.max_batch}",
                            reason="oversize", count=n, limit=limits.max_batch)


def encode_json_batch(envs: Iterable[Envelope], *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Many envelopes as one JSON array of envelope arrays."""
    arrays = [to_array(e) for e in envs]
    _check_count(len(arrays), limits)
    data = _dump(arrays, "batch", limits)
    if count_containers(data) > limits.max_depth + 2:
        for i, a in enumerate(arrays):
            check_depth(a[4], limits.max_depth, f"batch[{i}]")
    return data


def decode_json_batch(data: bytes | bytearray | memoryview | str, *,
                      limits: Limits = DEFAULT_LIMITS) -> list[Envelope]:
    """Decode :func:`encode_json_batch` output."""
    value = _load(data, "batch", limits)
    if type(value) is not list:
        raise ProtocolError(f"batch: expected an array of envelopes, got {type(value).__name__}",
                            reason="bad_type")
    _check_count(len(value), limits)
    if count_containers(data) > limits.max_depth + 2:
        for i, a in enumerate(value):
            check_depth(a, limits.max_depth, f"batch[{i}]", above=1)
    return [from_array(a, f"batch[{i}]") for i, a in enumerate(value)]
