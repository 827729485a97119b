"""Serve: the uvicorn options that bound what slow or crowding clients can hold.

uvicorn times out idle keep-alive connections, but not a request whose head or body never
finishes arriving: thousands of those stay open until the client gives up. Nor does it bound a
head's size with httptools (a client sent 600 MB of headers in two seconds). Its HTTP/1.1
protocol here gets a deadline for the head, one for the body and a size cap on the head;
responses, the web chat's long result streams included, are never timed. uvicorn's own
`limit_concurrency` caps the connections a process keeps (503 beyond), and X-Forwarded-For is
believed only from the proxies named in FORWARDED_ALLOW_IPS.
"""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from index.settings import Settings

# Browsers send a few KB of headers; nginx refuses heads over 32 KB by default.
MAX_HEAD_BYTES = 64 * 1024


def _response(status: int, detail: str) -> bytes:
    """A whole HTTP response with the API's JSON error body, closing the connection."""
    body = json.dumps({"detail": detail}).encode()
    head = b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body)
    return STATUS_LINE[status] + head + b"connection: close\r\n\r\n" + body


REQUEST_TIMEOUT = _response(408, "the request body took too long to arrive")
HEAD_TOO_LARGE = _response(431, f"the request head is too large: at most {MAX_HEAD_BYTES} bytes")


class TimedHttpProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request's head (then the
    connection is closed) and for its body once the head is in (then 408 and close), and 431
    for a head still unfinished after MAX_HEAD_BYTES."""

    def __init__(self, *args: Any, header_timeout: float, body_timeout: float, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.deadline: asyncio.TimerHandle | None = None
        self.head_bytes: int | None = 0  # None while no head is being read

    def _expect(self, seconds: float, expired: Any) -> None:
        self._settle()
        self.deadline = self.loop.call_later(seconds, expired)

    def _settle(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _head_too_slow(self) -> None:
        self.deadline = None
        self.transport.close()

    def _body_too_slow(self) -> None:
        self.deadline = None
        # the app may have answered without reading the body: then only close
        if self.cycle is not None and not self.cycle.response_started:
            self.transport.write(REQUEST_TIMEOUT)
        # the app sees the client leave (http.disconnect), as when a client hangs up mid-body
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        # httptools gathers a head in memory however long it grows: count it, refuse past the cap
        if self.head_bytes is not None:
            self.head_bytes += len(data)
        super().data_received(data)
        too_large = self.head_bytes is not None and self.head_bytes > MAX_HEAD_BYTES
        if too_large and not self.transport.is_closing():
            if self.cycle is None or self.cycle.response_complete:  # not amid another answer
                self.transport.write(HEAD_TOO_LARGE)
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._expect(self.header_timeout, self._head_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._settle()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.deadline is None:  # the first request's deadline runs from the connection
            self._expect(self.header_timeout, self._head_too_slow)

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        # the parser reports the end of the message right after this when there is no body
        self._expect(self.body_timeout, self._body_too_slow)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._settle()
        self.head_bytes = 0  # what comes next is the next request's head
        super().on_message_complete()

    def handle_websocket_upgrade(self) -> None:
        self._settle()  # the WebSocket protocol takes the connection over
        super().handle_websocket_upgrade()


GRACEFUL_SHUTDOWN_SECONDS = 5


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run() options for these settings: the timed protocol, the connection cap and
    whose X-Forwarded-For to believe (nobody's unless FORWARDED_ALLOW_IPS is set)."""
    protocol = functools.partial(
        TimedHttpProtocol,
        header_timeout=settings.header_timeout,
        body_timeout=settings.body_timeout,
    )
    options: dict[str, Any] = {
        "http": protocol,
        "limit_concurrency": settings.max_connections,
        "proxy_headers": settings.forwarded_allow_ips is not None,
        # an open page holds a heartbeat stream that never ends by itself: without a bound, a
        # stop (Ctrl+C, SIGTERM) would wait for every such page to be closed
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }
    if settings.forwarded_allow_ips is not None:
        options["forwarded_allow_ips"] = settings.forwarded_allow_ips
    return options
