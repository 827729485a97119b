"""Middleware: the guards every HTTP request passes (access log, body size, rate limits).

Pure ASGI, so the web chat's streamed responses pass through untouched.

- The access log records method, path (never the query string), status and latency: what people
  ask never reaches a log.
- Bodies sent to /api/* larger than `max_body_bytes` get 422 before they are parsed.
- Each client address gets `rate_limit` requests on /api/* (health checks excepted); beyond
  that, 429 with Retry-After. (The web chat's question limit is counted by assistant.gate.)
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_log = logging.getLogger("assistant.access")

HEALTH_PATH = "/api/health"


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    """A JSON response, with these extra headers."""
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": payload})


class AccessLog:
    """One line per request: method, path, status, milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            access_log.info(
                "%s %s %d %.0fms",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
            )


class BodyLimit:
    """422 for /api/* bodies over the limit, whether declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        too_big = {"detail": f"the request body is too large: at most {self.max_bytes} bytes"}
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, 422, too_big)
            return
        try:
            body = await read_body(receive, self.max_bytes)
        except ClientGone:
            return
        if body is None:
            await send_json(send, 422, too_big)
            return
        await self.app(scope, replay(body, receive), send)


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole request body, or None once it passes `max_bytes`; ClientGone when the client
    leaves before it is complete (half a request is never handed on)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over a body already read, then what the client sends next."""
    sent = False

    async def receiving() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receiving


class Limit:
    """A moving window of `rate` (e.g. '30/minute') per client address."""

    def __init__(self, rate: str) -> None:
        self.item: RateLimitItem = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    @classmethod
    def of(cls, rate: str) -> Limit | None:
        """The limit, or None for an empty or '0' rate (no limit)."""
        return cls(rate) if rate and rate != "0" else None

    def hit(self, name: str, client: str) -> int:
        """Count one request; 0 when it is allowed, else the seconds until one will be."""
        if self.limiter.hit(self.item, name, client):
            return 0
        reset = self.limiter.get_window_stats(self.item, name, client).reset_time
        return max(1, math.ceil(reset - time.time()))


class RateLimit:
    """A moving window per client address for the API (health checks are never limited)."""

    def __init__(self, app: ASGIApp, api: str) -> None:
        self.app = app
        self.limit = Limit.of(api)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            self.limit is not None
            and scope["type"] == "http"
            and path.startswith("/api/")
            and path != HEALTH_PATH
        ):
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.limit.hit("api", client)
            if wait:
                body = {"detail": f"too many requests from this address: try again in {wait} s"}
                await send_json(send, 429, body, {"Retry-After": str(wait)})
                return
        await self.app(scope, receive, send)


def install_guards(app: Any, settings: Any) -> None:
    """Add the guards to a Starlette/FastAPI app, outermost first: access log, rate limits,
    body size, then CORS (closed unless origins are allowed)."""
    from fastapi.middleware.cors import CORSMiddleware

    if settings.allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.allowed_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimit, api=settings.rate_limit)
    app.add_middleware(AccessLog)
