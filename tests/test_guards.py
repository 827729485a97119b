"""HTTP guards: per-client rate limits, body size, CORS, and an access log without questions."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from assistant import Assistant
from assistant.api import create_api
from assistant.core import AssistantProvider
from index.settings import Settings


def _client(assistant: Assistant, index_settings: Settings, **settings: str | int) -> TestClient:
    configured = Settings(data_dir=index_settings.data_dir, **settings)  # type: ignore[arg-type]
    return TestClient(create_api(AssistantProvider(configured, assistant)))


def test_api_rate_limit_per_client_with_retry_after(
    assistant: Assistant, index_settings: Settings
) -> None:
    with _client(assistant, index_settings, rate_limit="3/minute") as client:
        body = {"query": "DMV", "k": 1}
        assert [client.post("/api/retrieve", json=body).status_code for _ in range(3)] == [200] * 3
        limited = client.post("/api/retrieve", json=body)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "too many requests" in limited.json()["detail"]
        assert client.get("/api/documents").status_code == 429
        assert client.get("/api/health").status_code == 200  # health checks are never limited


def test_a_2_mb_body_gets_422_before_it_is_parsed(
    assistant: Assistant, index_settings: Settings
) -> None:
    with _client(assistant, index_settings) as client:
        response = client.post("/api/ask", json={"question": "x" * 2_000_000})
        assert response.status_code == 422
        assert "too large" in response.json()["detail"]


def test_streamed_body_without_length_is_limited(
    assistant: Assistant, index_settings: Settings
) -> None:
    with _client(assistant, index_settings, max_body_bytes=2048) as client:

        def chunks():  # type: ignore[no-untyped-def]
            yield b'{"question": "'
            for _ in range(10):
                yield b"y" * 1024
            yield b'"}'

        response = client.post(
            "/api/ask", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 422 and "too large" in response.json()["detail"]


def test_cors_is_closed_by_default_and_opened_by_the_allow_list(
    assistant: Assistant, index_settings: Settings
) -> None:
    origin = {"Origin": "https://helpline.example.org"}
    with _client(assistant, index_settings) as closed:
        response = closed.get("/api/health", headers=origin)
        assert "access-control-allow-origin" not in response.headers
    allowed = "https://helpline.example.org, https://other.example.org"
    with _client(assistant, index_settings, cors_origins=allowed) as opened:
        response = opened.get("/api/health", headers=origin)
        assert response.headers["access-control-allow-origin"] == origin["Origin"]
        stranger = opened.get("/api/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers


def test_access_log_has_method_path_status_latency_and_never_the_question(
    assistant: Assistant, index_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Can ICE find Marisol Echeverría-Quintana at her cousin's address?"
    with _client(assistant, index_settings) as client:
        client.post("/api/ask", json={"question": secret})
        client.get("/api/documents?note=Echeverria")
    lines = [r.getMessage() for r in caplog.records if r.name == "assistant.access"]
    assert any(line.startswith("POST /api/ask 200 ") and line.endswith("ms") for line in lines)
    assert any(line.startswith("GET /api/documents 200 ") for line in lines)
    # every log line the server side wrote (the test client's own httpx log is not the server's)
    server_side = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert not [line for line in server_side if "Echeverr" in line or "Marisol" in line]


def test_openapi_describes_every_operation_and_field(client_openapi: dict) -> None:
    for path, methods in client_openapi["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in methods.items():
            assert operation.get("summary") and operation.get("description"), (method, path)
    schemas = client_openapi["components"]["schemas"]
    for name in ("AskRequest", "RetrieveRequest", "Turn"):
        for field, schema in schemas[name]["properties"].items():
            assert schema.get("description"), f"{name}.{field} has no description"
    assert schemas["AskRequest"].get("examples") and schemas["RetrieveRequest"].get("examples")


@pytest.fixture
def client_openapi(assistant: Assistant, index_settings: Settings) -> dict:
    with _client(assistant, index_settings) as client:
        return client.get("/openapi.json").json()
