"""Server mode: the same build and the same answers against a real `chroma run` server
(the `chroma_url` fixture in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import Assistant
from index.build import build
from index.settings import Settings
from index.store import open_store


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


def test_a_rebuild_on_the_server_is_picked_up_by_running_readers(
    chroma_url: str, corpus: Path
) -> None:
    """`build --rebuild` drops and recreates the collections; a reader that was serving before
    answers from the new ones once the build is done, without a restart."""
    settings = Settings(chroma_url=chroma_url, collection="knowledge-rebuilt")
    store = open_store(settings.data_dir, settings.collection, settings.chroma_url, create=True)
    assert build([corpus], store).ok
    reader = Assistant.load(settings)
    reader.retriever.refresh_seconds = 0.0
    question = "When did ICE start its own gang database?"
    before = reader.ask(question)
    store.drop()
    store = open_store(settings.data_dir, settings.collection, settings.chroma_url, create=True)
    assert build([corpus], store).ok
    after = reader.ask(question)
    assert after.answered and after.to_dict() == before.to_dict()
    assert reader.health()["status"] == "ok"
