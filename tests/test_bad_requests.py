"""Malformed input: every case gets a 4xx and a message a person can read; never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from app import create_app
from assistant import Assistant
from assistant.core import AssistantProvider
from index.errors import InvalidInputError
from index.settings import Settings

GOOD = "When did ICE start its own gang database?"

# (name, method, path, raw body, expected status, words the message must contain)
CASES: list[tuple[str, str, str, bytes, int, str]] = [
    ("invalid JSON", "POST", "/api/ask", b'{"question": ', 422, "not valid JSON"),
    ("not UTF-8", "POST", "/api/ask", b'{"question": "\xff\xfe"}', 422, "UTF-8"),
    ("empty body", "POST", "/api/ask", b"", 422, "needs a JSON body"),
    ("JSON array", "POST", "/api/ask", b"[1, 2]", 422, "Input should be a valid dictionary"),
    ("question missing", "POST", "/api/ask", b"{}", 422, "question: Field required"),
    ("question a number", "POST", "/api/ask", b'{"question": 7}', 422, "valid string"),
    ("question null", "POST", "/api/ask", b'{"question": null}', 422, "valid string"),
    ("question empty", "POST", "/api/ask", b'{"question": ""}', 422, "must not be empty"),
    ("question spaces", "POST", "/api/ask", b'{"question": " \\n\\t "}', 422, "must not be empty"),
    (
        "question of zero-width characters",
        "POST",
        "/api/ask",
        b'{"question": "\\u200b\\u200c\\u200d\\u2060\\ufeff"}',
        422,
        "question: must not be empty",
    ),
    (
        "question 2 MB",
        "POST",
        "/api/ask",
        json.dumps({"question": "a" * 2_000_000}).encode(),
        422,
        "too large",
    ),
    (
        "question 2,001 chars",
        "POST",
        "/api/ask",
        json.dumps({"question": "a" * 2001}).encode(),
        422,
        "at most 2000",
    ),
    (
        "NUL byte",
        "POST",
        "/api/ask",
        b'{"question": "gang\\u0000database"}',
        422,
        "control characters",
    ),
    (
        "lone surrogate",
        "POST",
        "/api/ask",
        b'{"question": "gang \\ud800 database"}',
        422,
        "unicode",
    ),
    (
        "bell character",
        "POST",
        "/api/ask",
        b'{"question": "gang\\u0007"}',
        422,
        "control characters",
    ),
    (
        "history not a list",
        "POST",
        "/api/ask",
        json.dumps({"question": GOOD, "history": "hi"}).encode(),
        422,
        "history: Input should be a valid list",
    ),
    (
        "history of strings",
        "POST",
        "/api/ask",
        json.dumps({"question": GOOD, "history": ["hi"]}).encode(),
        422,
        "history.0",
    ),
    (
        "unknown role",
        "POST",
        "/api/ask",
        json.dumps({"question": GOOD, "history": [{"role": "system", "content": "x"}]}).encode(),
        422,
        "history.0.role",
    ),
    (
        "turn without content",
        "POST",
        "/api/ask",
        json.dumps({"question": GOOD, "history": [{"role": "user"}]}).encode(),
        422,
        "history.0.content: Field required",
    ),
    (
        "5,000 turns",
        "POST",
        "/api/ask",
        json.dumps(
            {"question": GOOD, "history": [{"role": "user", "content": "x"}] * 5000}
        ).encode(),
        422,
        "too large",
    ),
    (
        "51 turns",
        "POST",
        "/api/ask",
        json.dumps({"question": GOOD, "history": [{"role": "user", "content": "x"}] * 51}).encode(),
        422,
        "history: List should have at most 50",
    ),
    (
        "unknown field",
        "POST",
        "/api/ask",
        json.dumps({"question": GOOD, "model": "gpt"}).encode(),
        422,
        "model: is not a field",
    ),
    (
        "k = 0",
        "POST",
        "/api/retrieve",
        b'{"query": "DMV", "k": 0}',
        422,
        "greater than or equal to 1",
    ),
    (
        "k negative",
        "POST",
        "/api/retrieve",
        b'{"query": "DMV", "k": -3}',
        422,
        "greater than or equal to 1",
    ),
    (
        "k huge",
        "POST",
        "/api/retrieve",
        b'{"query": "DMV", "k": 10000000000000000000000}',
        422,
        "less than or equal to 50",
    ),
    ("k a string", "POST", "/api/retrieve", b'{"query": "DMV", "k": "5"}', 422, "whole number"),
    ("k a fraction", "POST", "/api/retrieve", b'{"query": "DMV", "k": 2.5}', 422, "valid integer"),
    ("k true", "POST", "/api/retrieve", b'{"query": "DMV", "k": true}', 422, "whole number"),
    ("wrong method", "GET", "/api/ask", b"", 405, "use POST"),
    ("unknown endpoint", "POST", "/api/answer", b"{}", 404, "no such endpoint"),
]


@pytest.fixture(scope="module")
def client(assistant: Assistant, index_settings: Settings) -> Iterator[TestClient]:
    settings = Settings(data_dir=index_settings.data_dir, rate_limit="0")
    with TestClient(create_app(AssistantProvider(settings, assistant))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("name", "method", "path", "body", "status", "words"), CASES, ids=[c[0] for c in CASES]
)
def test_malformed_request(
    client: TestClient, name: str, method: str, path: str, body: bytes, status: int, words: str
) -> None:
    response = client.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and words.lower() in detail.lower()
    assert "Traceback" not in response.text


def test_the_service_is_healthy_after_all_of_them(client: TestClient) -> None:
    assert client.get("/api/health").status_code == 200
    assert client.post("/api/ask", json={"question": GOOD}).json()["answered"] is True


@pytest.mark.parametrize(
    "text", ["gang\x00database", "gang \ud800", "\x07", "   ", "\u200b\u2060\ufeff"]
)
def test_python_api_refuses_the_same_input(assistant: Assistant, text: str) -> None:
    with pytest.raises(InvalidInputError):
        assistant.ask(text)
    with pytest.raises(InvalidInputError):
        assistant.retrieve(text)
