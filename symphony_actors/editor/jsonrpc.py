"""JSON-RPC 2.0 framing for the editor: one JSON value per line, orjson both ways.

Standard error codes for broken messages; the editor's own failures use the
server-error range and carry the project's error in wire form as ``data`` so
the bridge raises the same class (``NotFoundError``, ``ConflictError``, ...).
"""

from __future__ import annotations

from typing import Any

import orjson

from symphony_actors.domain.errors import (
    ConflictError,
    InvalidTypeError,
    NotFoundError,
    StorageError,
    SymphonyError,
    UsageError,
)

__all__ = [
    "CONFLICT",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "NOT_FOUND",
    "PARSE_ERROR",
    "SERVER_ERROR",
    "STORAGE",
    "RpcError",
    "code_for",
    "encode",
    "error_response",
    "notification",
    "request",
    "result_response",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # any other SymphonyError
NOT_FOUND = -32001  # no such buffer, view or file
STORAGE = -32002  # the file system refused
CONFLICT = -32003  # the request contradicts state (journal does not fit, path open in another buffer)


class RpcError(Exception):
    """A JSON-RPC error to send back as it is."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def code_for(exc: SymphonyError) -> int:
    if isinstance(exc, ConflictError):
        return CONFLICT
    if isinstance(exc, UsageError | InvalidTypeError):
        return INVALID_PARAMS
    if isinstance(exc, NotFoundError):
        return NOT_FOUND
    if isinstance(exc, StorageError):
        return STORAGE
    return SERVER_ERROR


def encode(message: Any) -> bytes:
    """One message as one line."""
    return orjson.dumps(message) + b"\n"


def request(req_id: int | str, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


def result_response(req_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def error_response(req_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": req_id, "error": error}
