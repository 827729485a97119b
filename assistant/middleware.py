"""Middleware: the guards every HTTP request passes (access log, body size, rate limits).

Pure ASGI, so the web chat's streamed responses pass through untouched.

- The access log records method, path (never the query string), status and latency: what people
  ask never reaches a log.
- Bodies sent to /api/* larger than `max_body_bytes` get 422 before they are parsed.
- Each client address gets `rate_limit` requests on /api/* (health checks excepted) and
  `chat_rate_limit` questions in the web chat; beyond that, 429 with Retry-After.
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

# The web chat's endpoints that start work (the page, its assets and result streams are free).
CHAT_PATHS = ("/gradio_api/queue/join", "/gradio_api/call/", "/gradio_api/run/")
HEALTH_PATH = "/api/health"


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: dict[str, str]
) -> None:
    payload = json.dumps(body).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
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
            await _send_json(send, 422, too_big, {})
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_json(send, 422, too_big, {})
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class RateLimit:
    """A moving window per client address, for the API and for the web chat."""

    def __init__(self, app: ASGIApp, api: str, chat: str) -> None:
        self.app = app
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.api: RateLimitItem | None = parse(api) if api and api != "0" else None
        self.chat: RateLimitItem | None = parse(chat) if chat and chat != "0" else None

    def _limit_for(self, scope: Scope) -> tuple[str, RateLimitItem] | None:
        path: str = scope["path"]
        if self.api and path.startswith("/api/") and path != HEALTH_PATH:
            return "api", self.api
        if self.chat and scope["method"] == "POST" and path.startswith(CHAT_PATHS):
            return "chat", self.chat
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = self._limit_for(scope) if scope["type"] == "http" else None
        if limited is not None:
            name, item = limited
            client = (scope.get("client") or ("unknown", 0))[0]
            if not self.limiter.hit(item, name, client):
                reset = self.limiter.get_window_stats(item, name, client).reset_time
                wait = max(1, math.ceil(reset - time.time()))
                body = {"detail": f"too many requests from this address: try again in {wait} s"}
                await _send_json(send, 429, body, {"Retry-After": str(wait)})
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
    app.add_middleware(RateLimit, api=settings.rate_limit, chat=settings.chat_rate_limit)
    app.add_middleware(AccessLog)
