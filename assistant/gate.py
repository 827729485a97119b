"""Gate: what may reach the web chat's Gradio app, checked before Gradio sees it.

Gradio serves many routes a page of ours never uses (its REST and client APIs, uploads, run
history, monitoring, deep links ...). The gate lets through only the routes the page uses, and
a new Gradio route stays closed until it is added here; every other one answers 404. A request
that starts work (`POST /gradio_api/queue/join`, the one way in to the chat's functions) is read
whole, within a size bound, and checked before Gradio parses it: the function must exist and be
one the page calls, and each value must match the schema Gradio publishes for its input; only
then are the per-address question limit and the index's readiness checked, for the functions that
reach the retriever. Bad input gets 4xx with a readable `detail` and nothing is printed: Gradio
prints tracebacks (with the values it was given) for input it cannot handle.

Responses carry no CORS headers: the page calls its own origin, and no other site may read it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection
from typing import Any

import jsonschema
from starlette._utils import get_route_path
from starlette.concurrency import run_in_threadpool

from assistant.middleware import (
    ASGIApp,
    ClientGone,
    Limit,
    Message,
    Receive,
    Scope,
    Send,
    read_body,
    replay,
    send_json,
)

log = logging.getLogger("assistant.gate")

JOIN = "/gradio_api/queue/join"
# Everything the page fetches (recorded from a real browser using every control of the page).
PAGE_PATHS = {"/", "/theme.css", "/favicon.ico", "/gradio_api/queue/data"}
PAGE_PREFIXES = ("/assets/", "/static/", "/gradio_api/heartbeat/")


# What the page shows a person (as a notice) when a question is held back.
_MESSAGES = {
    "en": {
        "limited": "Too many questions from this address: please try again in {wait} s.",
        "unavailable": "The assistant cannot answer right now (its documents are not available)."
        " Please try again later.",
    },
    "es": {
        "limited": "Demasiadas preguntas desde esta dirección: vuelva a intentarlo en {wait} s.",
        "unavailable": "El asistente no puede responder ahora (sus documentos no están"
        " disponibles). Vuelva a intentarlo más tarde.",
    },
}


class ChatGate:
    """Wraps the Gradio app: only the page's routes, bounded and checked chat requests."""

    def __init__(
        self,
        app: ASGIApp,
        blocks: Any,
        *,
        questions: Collection[int],
        limit: Limit | None,
        ready: Callable[[], str | None],
        max_body_bytes: int,
    ) -> None:
        """`questions`: the function ids that reach the retriever (limited, need the index);
        `ready()` says why the index cannot answer, or None when it can."""
        self.app = app
        self.questions = frozenset(questions)
        self.limit = limit
        self.ready = ready
        self.max_body_bytes = max_body_bytes
        # the page calls only the functions it shows; each value must fit the schema Gradio
        # publishes for its input (state is held by the server: what a client sends is ignored)
        self.schemas = {
            fn_id: [
                None if block.stateful else jsonschema.Draft202012Validator(block.api_info())
                for block in fn.inputs
            ]
            for fn_id, fn in blocks.fns.items()
            if fn.fn is not None
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the page uses no websocket
            await send({"type": "websocket.close", "code": 1008})
            return
        method, path = scope["method"], get_route_path(scope)
        send = _without_cors(send)
        if method == "POST" and path == JOIN:
            await self._join(scope, receive, send)
        elif method in ("GET", "HEAD") and (path in PAGE_PATHS or path.startswith(PAGE_PREFIXES)):
            await self.app(scope, receive, send)
        else:
            await send_json(send, 404, {"detail": "no such page: the web chat is at /"})

    async def _join(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await read_body(receive, self.max_body_bytes)
        except ClientGone:
            return
        if body is None:
            detail = f"the request body is too large: at most {self.max_body_bytes} bytes"
            await send_json(send, 413, {"detail": detail})
            return
        try:
            request = json.loads(body)
        except ValueError:
            await send_json(send, 422, {"detail": "the request body is not valid JSON"})
            return
        try:
            fn_id = self._check(request)
        except ValueError as error:
            await send_json(send, 422, {"detail": str(error)})
            return
        if fn_id in self.questions:
            said = _MESSAGES["es" if _prefers_spanish(scope) else "en"]
            if self.limit is not None:
                client = (scope.get("client") or ("unknown", 0))[0]
                wait = self.limit.hit("chat", client)
                if wait:
                    detail = said["limited"].format(wait=wait)
                    await send_json(send, 429, {"detail": detail}, {"Retry-After": str(wait)})
                    return
            problem = await run_in_threadpool(self.ready)  # may open the index: not here
            if problem:
                log.warning("chat: not ready to answer (503): %s", problem)
                await send_json(send, 503, {"detail": said["unavailable"]})
                return
        await self.app(scope, replay(body, receive), send)

    def _check(self, request: Any) -> int:
        """The function a join request calls, once its shape and values are right."""
        if not isinstance(request, dict):
            raise ValueError("the request must be a JSON object")
        fn_id = request.get("fn_index")
        if not isinstance(fn_id, int) or isinstance(fn_id, bool) or fn_id not in self.schemas:
            raise ValueError("fn_index: no such function in this chat")
        session = request.get("session_hash")
        if not isinstance(session, str) or not 0 < len(session) <= 64:
            raise ValueError("session_hash: must be text of 1 to 64 characters")
        data = request.get("data")
        schemas = self.schemas[fn_id]
        if not isinstance(data, list) or len(data) != len(schemas):
            raise ValueError(f"data: must be a list of {len(schemas)} values")
        for number, (value, schema) in enumerate(zip(data, schemas, strict=True), start=1):
            if schema is not None and not schema.is_valid(value):
                raise ValueError(f"data: value {number} is not of the expected kind")
        return fn_id


def _without_cors(send: Send) -> Send:
    """Drop Access-Control-* headers (Gradio allows any localhost origin, with credentials)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = dict(message)
            message["headers"] = [
                (name, value)
                for name, value in message.get("headers", [])
                if not name.lower().startswith(b"access-control-")
            ]
        await send(message)

    return sending


def _prefers_spanish(scope: Scope) -> bool:
    """Whether the browser asks for Spanish first (Accept-Language), as the page starts in it."""
    headers = dict(scope.get("headers") or [])
    first = headers.get(b"accept-language", b"").split(b",")[0].strip().lower()
    return first.startswith(b"es")
