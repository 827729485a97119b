"""Server mode: the same build and the same answers against a real `chroma run` server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from assistant import Assistant
from index.build import build
from index.settings import Settings
from index.store import open_store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server on loopback, started for these tests."""
    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma command comes with the chromadb package"
    port = _free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "chroma run exited"
            assert time.monotonic() < deadline, "chroma run did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def server_assistant(chroma_url: str, corpus: Path) -> Assistant:
    settings = Settings(chroma_url=chroma_url, collection="knowledge-server")
    store = open_store(settings.data_dir, settings.collection, settings.chroma_url, create=True)
    report = build([corpus], store)
    assert report.ok and report.documents == 2
    again = build([corpus], store)
    assert again.chunks_added == 0
    return Assistant.load(settings)


QUESTIONS = [
    "When did ICE start its own gang database?",
    "Can ICE use DMV photos to identify people?",
    "¿Puede ICE conseguir mi dirección a través del IRS?",
]


@pytest.mark.parametrize("question", QUESTIONS)
def test_server_and_embedded_store_retrieve_the_same(
    server_assistant: Assistant, assistant: Assistant, question: str
) -> None:
    on_server = [p.id for p in server_assistant.retrieve(question, k=8)]
    embedded = [p.id for p in assistant.retrieve(question, k=8)]
    assert on_server == embedded


@pytest.mark.parametrize("question", QUESTIONS)
def test_server_and_embedded_store_answer_the_same(
    server_assistant: Assistant, assistant: Assistant, question: str
) -> None:
    assert server_assistant.ask(question).to_dict() == assistant.ask(question).to_dict()


def test_server_health_and_documents(server_assistant: Assistant) -> None:
    health = server_assistant.health()
    assert health["status"] == "ok" and health["store"] == "server" and health["documents"] == 2
    assert {d.chunks > 0 for d in server_assistant.documents()} == {True}
