"""CBOR codec (cbor2): the binary form, smaller and able to carry ``bytes``.

Payloads are the JSON values plus ``bytes`` and integers of any size (CBOR
bignums). Decoding refuses every CBOR tag except bignums (2, 3) and the
self-describe marker (55799): tags would produce values that are not plain
data, and some (shared references, rationals, regular expressions) cost time
or memory out of proportion to their size. ``uuid.UUID`` is the one non-plain
type the encoder lets through (as tag 37, which decoders refuse): pass ``str(u)``.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable
from typing import Any, Final, NoReturn

import cbor2

from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import ProtocolError
from symphony_actors.wire._limits import DEFAULT_LIMITS, Limits
from symphony_actors.wire._model import from_array, to_array, validate_payload

__all__ = ["decode_cbor", "decode_cbor_batch", "encode_cbor", "encode_cbor_batch"]

_dumps = cbor2.dumps
_loads = cbor2.loads

# cbor2.loads ignores bytes after the first item. To notice trailing bytes
# without a slower stream decoder, the input is decoded inside a two-item array
# closed by a per-process random byte string: a clean input yields exactly
# [value, sentinel]. (Measured: +0.5 us against +0.9 us for a CBORDecoder on BytesIO.)
_SENTINEL_VALUE: Final[bytes] = os.urandom(12)
_SENTINEL: Final[bytes] = b"\x4c" + _SENTINEL_VALUE
_OPEN: Final[bytes] = b"\x82"
_INPUT_TYPES: Final = (bytes, bytearray, memoryview)
_SCALARS: Final[frozenset[type]] = frozenset({str, int, float, bool, type(None), bytes})


def _tag_refuser(tag: int) -> Callable[[Any, bool], Any]:
    def refuse(decoder: Any, immutable: bool = False) -> NoReturn:
        raise ProtocolError(f"CBOR tag {tag} is not allowed in an envelope", reason="bad_type", tag=tag)

    return refuse


# Every tag cbor2 decodes itself, except bignums (2, 3) and self-describe (55799): they
# yield values that are not plain data (dates, UUIDs, sets, addresses) and some cost out
# of proportion to their size (shared values, rationals, regular expressions).
# Passing this map costs ~0.05 us per decode.
_REFUSED_TAGS: Final[dict[int, Callable[[Any, bool], Any]]] = {
    t: _tag_refuser(t) for t in (0, 1, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004,
                                 43000)}


def _unknown_tag(*args: Any) -> NoReturn:
    # cbor2 6 calls tag_hook(tag, immutable); older releases called tag_hook(decoder, tag).
    number = next((a.tag for a in args if isinstance(a, cbor2.CBORTag)), "?")
    raise ProtocolError(f"CBOR tag {number} is not allowed in an envelope", reason="bad_type", tag=number)


def _dump(value: Any, what: str, limits: Limits) -> bytes:
    try:
        data = _dumps(value)
    except (cbor2.CBOREncodeError, TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"{what}: payload cannot be written as CBOR: {exc}", reason="bad_type") from None
    if len(data) > limits.max_bytes:
        raise ProtocolError(f"{what}: encoded size {len(data)} bytes exceeds the limit of {limits.max_bytes}",
                            reason="oversize", size=len(data), limit=limits.max_bytes)
    return data


def _decode_error(exc: Exception, what: str, limits: Limits) -> ProtocolError:
    cause = exc.__cause__
    if isinstance(cause, ProtocolError):  # a refused tag, raised inside cbor2
        return cause
    text = str(exc)
    if isinstance(exc, EOFError) or isinstance(cause, EOFError) or "premature end" in text:
        return ProtocolError(f"{what}: CBOR data ends early", reason="truncated")
    if "nesting depth" in text:
        return ProtocolError(f"{what}: nesting exceeds the limit of {limits.max_depth} containers in a payload",
                             reason="too_deep", max_depth=limits.max_depth)
    return ProtocolError(f"{what}: not valid CBOR: {text[:200]}", reason="malformed")


def _decoder_options(limits: Limits, levels: int) -> dict[str, Any]:
    # Depth counts items from 0 at the top: the payload sits ``levels`` (+1 for the sentinel
    # wrapper) below it. The exact limit is checked on the payload afterwards; this bounds the work.
    return {"tag_hook": _unknown_tag, "semantic_decoders": _REFUSED_TAGS, "strict_hashable_types": True,
            "max_depth": limits.max_depth + levels + 2}


def _load_slow(data: bytes, what: str, limits: Limits, levels: int) -> ProtocolError:
    """Find out why ``data`` is not exactly one CBOR item (the error path only)."""
    fp = io.BytesIO(data)
    try:
        cbor2.CBORDecoder(fp, **_decoder_options(limits, levels)).decode()
    except ProtocolError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - cbor2 raises several types; every one becomes ProtocolError
        return _decode_error(exc, what, limits)
    return ProtocolError(f"{what}: {len(data) - fp.tell()} unexpected bytes after the CBOR item at offset "
                         f"{fp.tell()}", reason="malformed", offset=fp.tell())


def _load(data: Any, what: str, limits: Limits, levels: int) -> Any:
    if type(data) is not bytes:
        if not isinstance(data, _INPUT_TYPES):
            raise ProtocolError(f"{what}: expected bytes, got {type(data).__name__}", reason="bad_type")
        data = bytes(data)
    size = len(data)
    if size > limits.max_bytes:
        raise ProtocolError(f"{what}: {size} bytes exceeds the limit of {limits.max_bytes}",
                            reason="oversize", size=size, limit=limits.max_bytes)
    if size == 0:
        raise ProtocolError(f"{what}: no bytes", reason="truncated")
    try:
        value = _loads(_OPEN + data + _SENTINEL, tag_hook=_unknown_tag, semantic_decoders=_REFUSED_TAGS,
                       max_depth=limits.max_depth + levels + 2, strict_hashable_types=True)
    except Exception:  # noqa: BLE001 - the slow path below says what is wrong
        value = None
    if value is None or value[1] != _SENTINEL_VALUE:
        raise _load_slow(data, what, limits, levels) from None
    return value[0]


def encode_cbor(env: Envelope, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """One envelope as a CBOR array of ten fields (see ``docs/wire.md``)."""
    a = to_array(env)
    if type(a[4]) not in _SCALARS:
        validate_payload(a[4], limits.max_depth, "envelope")
    return _dump(a, "envelope", limits)


def decode_cbor(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Decode :func:`encode_cbor` output; any bad input raises ``ProtocolError`` only."""
    # The common case inline (each Python call level costs ~0.1 us); _load says what is wrong.
    if type(data) is bytes and 0 < len(data) <= limits.max_bytes:
        try:
            value = _loads(_OPEN + data + _SENTINEL, tag_hook=_unknown_tag, semantic_decoders=_REFUSED_TAGS,
                           max_depth=limits.max_depth + 3, strict_hashable_types=True)
        except Exception:  # noqa: BLE001 - the careful path below turns it into a ProtocolError
            value = None
        if value is not None and value[1] == _SENTINEL_VALUE:
            env = from_array(value[0])
            if type(env.payload) not in _SCALARS:
                validate_payload(env.payload, limits.max_depth, "envelope")
            return env
    env = from_array(_load(data, "envelope", limits, 1))
    validate_payload(env.payload, limits.max_depth, "envelope")
    return env


def encode_cbor_batch(envs: Iterable[Envelope], *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Many envelopes as one CBOR array of envelope arrays."""
    arrays = [to_array(e) for e in envs]
    if len(arrays) > limits.max_batch:
        raise ProtocolError(f"batch of {len(arrays)} envelopes exceeds the limit of {limits.max_batch}",
                            reason="oversize", count=len(arrays), limit=limits.max_batch)
    for i, a in enumerate(arrays):
        validate_payload(a[4], limits.max_depth, f"batch[{i}]")
    return _dump(arrays, "batch", limits)


def decode_cbor_batch(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> list[Envelope]:
    """Decode :func:`encode_cbor_batch` output."""
    value = _load(data, "batch", limits, 2)
    if type(value) is not list:
        raise ProtocolError(f"batch: expected an array of envelopes, got {type(value).__name__}",
                            reason="bad_type")
    if len(value) > limits.max_batch:
        raise ProtocolError(f"batch of {len(value)} envelopes exceeds the limit of {limits.max_batch}",
                            reason="oversize", count=len(value), limit=limits.max_batch)
    envs = []
    for i, a in enumerate(value):
        env = from_array(a, f"batch[{i}]")
        validate_payload(env.payload, limits.max_depth, f"batch[{i}]")
        envs.append(env)
    return envs
