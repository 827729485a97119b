"""API: the FastAPI routes under /api (health, retrieve, ask, documents), as in API.md."""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Lifespan

from assistant.core import (
    FORMAT_CHARACTERS,
    MAX_QUESTION_CHARS,
    MAX_TURN_CHARS,
    AssistantProvider,
    blank,
)
from assistant.middleware import install_guards
from index.errors import (
    AssistantError,
    IndexMismatchError,
    IndexMissingError,
    InvalidInputError,
    StoreUnavailableError,
)

MAX_HISTORY_TURNS = 50
MAX_API_K = 50


# What the API takes as text, stated in the schema itself: no control characters (tab and
# newlines aside), and for questions at least one character that shows: not white space, nor a
# format character (zero-width spaces and joiners, byte-order marks; see core.blank).
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85"
ANY_TEXT = rf"^[^{_CONTROL}]*$"
SOME_TEXT = rf"^[^{_CONTROL}]*[^\s{FORMAT_CHARACTERS}{_CONTROL}][^{_CONTROL}]*$"


def _strip(value: str) -> str:
    return value.strip()


def _whole_number(value: Any) -> Any:
    """JSON's 5 and 5.0 are the same integer; "5" and true are not numbers at all."""
    if isinstance(value, (bool, str)):
        raise ValueError("must be a whole number, not text or true/false")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(_whole_number)]


Text = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=SOME_TEXT),
    AfterValidator(_strip),
]


class Turn(BaseModel):
    """One earlier message of the conversation."""

    model_config = ConfigDict(extra="forbid")
    role: Literal["user", "assistant"] = Field(description="Who said it.")
    content: Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS, pattern=ANY_TEXT)] = Field(
        description="What was said."
    )


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"question": "When did ICE start its own gang database?", "history": []},
                {
                    "question": "When was it started?",
                    "history": [
                        {"role": "user", "content": "Tell me about the gang database ICE runs."}
                    ],
                },
            ]
        },
    )
    question: Text = Field(description="The question, in plain language (English or Spanish).")
    history: list[Turn] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description="Earlier turns, oldest first; used to understand follow-up questions.",
    )


class RetrieveRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"query": "DMV facial recognition", "k": 5}]},
    )
    query: Text = Field(description="What to look for.")
    k: WholeNumber = Field(default=5, ge=1, le=MAX_API_K, description="How many passages (1-50).")


class DocumentOut(BaseModel):
    id: str = Field(description="Stable document id (its path, or the JSONL `_id`).")
    title: str
    publisher: str | None
    published: str | None = Field(description="Publication date, ISO format.")
    url: str | None
    path: str | None = Field(description="Where the source file lives, relative to the project.")


class PassageOut(BaseModel):
    id: str = Field(description="Stable passage id.")
    text: str = Field(description="The passage, verbatim from the document.")
    score: float = Field(description="Relevance to the query; higher is better.")
    document: DocumentOut
    start: int = Field(description="Offset of the passage's first character in the document.")
    end: int = Field(description="Offset just past the passage's last character.")


class CitationOut(BaseModel):
    n: int = Field(description="The number used in the answer's `[n]` markers.")
    passage: PassageOut


class AnswerOut(BaseModel):
    question: str
    answer: str = Field(
        description="Quoted sentences, each followed by its `[n]` marker. The assistant's own "
        "notes (the sources are in English; the quotes come closest but may not answer "
        "exactly; a part of the question the material does not answer; a place or name in the "
        "question it never mentions) stand on lines of their own, in parentheses, with no "
        "marker."
    )
    answered: bool = Field(description="False when the material does not cover the question.")
    citations: list[CitationOut]


class RetrieveOut(BaseModel):
    query: str
    passages: list[PassageOut] = Field(description="Best first.")


class DocumentListItem(DocumentOut):
    chunks: int = Field(description="Number of passages indexed from this document.")


class DocumentsOut(BaseModel):
    documents: list[DocumentListItem]


class HealthOut(BaseModel):
    status: str = Field(description="`ok` when the index answers; anything else comes with 503.")
    documents: int
    chunks: int
    model: str | None = None
    store: str | None = Field(default=None, description="`embedded` or `server`.")
    detail: str | None = None


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, in words a person can act on.")


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing or wrong API key."},
    422: {"model": ErrorOut, "description": "Invalid input."},
    429: {"model": ErrorOut, "description": "Too many requests from this address (Retry-After)."},
    503: {"model": ErrorOut, "description": "No index yet, or the vector store is unreachable."},
}


def create_api(provider: AssistantProvider, lifespan: Lifespan[FastAPI] | None = None) -> FastAPI:
    """The FastAPI application with the /api routes; the web chat is mounted on it at `/`.
    `lifespan` runs in each server process around its requests (app.py loads the models in it)."""
    app = FastAPI(
        lifespan=lifespan,
        title="Immigration data-sharing assistant",
        version="0.1.0",
        description=(
            "Cited answers from source material on how local police, jails, DMVs and federal"
            " agencies share data with immigration enforcement. Answers quote the material"
            " verbatim; they are not legal advice."
        ),
    )
    app.state.provider = provider
    router = _router(provider)
    app.include_router(router)
    _install_error_handlers(app)
    app.add_middleware(_ApiPaths, router=router)
    install_guards(app, provider.settings)
    return app


_bearer = HTTPBearer(auto_error=False, description="Needed when ASSISTANT_API_KEY is set.")


def require_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Checks `Authorization: Bearer <key>` in constant time when ASSISTANT_API_KEY is set."""
    secret = request.app.state.provider.settings.api_key
    given = credentials.credentials if credentials else ""
    if not secrets.compare_digest(given.encode(), secret.get_secret_value().encode()):
        raise HTTPException(
            status_code=401,
            detail="this API needs a key: send `Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


def _router(provider: AssistantProvider) -> APIRouter:
    # The bearer scheme is part of the API (and of its OpenAPI description) only when a key is set.
    guard = [Depends(require_key)] if provider.settings.api_key else []
    router = APIRouter(prefix="/api", dependencies=guard, responses=_ERRORS)

    @router.get("/health", response_model=HealthOut, summary="Is the index ready?")
    def health() -> Any:
        """Counts of documents and passages; 503 when there is no index or the store is down."""
        try:
            info = provider.get().health()
        except (IndexMissingError, StoreUnavailableError, IndexMismatchError) as error:
            body = {"status": "unavailable", "documents": 0, "chunks": 0, "detail": str(error)}
            return JSONResponse(status_code=503, content=body)
        if info["status"] != "ok":
            info["detail"] = "the index is empty: run `python -m index build`"
            return JSONResponse(status_code=503, content=info)
        return info

    # Monitors probe with HEAD: the same answer and status, without the body (uvicorn drops it).
    router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)

    @router.post("/retrieve", response_model=RetrieveOut, summary="Passages that match a query")
    def retrieve(request: RetrieveRequest) -> Any:
        """The `k` passages that best match the query, best first, with document metadata."""
        passages = provider.get().retrieve(request.query, request.k)
        return {"query": request.query, "passages": [p.to_dict() for p in passages]}

    @router.post("/ask", response_model=AnswerOut, summary="A cited answer to a question")
    def ask(request: AskRequest) -> Any:
        """An extractive answer: sentences quoted from the material, each followed by `[n]`.
        `answered` is false, and the answer says so, when the material does not cover it."""
        history = [turn.model_dump() for turn in request.history]
        return provider.get().ask(request.question, history).to_dict()

    @router.get("/documents", response_model=DocumentsOut, summary="The documents in the index")
    def documents() -> Any:
        """Every indexed document with its metadata and number of passages."""
        return {"documents": [d.to_dict() for d in provider.get().documents()]}

    return router


class _ApiPaths:
    """Requests under /api/ that no API route takes get 404, or 405 with Allow when the path
    exists for other methods. Without this, the web chat mounted at `/` would answer them."""

    def __init__(self, app: Any, router: APIRouter) -> None:
        self.app = app
        self.routes = [route for route in router.routes if isinstance(route, APIRoute)]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/api/"):
            allowed = sorted(
                {m for r in self.routes if r.path_regex.match(path) for m in r.methods or ()}
            )
            if scope["method"] not in allowed:
                if allowed:
                    response = JSONResponse(
                        status_code=405,
                        content={"detail": f"method not allowed here: use {', '.join(allowed)}"},
                        headers={"Allow": ", ".join(allowed)},
                    )
                else:
                    response = JSONResponse(
                        status_code=404, content={"detail": "no such endpoint: see /docs"}
                    )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        messages = [_message(item) for item in error.errors()]
        return JSONResponse(status_code=422, content={"detail": "; ".join(messages)})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Any:
        # FastAPI answers a body it cannot decode (not UTF-8) with a bare 400; API.md says 422.
        if error.status_code == 400 and request.url.path.startswith("/api/"):
            detail = "the request body is not valid JSON (it must be UTF-8 text)"
            return JSONResponse(status_code=422, content={"detail": detail})
        return await http_exception_handler(request, error)

    @app.exception_handler(AssistantError)
    async def assistant_error(request: Request, error: AssistantError) -> JSONResponse:
        status = 422 if isinstance(error, InvalidInputError) else 503
        return JSONResponse(status_code=status, content={"detail": str(error)})


def _message(item: Any) -> str:
    """One validation error as a sentence: where it is and what is wrong."""
    location = [str(part) for part in item.get("loc", ()) if part != "body"]
    kind = item.get("type", "")
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "missing" and not location:
        return "the request needs a JSON body"
    where = ".".join(location) or "body"
    message = str(item.get("msg", "is invalid"))
    if kind == "string_too_short":
        message = "must not be empty"
    elif kind == "value_error":
        message = message.removeprefix("Value error, ")
    elif kind == "string_pattern_mismatch":
        given = item.get("input")
        if isinstance(given, str) and blank(given):
            message = "must not be empty"
        else:
            message = "must not contain control characters (or broken Unicode)"
    elif kind == "extra_forbidden":
        message = "is not a field of this request"
    return f"{where}: {message}"
