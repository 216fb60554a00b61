"""The gateway: the frontend's face, Tauri-style ``invoke`` commands and ``emit`` events over WebSocket.

A separate process (started and supervised by the ``gateway`` service) that
is an ordinary client of the system. Each WebSocket connection speaks JSON,
one object per message::

    -> {"id": 1, "cmd": "invoke", "service": "dag", "method": "status", "args": {"run_id": "..."}}
    <- {"id": 1, "ok": true, "result": {...}}
    <- {"id": 1, "ok": false, "error": {"code": "not_found", "type": "NotFoundError", "message": "..."}}
    -> {"id": 2, "cmd": "listen", "pattern": "run.#"}
    <- {"id": 2, "ok": true, "result": {"listening": "run.#"}}
    <- {"event": "run.r1.node.succeeded", "payload": {...}, "listen": 2}
    -> {"id": 3, "cmd": "unlisten", "listen": 2}
    -> {"id": 4, "cmd": "status"}                      (the supervision tree, as `symphony status --json`)

It listens on 127.0.0.1 only, and a browser page can open WebSockets to any
local port, so every connection must present the system's gateway token
(``?token=...``, from ``<data>/run/gateway-<port>.token``, mode 0600) and an
``Origin`` that is this gateway's own page or none. ``GET /?token=...`` serves
a small page that shows the tree and live events.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import os
import secrets
import sys
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from symphony_actors.domain.errors import ProtocolError, SymphonyError, UsageError

__all__ = ["main", "serve"]

MAX_MESSAGE = 16 * 1024 * 1024
PAGE = Path(__file__).with_name("index.html")


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray | memoryview):
        return {"base64": base64.b64encode(bytes(obj)).decode()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return repr(obj)


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=_default).decode()


def _error(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, SymphonyError):
        return exc.to_wire()
    return {"code": "remote", "type": type(exc).__name__, "message": str(exc)}


class Session:
    """One WebSocket connection: its own clients (commands, events) and its listeners."""

    def __init__(self, ws: Any, system_port: int) -> None:
        from symphony_actors.client import Client

        self.ws = ws
        self.commands = Client(system_port, timeout=60)
        self.events = Client(system_port, timeout=60)  # long polls must not hold up commands
        self.listeners: dict[Any, tuple[Any, asyncio.Task[None]]] = {}

    async def handle(self, raw: str | bytes) -> None:
        try:
            msg = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            await self.ws.send(dumps({"id": None, "ok": False,
                                      "error": ProtocolError(f"not JSON: {exc}", reason="malformed").to_wire()}))
            return
        mid = msg.get("id") if isinstance(msg, dict) else None
        try:
            if not isinstance(msg, dict):
                raise UsageError("a message must be a JSON object")
            cmd = msg.get("cmd")
            if cmd == "invoke":
                result = await self.invoke(msg)
            elif cmd == "listen":
                result = await self.listen(mid, msg)
            elif cmd == "unlisten":
                result = await self.unlisten(msg.get("listen"))
            elif cmd == "status":
                result = await asyncio.to_thread(self.commands.status)
            else:
                raise UsageError(f"unknown cmd {cmd!r}: use invoke, listen, unlisten or status")
            await self.ws.send(dumps({"id": mid, "ok": True, "result": result}))
        except Exception as exc:  # noqa: BLE001 - every failure is answered, typed, and the session goes on
            await self.ws.send(dumps({"id": mid, "ok": False, "error": _error(exc)}))

    async def invoke(self, msg: dict[str, Any]) -> Any:
        service, method, args = msg.get("service"), msg.get("method"), msg.get("args") or {}
        if not isinstance(service, str) or not isinstance(method, str) or not isinstance(args, dict):
            raise UsageError("invoke needs service (string), method (string) and args (object)")
        return await asyncio.to_thread(self.commands.call, service, method, **args)

    async def listen(self, mid: Any, msg: dict[str, Any]) -> dict[str, Any]:
        pattern = msg.get("pattern")
        if not isinstance(pattern, str):
            raise UsageError("listen needs a pattern (string)")
        sub = await asyncio.to_thread(self.events.subscribe, pattern)
        task = asyncio.create_task(self._pump(mid, sub))
        self.listeners[mid] = (sub, task)
        return {"listening": pattern}

    async def _pump(self, mid: Any, sub: Any) -> None:
        while not sub.closed:
            try:
                events = await asyncio.to_thread(sub.get, 1.0)
            except SymphonyError as exc:
                await self.ws.send(dumps({"listen": mid, "error": exc.to_wire()}))
                return
            for e in events:
                await self.ws.send(dumps({"event": e["topic"], "payload": e["payload"], "listen": mid,
                                          "seq": e.get("seq")}))
            if sub.dropped:
                await self.ws.send(dumps({"listen": mid, "dropped": sub.dropped}))
                sub.dropped = 0

    async def unlisten(self, mid: Any) -> dict[str, Any]:
        entry = self.listeners.pop(mid, None)
        if entry is None:
            raise UsageError(f"no listener {mid!r}")
        sub, task = entry
        task.cancel()
        await asyncio.to_thread(sub.close)
        return {"unlistened": mid}

    async def close(self) -> None:
        for sub, task in self.listeners.values():
            task.cancel()
            with contextlib.suppress(SymphonyError):
                await asyncio.to_thread(sub.close)
        self.listeners.clear()
        await asyncio.to_thread(self.commands.close)
        await asyncio.to_thread(self.events.close)


async def serve(system_port: int, port: int, token: str, host: str = "127.0.0.1",
                ready: asyncio.Event | None = None) -> None:
    from websockets.asyncio.server import serve as ws_serve

    own_origins = {f"http://{host}:{port}", f"http://localhost:{port}"}

    def process_request(connection: Any, request: Any) -> Any:
        url = urlsplit(request.path)
        given = parse_qs(url.query).get("token", [""])[0]
        if not secrets.compare_digest(given, token):
            return connection.respond(HTTPStatus.FORBIDDEN, "a valid ?token= is required\n")
        origin = request.headers.get("Origin")
        if origin is not None and origin not in own_origins:
            return connection.respond(HTTPStatus.FORBIDDEN, f"origin {origin} is not allowed\n")
        if url.path == "/" and request.headers.get("Upgrade", "").lower() != "websocket":
            response = connection.respond(HTTPStatus.OK, PAGE.read_text())
            response.headers["Content-Type"] = "text/html; charset=utf-8"
            return response
        return None

    async def handler(ws: Any) -> None:
        session = await asyncio.to_thread(Session, ws, system_port)
        try:
            async for raw in ws:
                await session.handle(raw)
        finally:
            await session.close()

    async with ws_serve(handler, host, port, process_request=process_request, max_size=MAX_MESSAGE):
        if ready is not None:
            ready.set()
        parent = os.getppid()
        while os.getppid() == parent:  # exit with the gateway service that started us
            await asyncio.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Symphony's WebSocket gateway (started by the gateway service)")
    parser.add_argument("--system-port", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-file", required=True)
    args = parser.parse_args(argv)
    token = Path(args.token_file).read_text().strip()
    try:
        asyncio.run(serve(args.system_port, args.port, token))
    except OSError as exc:
        print(f"gateway: cannot listen on 127.0.0.1:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
