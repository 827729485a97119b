"""HTTP API: the shapes of API.md, readable 422s, 401 with a key, 503 without an index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from assistant import Assistant
from assistant.api import create_api
from assistant.core import AssistantProvider
from index.settings import Settings


@pytest.fixture(scope="module")
def client(assistant: Assistant, index_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_api(AssistantProvider(index_settings, assistant))) as test_client:
        yield test_client


def test_health_reports_the_index(client: TestClient) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["documents"] == 2 and body["chunks"] > 0


def test_ask_answers_with_citations(client: TestClient) -> None:
    response = client.post(
        "/api/ask", json={"question": "When did ICE start its own gang database?"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["answered"] is True and "2010" in body["answer"]
    assert body["citations"][0]["n"] == 1
    passage = body["citations"][0]["passage"]
    assert set(passage) == {"id", "text", "score", "document", "start", "end"}
    assert passage["document"]["publisher"] == "National Immigration Law Center (NILC)"


def test_ask_with_history(client: TestClient) -> None:
    history = [{"role": "user", "content": "Tell me about the gang database ICE runs."}]
    response = client.post(
        "/api/ask", json={"question": "When was it started?", "history": history}
    )
    assert response.status_code == 200 and "2010" in response.json()["answer"]


def test_ask_off_topic_is_not_answered(client: TestClient) -> None:
    body = client.post("/api/ask", json={"question": "What is the capital of France?"}).json()
    assert body["answered"] is False and "does not cover" in body["answer"]


def test_retrieve_returns_k_passages(client: TestClient) -> None:
    response = client.post("/api/retrieve", json={"query": "DMV facial recognition", "k": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "DMV facial recognition" and len(body["passages"]) == 3
    assert "facial recognition" in body["passages"][0]["text"]


def test_documents_lists_the_corpus(client: TestClient) -> None:
    documents = client.get("/api/documents").json()["documents"]
    assert len(documents) == 2
    assert all(
        set(d) == {"id", "title", "publisher", "published", "url", "path", "chunks"}
        for d in documents
    )
    assert all(d["chunks"] > 0 for d in documents)


@pytest.mark.parametrize(
    ("path", "payload", "expected"),
    [
        ("/api/ask", {"question": ""}, "question: must not be empty"),
        ("/api/ask", {"question": "   "}, "question: must not be empty"),
        ("/api/ask", {"question": "x" * 2001}, "question: String should have at most 2000"),
        ("/api/ask", {}, "question: Field required"),
        ("/api/ask", {"question": 42}, "question: Input should be a valid string"),
        (
            "/api/ask",
            {"question": "ok?", "history": "nope"},
            "history: Input should be a valid list",
        ),
        (
            "/api/ask",
            {"question": "ok?", "history": [{"role": "system", "content": "x"}]},
            "history.0.role",
        ),
        ("/api/ask", {"question": "ok?", "extra": 1}, "extra: is not a field of this request"),
        ("/api/retrieve", {"query": "x", "k": 0}, "k: Input should be greater than or equal to 1"),
        ("/api/retrieve", {"query": "x", "k": 51}, "k: Input should be less than or equal to 50"),
        ("/api/retrieve", {"query": "x", "k": "5"}, "k: must be a whole number"),
        ("/api/retrieve", {"query": "x", "k": True}, "k: must be a whole number"),
        ("/api/retrieve", {"query": "x", "k": 2.5}, "k: Input should be a valid integer"),
        ("/api/retrieve", {"query": ""}, "query: must not be empty"),
    ],
)
def test_bad_requests_get_422_with_a_readable_message(
    client: TestClient, path: str, payload: object, expected: str
) -> None:
    response = client.post(path, json=payload)
    assert response.status_code == 422
    assert expected in response.json()["detail"]


def test_malformed_json_gets_422(client: TestClient) -> None:
    response = client.post(
        "/api/ask", content=b'{"question": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == "the request body is not valid JSON"


def test_no_index_gives_503_until_one_is_built(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "empty")
    with TestClient(create_api(AssistantProvider(settings))) as empty:
        health = empty.get("/api/health")
        assert health.status_code == 503 and health.json()["status"] != "ok"
        assert "python -m index build" in health.json()["detail"]
        response = empty.post(
            "/api/ask", json={"question": "When did ICE start its gang database?"}
        )
        assert response.status_code == 503 and "python -m index build" in response.json()["detail"]


def test_api_key_is_required_when_set(assistant: Assistant, index_settings: Settings) -> None:
    settings = Settings(data_dir=index_settings.data_dir, api_key="s3cret-key")
    with TestClient(create_api(AssistantProvider(settings, assistant))) as keyed:
        assert keyed.get("/api/health").status_code == 401
        wrong = keyed.get("/api/health", headers={"Authorization": "Bearer wrong"})
        assert wrong.status_code == 401 and "Bearer" in wrong.json()["detail"]
        ok = keyed.get("/api/health", headers={"Authorization": "Bearer s3cret-key"})
        assert ok.status_code == 200


def test_openapi_documents_every_endpoint(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/health", "/api/retrieve", "/api/ask", "/api/documents"} <= set(spec["paths"])
    ask = spec["components"]["schemas"]["AskRequest"]
    assert ask["properties"]["question"]["description"]
