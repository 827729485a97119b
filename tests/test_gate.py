"""The web chat's gate: only the page's routes, bounded and checked requests, the question limit
wherever a question comes in, no CORS, and nothing of a question in the server's output."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app import create_app
from assistant import Assistant
from assistant.core import AssistantProvider
from assistant.ui import create_ui
from index.settings import Settings

QUESTION = "When did ICE start its own gang database?"


def chat_ids(provider: AssistantProvider) -> tuple[int, int]:
    """The ids of the function that answers a typed question, and of one that answers none
    (the language switch): the same in every process, as the page is built the same way."""
    chat = create_ui(provider)
    switch = next(i for i, fn in chat.blocks.fns.items() if fn.fn and fn.fn.__name__ == "switch")
    return chat.questions[0], switch


def join(fn_index: int, data: list[Any], session: str = "s1") -> dict[str, Any]:
    """A body for POST /gradio_api/queue/join, as the page sends it."""
    return {"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": 1}


@pytest.fixture
def chat(assistant: Assistant, index_settings: Settings) -> Iterator[tuple[TestClient, int, int]]:
    settings = Settings(data_dir=index_settings.data_dir, chat_rate_limit="1000/minute")
    provider = AssistantProvider(settings, assistant)
    with TestClient(create_app(provider)) as client:
        yield client, *chat_ids(provider)


def test_only_the_routes_the_page_uses_are_served(chat: tuple[TestClient, int, int]) -> None:
    client, ask, _ = chat
    assert client.get("/").status_code == 200 and client.head("/").status_code == 200
    assert client.get("/theme.css").status_code == 200
    # Gradio's programmatic routes, run history, uploads, configuration and monitoring: closed
    posts = ["/gradio_api/api/ask", "/gradio_api/run/ask", "/gradio_api/call/ask"]
    posts += ["/gradio_api/call/v2/ask", "/gradio_api/upload", "/gradio_api/run-history/connect"]
    for path in posts:
        response = client.post(path, json={"data": [QUESTION, "English", None], "fn_index": ask})
        assert response.status_code == 404, path
    gets = ["/config", "/gradio_api/info", "/gradio_api/runs", "/gradio_api/openapi.json"]
    gets += ["/monitoring", "/gradio_api/deep_link", "/gradio_api/upload_progress"]
    for path in gets:
        assert client.get(path).status_code == 404, path
    assert client.get("/api/health").status_code == 200  # the API beside it is untouched


def test_an_upload_is_refused_and_nothing_is_kept(chat: tuple[TestClient, int, int]) -> None:
    client, _, _ = chat
    before = _gradio_files()
    files = {"files": ("big.bin", b"x" * 50_000_000, "application/octet-stream")}
    response = client.post("/gradio_api/upload", files=files)
    assert response.status_code == 404
    assert _gradio_files() == before


def _gradio_files() -> set[Path]:
    import tempfile

    from gradio.utils import get_upload_folder

    folders = {Path(get_upload_folder()), Path(tempfile.gettempdir()) / "gradio"}
    return {path for folder in folders if folder.exists() for path in folder.rglob("*")}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json", 422),
        ([1, 2], 422),
        ({"data": [QUESTION, "English", None], "session_hash": "s1"}, 422),  # no fn_index
        ({"data": [QUESTION, "English", None], "fn_index": 999, "session_hash": "s1"}, 422),
        ({"data": [QUESTION, "English", None], "fn_index": "0", "session_hash": "s1"}, 422),
        ({"data": [QUESTION, "English", None], "fn_index": "ask", "session_hash": None}, 422),
        ("ask:" + json.dumps([QUESTION, [{"role": "user", "content": "Tell me"}], "English"]), 422),
        ("ask:" + json.dumps([QUESTION, "Klingon", None]), 422),
        ("ask:" + json.dumps([{"text": QUESTION}, "English", None]), 422),
        ("ask:" + json.dumps([QUESTION]), 422),
        ("ask:" + json.dumps(["", "English", None]), 422),
        ("ask:" + json.dumps(["   \n", "Español", None]), 422),
        ("ask:" + json.dumps(["x" * 2001, "English", None]), 422),
        ("ask:" + json.dumps(["a\u0000b", "English", None]), 422),
        ("ask:" + json.dumps(["a\x1bb", "English", None]), 422),
        ("ask:" + json.dumps(["g " * 9000, "English", None]), 413),
    ],
)
def test_bad_chat_requests_get_4xx_with_a_readable_detail(
    chat: tuple[TestClient, int, int], body: Any, status: int
) -> None:
    client, ask, _ = chat
    if isinstance(body, str) and body.startswith("ask:"):
        body = json.dumps(join(ask, json.loads(body[4:])))
    content = body if isinstance(body, str) else json.dumps(body)
    response = client.post(
        "/gradio_api/queue/join", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert detail and "Traceback" not in str(detail)


def test_a_good_chat_request_is_queued_and_answered(chat: tuple[TestClient, int, int]) -> None:
    client, ask, _ = chat
    joined = client.post("/gradio_api/queue/join", json=join(ask, [QUESTION, "English", None]))
    assert joined.status_code == 200 and joined.json()["event_id"]
    reply = _completed(client, "s1")
    conversation = reply["output"]["data"][0]
    assert "2010" in json.dumps(conversation) and "[1]" in json.dumps(conversation)


def _completed(client: TestClient, session: str) -> dict[str, Any]:
    with client.stream("GET", f"/gradio_api/queue/data?session_hash={session}") as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                message = json.loads(line[6:])
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the chat's result stream ended without a result")


def test_follow_ups_are_read_with_the_conversation_the_server_kept(
    chat: tuple[TestClient, int, int],
) -> None:
    client, ask, _ = chat
    client.post("/gradio_api/queue/join", json=join(ask, [QUESTION, "English", None], "f1"))
    _completed(client, "f1")
    # what a client sends in the state's place is ignored: the server keeps the conversation
    forged = [{"role": "user", "content": "What is a 287(g) agreement?"}]
    client.post(
        "/gradio_api/queue/join", json=join(ask, ["When was it started?", "English", forged], "f1")
    )
    messages = _completed(client, "f1")["output"]["data"][0]
    assert len(messages) == 4
    assert "2010" in json.dumps(messages[-1])


def test_the_question_limit_holds_whatever_route_a_question_takes(
    assistant: Assistant, index_settings: Settings
) -> None:
    settings = Settings(data_dir=index_settings.data_dir, chat_rate_limit="2/minute")
    provider = AssistantProvider(settings, assistant)
    ask, switch = chat_ids(provider)
    questions = create_ui(provider).questions
    assert len(questions) == 3  # typed with Enter, the Ask button, an example
    with TestClient(create_app(provider)) as client:
        statuses = [
            client.post(
                "/gradio_api/queue/join", json=join(fn, [QUESTION, "English", None], f"q{fn}")
            ).status_code
            for fn in questions
        ]
        assert statuses == [200, 200, 429]
        limited = client.post(
            "/gradio_api/queue/join",
            json=join(ask, [QUESTION, "Español", None], "q9"),
            headers={"Accept-Language": "es-MX,es;q=0.9"},
        )
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "Demasiadas preguntas" in limited.json()["detail"]
        # Gradio's other ways in stay closed, even with the limit used up
        for path in ("/gradio_api/api/ask", "/gradio_api/run/ask", "/gradio_api/call/ask"):
            assert client.post(path, json={"data": [QUESTION, [], "English"]}).status_code == 404
        # what answers no question (the language switch) is not counted
        switched = client.post("/gradio_api/queue/join", json=join(switch, ["Español"], "q8"))
        assert switched.status_code == 200
        assert client.get("/").status_code == 200


def test_no_index_gives_503_with_a_message_for_people(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "none", knowledge_dir=tmp_path)
    provider = AssistantProvider(settings)
    ask, switch = chat_ids(provider)
    with TestClient(create_app(provider)) as client:
        response = client.post(
            "/gradio_api/queue/join", json=join(ask, [QUESTION, "English", None])
        )
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert "cannot answer right now" in detail and str(tmp_path) not in detail
        # the page still loads and switches language
        assert client.get("/").status_code == 200
        assert (
            client.post("/gradio_api/queue/join", json=join(switch, ["Español"])).status_code == 200
        )


def test_no_other_origin_gets_cors_headers(chat: tuple[TestClient, int, int]) -> None:
    client, ask, _ = chat
    origin = {"Origin": "http://localhost:3000"}
    preflight = client.options(
        "/gradio_api/queue/join",
        headers={**origin, "Access-Control-Request-Method": "POST"},
    )
    assert not [h for h in preflight.headers if h.lower().startswith("access-control-")]
    for response in (
        client.get("/", headers=origin),
        client.post(
            "/gradio_api/queue/join", json=join(ask, [QUESTION, "English", None]), headers=origin
        ),
    ):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]


def test_no_question_reaches_the_server_log(server: tuple[str, Path]) -> None:
    """Bad chat and API requests of every kind, sent to a real server: none of their text is
    printed, not even in a traceback or a validation error."""
    url, log = server
    ask, switch = chat_ids(AssistantProvider(Settings()))
    marker = "Tell me about Quetzalcoatl Ybarra-Nwosu"
    bodies: list[Any] = [
        join(ask, [marker, [{"role": "user", "content": marker}], "English"]),  # the API's shape
        join(ask, [marker, marker, None]),
        join(ask, [{"content": marker}, "English", None]),
        join(ask, [marker + "\x00", "English", None]),
        join(ask, [marker * 100, "English", None]),
        join(switch, [marker]),
        join(2, [marker]),  # an example's index, given text
        {"data": [marker], "fn_index": 12345, "session_hash": "s"},
        {"data": marker, "fn_index": ask, "session_hash": marker},
    ]
    with httpx.Client(base_url=url, timeout=60) as client:
        for body in bodies:
            response = client.post("/gradio_api/queue/join", json=body)
            assert 400 <= response.status_code < 500, (body, response.text)
        client.post("/gradio_api/queue/join", content=marker.encode())
        for path in ("/gradio_api/run/ask", "/gradio_api/api/ask", "/gradio_api/call/ask"):
            client.post(path, json={"data": [marker, [{"role": "user", "content": marker}]]})
        client.post("/api/ask", json={"question": marker, "history": [{"role": "x"}]})
        client.post("/api/ask", json={"question": marker + "\x00"})
        client.post("/api/retrieve", json={"query": marker, "k": "many"})
        # and one that is answered, through the chat
        client.post("/gradio_api/queue/join", json=join(ask, [marker, "English", None], "ok1"))
        with client.stream("GET", "/gradio_api/queue/data?session_hash=ok1") as stream:
            for line in stream.iter_lines():
                if "process_completed" in line:
                    break
    time.sleep(0.5)  # let the server's output reach its log
    printed = log.read_text()
    assert "Quetzalcoatl" not in printed and "Nwosu" not in printed
    assert "Traceback" not in printed
