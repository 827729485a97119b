"""Store faults in server mode: when the Chroma server goes away the app says 503 with a clear
message, and it recovers by itself when the server returns."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import app_environment, build_index, copy_knowledge, free_port, wait_until_up

from index.settings import PROJECT_ROOT
from index.store import UNAVAILABLE

QUESTION = "When did ICE start its own gang database?"


def _wait(check, timeout: float = 90) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.1)


class Chroma:
    """A `chroma run` server that can be killed and started again on the same port and path."""

    def __init__(self, path: Path, port: int) -> None:
        self.command = [
            shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma",
            "run",
            "--path",
            str(path),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait(lambda: httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)


@pytest.mark.slow
def test_chroma_server_outage_gives_503_and_recovers(tmp_path: Path, start_app: Any) -> None:
    chroma = Chroma(tmp_path / "chroma", free_port())
    chroma.start()
    env = app_environment(
        ASSISTANT_CHROMA_URL=chroma.url,
        ASSISTANT_KNOWLEDGE_DIR=str(copy_knowledge(tmp_path / "knowledge")),
        ASSISTANT_RATE_LIMIT="0",
    )
    build_index(env)
    url, app = start_app(env)
    try:
        wait_until_up(f"{url}/api/health", app, 120)
        assert httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()[
            "answered"
        ]

        chroma.kill()
        health = httpx.get(f"{url}/api/health", timeout=30)
        assert health.status_code == 503 and health.json()["status"] != "ok"
        # the message says what is wrong, never the library's text or where things are
        assert health.json()["detail"] == UNAVAILABLE
        for path, body in (
            ("/api/ask", {"question": QUESTION}),
            ("/api/retrieve", {"query": "DMV"}),
        ):
            response = httpx.post(f"{url}{path}", json=body, timeout=60)
            assert response.status_code == 503, response.text
            assert response.json()["detail"] == UNAVAILABLE
        assert httpx.get(f"{url}/api/documents", timeout=30).status_code == 503
        assert httpx.get(url, timeout=30).status_code == 200  # the page itself still loads

        chroma.start()
        recovered = _wait(lambda: httpx.get(f"{url}/api/health", timeout=5).status_code == 200)
        print(f"\nservice recovered {recovered:.2f} s after the Chroma server was back")
        answer = httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()
        assert answer["answered"] and "2010" in answer["answer"]
    finally:
        if chroma.process and chroma.process.poll() is None:
            chroma.kill()


@pytest.mark.slow
def test_app_started_before_the_store_waits_for_it(tmp_path: Path, start_app: Any) -> None:
    chroma = Chroma(tmp_path / "chroma", free_port())
    chroma.start()
    env = app_environment(
        ASSISTANT_CHROMA_URL=chroma.url,
        ASSISTANT_KNOWLEDGE_DIR=str(copy_knowledge(tmp_path / "knowledge")),
    )
    build_index(env)
    chroma.kill()
    url, _ = start_app(env)
    try:
        _wait(lambda: httpx.get(f"{url}/api/health", timeout=2).status_code == 503, 120)
        chroma.start()
        _wait(lambda: httpx.get(f"{url}/api/health", timeout=5).status_code == 200)
        assert httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()[
            "answered"
        ]
    finally:
        chroma.kill()


@pytest.mark.slow
def test_a_build_whose_server_dies_says_so(tmp_path: Path) -> None:
    """A Chroma server killed while a build talks to it: the build exits 1 with a readable
    message, not a traceback."""
    chroma = Chroma(tmp_path / "chroma", free_port())
    chroma.start()
    env = app_environment(
        ASSISTANT_CHROMA_URL=chroma.url,
        ASSISTANT_KNOWLEDGE_DIR=str(copy_knowledge(tmp_path / "knowledge")),
    )
    build = subprocess.Popen(
        [sys.executable, "-m", "index", "build", "--quiet"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        database = f"{chroma.url}/api/v2/tenants/default_tenant/databases/default_database"

        def writing() -> bool:  # the build has marked the index as being built
            found = httpx.get(f"{database}/collections", timeout=2).json()
            return any((c.get("metadata") or {}).get("building") == "1" for c in found)

        _wait(writing, 120)
        chroma.kill()
        stdout, stderr = build.communicate(timeout=300)
    finally:
        build.kill()
        if chroma.process and chroma.process.poll() is None:
            chroma.kill()
    assert build.returncode == 1, stdout + stderr
    assert stderr.startswith("error: the vector store is not reachable"), stderr
    assert "Traceback" not in stderr
