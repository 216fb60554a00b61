"""The wire protocol: envelopes as JSON or CBOR, in frames, one by one or in batches.

* :func:`encode_json` / :func:`decode_json`: one envelope as JSON (editor, gateway, files).
* :func:`encode_cbor` / :func:`decode_cbor`: one envelope as CBOR (the binary form).
* :func:`encode_frame` / :func:`decode_frame`: one envelope behind a header byte naming the codec and
  whether the body is zstd-compressed (bodies of :data:`COMPRESS_AT` bytes or more are).
* :func:`encode_batch` / :func:`decode_batch`: many envelopes in one frame.

Every decoder raises :class:`~symphony_actors.domain.errors.ProtocolError` and nothing else on bad input;
its ``reason`` is one of ``truncated``, ``bad_type``, ``unknown_kind``, ``oversize``, ``bad_version``,
``malformed``, ``too_deep``. The layout, the version rule and the limits are in ``docs/wire.md``.
"""

from symphony_actors.wire._cbor import decode_cbor, decode_cbor_batch, encode_cbor, encode_cbor_batch
from symphony_actors.wire._frame import (
    COMPRESS_AT,
    Codec,
    FrameHeader,
    decode_batch,
    decode_frame,
    encode_batch,
    encode_frame,
    read_header,
)
from symphony_actors.wire._json import decode_json, decode_json_batch, encode_json, encode_json_batch
from symphony_actors.wire._limits import DEFAULT_LIMITS, Limits
from symphony_actors.wire._model import FIELDS

__all__ = [
    "COMPRESS_AT",
    "DEFAULT_LIMITS",
    "FIELDS",
    "Codec",
    "FrameHeader",
    "Limits",
    "decode_batch",
    "decode_cbor",
    "decode_cbor_batch",
    "decode_frame",
    "decode_json",
    "decode_json_batch",
    "encode_batch",
    "encode_cbor",
    "encode_cbor_batch",
    "encode_frame",
    "encode_json",
    "encode_json_batch",
    "read_header",
]
