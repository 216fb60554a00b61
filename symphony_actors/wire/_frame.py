"""Frames: one header byte, then an envelope or a batch, optionally zstd-compressed.

Header byte ``0b1010_BZCC``:

* bits 7-4: ``1010``, the frame format (a byte that is not ``0xA0``-``0xAF`` is no frame of ours);
* bit 3 ``B``: the body is a batch (an array of envelopes) rather than one envelope;
* bit 2 ``Z``: the body is one zstd frame (with its content size and checksum);
* bits 1-0 ``CC``: the codec, ``00`` JSON, ``01`` CBOR (``10`` and ``11`` are reserved).

A frame is one whole transport message (a Thespian message, a WebSocket
message, a file): the transport delimits it, so it carries no length.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import zstandard

from symphony_actors.domain.envelope import Envelope
from symphony_actors.domain.errors import ProtocolError, UsageError
from symphony_actors.wire._cbor import decode_cbor, decode_cbor_batch, encode_cbor, encode_cbor_batch
from symphony_actors.wire._json import decode_json, decode_json_batch, encode_json, encode_json_batch
from symphony_actors.wire._limits import DEFAULT_LIMITS, Limits

__all__ = ["COMPRESS_AT", "Codec", "FrameHeader", "decode_batch", "decode_frame", "encode_batch",
           "encode_frame", "read_header"]

Codec = Literal["json", "cbor"]

MAGIC: Final[int] = 0xA0
MAGIC_MASK: Final[int] = 0xF0
BATCH: Final[int] = 0x08
ZSTD: Final[int] = 0x04
CODEC_MASK: Final[int] = 0x03
_CODEC_BITS: Final[dict[str, int]] = {"json": 0, "cbor": 1}
_CODEC_NAMES: Final[dict[int, Codec]] = {0: "json", 1: "cbor"}

#: Bodies of at least this many bytes are compressed (when that makes them smaller).
COMPRESS_AT: Final[int] = 4096
_LEVEL: Final[int] = 3

_INPUT_TYPES: Final = (bytes, bytearray, memoryview)  # a tuple: isinstance with a union is 4x slower
_local = threading.local()  # zstd contexts are not thread-safe; one pair per thread


def _compressor() -> zstandard.ZstdCompressor:
    c: zstandard.ZstdCompressor | None = getattr(_local, "compressor", None)
    if c is None:
        c = _local.compressor = zstandard.ZstdCompressor(level=_LEVEL, write_checksum=True,
                                                         write_content_size=True)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d: zstandard.ZstdDecompressor | None = getattr(_local, "decompressor", None)
    if d is None:
        d = _local.decompressor = zstandard.ZstdDecompressor()
    return d


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """What a frame's first byte says."""

    codec: Codec
    compressed: bool
    batch: bool

    def to_byte(self) -> int:
        return MAGIC | (BATCH if self.batch else 0) | (ZSTD if self.compressed else 0) | _CODEC_BITS[self.codec]


# Every valid header, built once: a frozen dataclass costs ~1 us to construct per frame.
_HEADERS: Final[dict[int, FrameHeader]] = {
    h.to_byte(): h for h in (FrameHeader(c, z, b) for c in ("json", "cbor") for z in (False, True)
                             for b in (False, True))}
_PLAIN_BYTE: Final[dict[tuple[str, bool], bytes]] = {
    (h.codec, h.batch): bytes((b,)) for b, h in _HEADERS.items() if not h.compressed}
_ZSTD_BYTE: Final[dict[tuple[str, bool], bytes]] = {
    (h.codec, h.batch): bytes((b,)) for b, h in _HEADERS.items() if h.compressed}


def read_header(data: bytes | bytearray | memoryview) -> FrameHeader:
    """Parse the header byte of ``data``; ``ProtocolError`` if it is not one of ours."""
    if not isinstance(data, _INPUT_TYPES):
        raise ProtocolError(f"frame: expected bytes, got {type(data).__name__}", reason="bad_type")
    if len(data) == 0:
        raise ProtocolError("frame: no bytes (expected a header byte)", reason="truncated")
    h = data[0]
    header = _HEADERS.get(h)
    if header is not None:
        return header
    if h & MAGIC_MASK != MAGIC:
        raise ProtocolError(f"frame: header byte 0x{h:02x} is not a symphony frame (expected 0xa0-0xaf)",
                            reason="malformed", header=h)
    raise ProtocolError(f"frame: header byte 0x{h:02x} names unknown codec {h & CODEC_MASK}",
                        reason="malformed", header=h)


def _pack(codec: Codec, batch: bool, body: bytes, compress_at: int | None) -> bytes:
    if compress_at is not None and len(body) >= compress_at:
        packed = _compressor().compress(body)
        if len(packed) < len(body):
            return _ZSTD_BYTE[codec, batch] + packed
    return _PLAIN_BYTE[codec, batch] + body


def _unpack(data: bytes | bytearray | memoryview, limits: Limits) -> tuple[FrameHeader, bytes | memoryview]:
    header = read_header(data)
    if len(data) > limits.max_bytes + 1:
        raise ProtocolError(f"frame: {len(data)} bytes exceeds the limit of {limits.max_bytes}",
                            reason="oversize", size=len(data), limit=limits.max_bytes)
    # Slicing bytes copies, but small bodies are cheaper copied than wrapped: both codecs' fast
    # paths take bytes.
    body = data[1:] if type(data) is bytes else memoryview(data)[1:]
    if not header.compressed:
        return header, body
    if len(body) == 0:
        raise ProtocolError("frame: compressed body is empty", reason="truncated")
    try:
        size = zstandard.frame_content_size(body)
    except zstandard.ZstdError as exc:
        reason = "truncated" if len(body) < 6 else "malformed"
        raise ProtocolError(f"frame: bad zstd frame header: {exc}", reason=reason) from None
    if size < 0:
        raise ProtocolError("frame: zstd frame does not state its content size", reason="malformed")
    if size > limits.max_bytes:
        raise ProtocolError(f"frame: decompressed size {size} bytes exceeds the limit of {limits.max_bytes}",
                            reason="oversize", size=size, limit=limits.max_bytes)
    try:
        out = _decompressor().decompress(body, max_output_size=max(size, 1), allow_extra_data=False)
    except zstandard.ZstdError as exc:
        text = str(exc)
        reason = "truncated" if "did not decompress full frame" in text else "malformed"
        raise ProtocolError(f"frame: cannot decompress: {text}", reason=reason) from None
    if len(out) != size:
        raise ProtocolError(f"frame: zstd frame stated {size} bytes but held {len(out)}", reason="malformed")
    return header, out


_ENCODE: Final[dict[str, Callable[..., bytes]]] = {"json": encode_json, "cbor": encode_cbor}
_ENCODE_BATCH: Final[dict[str, Callable[..., bytes]]] = {"json": encode_json_batch, "cbor": encode_cbor_batch}
_DECODE: Final[dict[str, Callable[..., Envelope]]] = {"json": decode_json, "cbor": decode_cbor}
_DECODE_BATCH: Final[dict[str, Callable[..., list[Envelope]]]] = {"json": decode_json_batch,
                                                                  "cbor": decode_cbor_batch}


def _check_codec(codec: Any) -> Codec:
    if codec not in _CODEC_BITS:
        raise UsageError(f"unknown codec {codec!r}: use 'json' or 'cbor'")
    c: Codec = codec
    return c


def encode_frame(env: Envelope, codec: Codec = "cbor", *, compress_at: int | None = COMPRESS_AT,
                 limits: Limits = DEFAULT_LIMITS) -> bytes:
    """One envelope as a frame; bodies of ``compress_at`` bytes or more are zstd-compressed (None: never)."""
    codec = _check_codec(codec)
    return _pack(codec, False, _ENCODE[codec](env, limits=limits), compress_at)


def decode_frame(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Decode a frame holding one envelope; a batch frame is refused (use :func:`decode_batch`)."""
    header, body = _unpack(data, limits)
    if header.batch:
        raise ProtocolError("frame: holds a batch of envelopes, not one (use decode_batch)", reason="bad_type")
    return _DECODE[header.codec](body, limits=limits)


def encode_batch(envs: Iterable[Envelope], codec: Codec = "cbor", *, compress_at: int | None = COMPRESS_AT,
                 limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Many envelopes in one frame (one transport message instead of many)."""
    codec = _check_codec(codec)
    return _pack(codec, True, _ENCODE_BATCH[codec](envs, limits=limits), compress_at)


def decode_batch(data: bytes | bytearray | memoryview, *, limits: Limits = DEFAULT_LIMITS) -> list[Envelope]:
    """Decode any frame to a list of envelopes: a batch frame, or a one-envelope frame as a list of one."""
    header, body = _unpack(data, limits)
    if not header.batch:
        return [_DECODE[header.codec](body, limits=limits)]
    return _DECODE_BATCH[header.codec](body, limits=limits)
