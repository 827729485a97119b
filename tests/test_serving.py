"""The served configuration (`python app.py`): deadlines for slow request heads and bodies, a cap
on heads' size and on connections, whose X-Forwarded-For is believed, and HEAD on the health check.
Each test talks to a real server process over raw sockets or HTTP."""

from __future__ import annotations

import contextlib
import http.client
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from conftest import app_environment, app_process, wait_until_up

pytestmark = pytest.mark.slow

HEADER_TIMEOUT = 2  # seconds, small so that the tests wait little
BODY_TIMEOUT = 2
MAX_CONNECTIONS = 60
GRACE = 15  # seconds the tests allow past a deadline before calling a connection held
RATE = 5  # requests a minute on /api/*

HALF_HEAD = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n"


def _environment(index_settings: Any, **settings: str) -> dict[str, str]:
    env = app_environment(
        ASSISTANT_DATA_DIR=str(index_settings.data_dir),
        ASSISTANT_RATE_LIMIT=f"{RATE}/minute",
        ASSISTANT_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        ASSISTANT_BODY_TIMEOUT=str(BODY_TIMEOUT),
        ASSISTANT_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    env.pop("FORWARDED_ALLOW_IPS", None)
    env.update(settings)
    return env


@pytest.fixture(scope="module")
def guarded(index_settings: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python app.py` with small deadlines, cap and rate limit, FORWARDED_ALLOW_IPS unset."""
    log = tmp_path_factory.mktemp("serving") / "server.log"
    with app_process(_environment(index_settings), log) as (url, process):
        wait_until_up(f"{url}/api/health", process, 120, log)
        yield url
    assert "Traceback" not in log.read_text()


def _address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _health(url: str) -> int:
    """The status of GET /api/health on a connection of its own."""
    return httpx.get(f"{url}/api/health", headers={"Connection": "close"}, timeout=30).status_code


def _open(url: str, count: int, first: bytes, source: str = "127.0.0.1") -> list[socket.socket]:
    """`count` connections from `source` that have sent `first` (maybe nothing), then nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(_address(url), timeout=10, source_address=(source, 0))
        if first:
            sock.sendall(first)
        sockets.append(sock)
    return sockets


def _until_closed(sock: socket.socket, deadline: float) -> bytes | None:
    """What the server sent before closing `sock`, or None if it was still open at `deadline`."""
    received = b""
    try:
        while True:
            sock.settimeout(max(0.05, deadline - time.monotonic()))
            data = sock.recv(65536)
            if not data:
                return received
            received += data
    except ConnectionResetError:
        return received
    except TimeoutError:
        return None
    finally:
        sock.close()


def _all_closed(sockets: list[socket.socket], seconds: float) -> list[bytes | None]:
    deadline = time.monotonic() + seconds
    return [_until_closed(sock, deadline) for sock in sockets]


def test_unfinished_heads_are_closed_and_health_answers_meanwhile(guarded: str) -> None:
    held = _open(guarded, 40, HALF_HEAD) + _open(guarded, 10, b"")
    # a kept-alive connection idle between requests for longer than the head deadline is fine:
    # the deadline runs from each request's first byte, not from the connection
    kept = http.client.HTTPConnection(*_address(guarded), timeout=30)
    kept.request("GET", "/api/health")
    first = kept.getresponse()
    first.read()
    first_socket = kept.sock
    assert [_health(guarded) for _ in range(3)] == [200, 200, 200]
    time.sleep(HEADER_TIMEOUT + 1)  # and less than uvicorn's keep-alive timeout (5 s)
    kept.request("GET", "/api/health")
    second = kept.getresponse()
    second.read()
    assert (first.status, second.status) == (200, 200)
    assert kept.sock is first_socket, "the kept-alive connection was not reused"
    kept.close()

    answers = _all_closed(held, HEADER_TIMEOUT + GRACE)
    assert answers.count(None) == 0, f"{answers.count(None)} of 50 connections still open"
    assert answers == [b""] * 50  # closed without an answer: there was no request to answer
    assert _health(guarded) == 200


def test_slow_bodies_get_408(guarded: str) -> None:
    for path in ("/api/ask", "/gradio_api/queue/join"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 400\r\n\r\n"
        )
        # from an address of their own, so that the API's rate limit (tested below) counts
        # them apart from the other tests' requests
        slow = _open(guarded, 5, head.encode() + b'{"question": "Tell me', source="127.0.0.2")
        assert _health(guarded) == 200
        for answer in _all_closed(slow, BODY_TIMEOUT + GRACE):
            assert answer is not None, f"{path}: a body that never finished was kept open"
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert answer.endswith(b'{"detail": "the request body took too long to arrive"}')
    assert _health(guarded) == 200


def test_oversized_heads_get_431(guarded: str) -> None:
    (sock,) = _open(guarded, 1, b"")
    with sock:
        sock.settimeout(30)
        # the server may close before it has read everything: its answer is below
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(HALF_HEAD + b"X-Filler: " + b"a" * 1_000_000 + b"\r\n\r\n")
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b"the request head is too large" in answer
    assert _health(guarded) == 200


def test_connections_over_the_cap_get_503_and_health_recovers(guarded: str) -> None:
    held = _open(guarded, MAX_CONNECTIONS, b"")
    refused = httpx.get(f"{guarded}/api/health", headers={"Connection": "close"}, timeout=30)
    assert refused.status_code == 503
    assert refused.headers["connection"] == "close"
    assert None not in _all_closed(held, HEADER_TIMEOUT + GRACE)
    assert _health(guarded) == 200


def test_head_on_health_answers_like_get_without_a_body(guarded: str) -> None:
    head = httpx.head(f"{guarded}/api/health", timeout=30)
    get = httpx.get(f"{guarded}/api/health", timeout=30)
    assert (head.status_code, get.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/json"


def _statuses(url: str, forwarded: list[str]) -> list[int]:
    """GET /api/documents once per entry, each with that X-Forwarded-For."""
    with httpx.Client(base_url=url, timeout=60) as client:
        return [
            client.get("/api/documents", headers={"X-Forwarded-For": address}).status_code
            for address in forwarded
        ]


ADDRESSES = [f"203.0.113.{n}" for n in range(1, 2 * RATE + 1)]


def test_x_forwarded_for_is_believed_only_from_forwarded_allow_ips(
    guarded: str, index_settings: Any, start_app: Any, tmp_path: Path
) -> None:
    # unset: one client (127.0.0.1) for all requests, however the header changes
    assert _statuses(guarded, ADDRESSES) == [200] * RATE + [429] * RATE

    log = tmp_path / "server.log"
    env = _environment(index_settings, FORWARDED_ALLOW_IPS="127.0.0.1")
    url, process = start_app(env, log)
    wait_until_up(f"{url}/api/health", process, 120, log)
    # from a proxy it names, each forwarded address is a client of its own, limited on its own
    assert _statuses(url, ADDRESSES) == [200] * len(ADDRESSES)
    assert _statuses(url, ["198.51.100.7"] * (RATE + 2)) == [200] * RATE + [429, 429]
