"""A real server process for benchmarks: `python app.py` on a free port, timed to readiness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from index.settings import OFFLINE_ENVIRONMENT, PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    url: str
    pid: int
    ready_seconds: float


@contextmanager
def serve(environment: dict[str, str] | None = None, timeout: float = 600) -> Iterator[Server]:
    """Start `python app.py` with these ASSISTANT_* settings; yield once /api/health says 200."""
    port = free_port()
    env = {
        **os.environ,
        **OFFLINE_ENVIRONMENT,
        "ASSISTANT_RATE_LIMIT": "",
        "ASSISTANT_CHAT_RATE_LIMIT": "",
        **(environment or {}),
    }
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None:
                raise RuntimeError(f"app.py exited with {process.returncode}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError("app.py did not become ready")
            time.sleep(0.05)
        yield Server(url, process.pid, time.perf_counter() - started)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
