"""Web chat: the page, the answer with its sources, and a real uvicorn server."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app import create_app
from assistant import Assistant
from assistant.core import AssistantProvider
from assistant.ui import create_ui, sources_html
from index.settings import Settings


def test_sources_show_title_publisher_date_and_passage(assistant: Assistant) -> None:
    answer = assistant.ask("When did ICE start its own gang database?")
    page = sources_html(answer)
    assert "[1]" in page and "Untangling the Immigration Enforcement Web" in page
    assert "National Immigration Law Center (NILC)" in page and "2017-09-22" in page
    assert "gang database in 2010" in page


def test_sources_escape_html(assistant: Assistant) -> None:
    from dataclasses import replace

    answer = assistant.ask("When did ICE start its own gang database?")
    citation = answer.citations[0]
    hostile = replace(citation.passage, text="<script>alert(1)</script>")
    page = sources_html(replace(answer, citations=(replace(citation, passage=hostile),)))
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_page_is_served_at_root_and_api_beside_it(
    assistant: Assistant, index_settings: Settings
) -> None:
    app = create_app(AssistantProvider(index_settings, assistant))
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200 and "<html" in page.text.lower()
        assert client.get("/api/health").json()["status"] == "ok"


def test_questions_are_not_logged(
    assistant: Assistant, index_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "Does my neighbour Rosalinda Quintanilla have a record with ICE?"
    caplog.set_level(logging.DEBUG)
    app = create_app(AssistantProvider(index_settings, assistant))
    with TestClient(app) as client:
        client.post("/api/ask", json={"question": secret})
        client.post("/api/retrieve", json={"query": secret})
    assert "Quintanilla" not in caplog.text


def test_live_server_answers_over_http(server: tuple[str, Path]) -> None:
    url, _ = server
    response = httpx.post(
        f"{url}/api/ask", json={"question": "When did ICE start its own gang database?"}, timeout=60
    )
    assert response.status_code == 200 and "2010" in response.json()["answer"]
    assert "<html" in httpx.get(url, timeout=30).text.lower()


def test_live_server_chat_answers_through_its_queue(server: tuple[str, Path]) -> None:
    """The page's own protocol against the real server: join the queue, read the result stream."""
    url, log = server
    ask = create_ui(AssistantProvider(Settings())).questions[0]
    question = "When did ICE start its own gang database? (Zephyrine asks)"
    body = {"data": [question, "English", None], "fn_index": ask, "session_hash": "ui1"}
    with httpx.Client(base_url=url, timeout=90) as client:
        assert client.post("/gradio_api/queue/join", json=body).status_code == 200
        with client.stream("GET", "/gradio_api/queue/data?session_hash=ui1") as stream:
            done = next(
                json.loads(line[6:])
                for line in stream.iter_lines()
                if line.startswith("data: ") and "process_completed" in line
            )
    messages, sources, _staff, plain, box, *_ = done["output"]["data"]
    text = messages[-1]["content"][0]["text"]
    assert "2010" in text and "[1]" in text
    assert "National Immigration Law Center" in sources and "<mark>" in sources
    assert plain.startswith(text) and "\nSources:\n[1] Untangling the Immigration" in plain
    assert box == ""
    assert "Zephyrine" not in log.read_text()
