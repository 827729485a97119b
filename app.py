"""Entry point: the FastAPI app with the web chat mounted at `/`, served by uvicorn."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import threading
from collections.abc import AsyncIterator

from index.settings import Settings, enforce_offline

enforce_offline()

from fastapi import FastAPI  # noqa: E402

from assistant.core import Assistant, AssistantProvider  # noqa: E402
from assistant.serve import server_options  # noqa: E402
from index.errors import AssistantError  # noqa: E402

log = logging.getLogger("assistant.app")

# glibc gives each thread that allocates its own memory arena and keeps what is freed there;
# with a thread pool serving requests that adds up to hundreds of MB that nothing uses. Two
# arenas are enough for two cores' worth of work (M_ARENA_MAX is -8 in malloc.h).
with contextlib.suppress(OSError, AttributeError):
    ctypes.CDLL("libc.so.6").mallopt(-8, 2)


@contextlib.asynccontextmanager
async def load_at_start(app: FastAPI) -> AsyncIterator[None]:
    """Each server process loads the models and opens the index before it takes requests."""
    try:
        assistant = app.state.provider.get()
        health = assistant.health()
        log.info("ready: %(documents)d documents, %(chunks)d chunks (%(store)s store)", health)
    except AssistantError as error:  # the server still starts and answers 503 until fixed
        log.warning("not ready, answering 503 until fixed: %s", error)
    else:  # encode the corpus's sentences while nobody is asking yet, not on the first question
        threading.Thread(target=_warm, args=(assistant,), name="warm", daemon=True).start()
    yield


def _warm(assistant: Assistant) -> None:
    try:
        log.info("warm: %d sentences encoded ahead of questions", assistant.warm())
    except Exception as error:  # only a head start: questions encode what they need anyway
        log.warning("warm-up stopped: %s", type(error).__name__)
    _release_free_memory()


def _release_free_memory() -> None:
    """Hand memory freed by the warm-up back to the system: glibc keeps a thread's freed
    memory in that thread's arena, so a one-off batch job in a thread would stay resident."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def create_app(provider: AssistantProvider | None = None) -> FastAPI:
    """The API under /api, OpenAPI at /openapi.json, and the Gradio chat at /, behind its gate."""
    import gradio as gr
    from starlette.routing import Mount

    from assistant.api import create_api
    from assistant.gate import ChatGate
    from assistant.middleware import Limit
    from assistant.ui import CSS, create_ui

    provider = provider or AssistantProvider()
    settings = provider.settings
    app = create_api(provider, lifespan=load_at_start)
    chat = create_ui(provider)
    # No footer (its links lead to Gradio's API page and settings); no run history (it keeps
    # every question in the browser's localStorage).
    gr.mount_gradio_app(app, chat.blocks, path="/", css=CSS, footer_links=[], run_history=False)
    mount = app.routes[-1]
    assert isinstance(mount, Mount), "mount_gradio_app adds the chat as the last route"
    mount.app = ChatGate(
        mount.app,
        chat.blocks,
        questions=chat.questions,
        limit=Limit.of(settings.chat_rate_limit),
        ready=provider.problem,
        max_body_bytes=CHAT_BODY_BYTES,
    )
    app.state.chat = chat
    return app


# A chat request carries one question (at most 2,000 characters, 4 bytes each in UTF-8), the
# interface language and Gradio's own fields: a few KB.
CHAT_BODY_BYTES = 16384


# uvicorn's own access log would print query strings; ours prints method, path, status, time.
# The process id tells the workers apart when there are several.
LOGGING: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "assistant": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "index": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}

EPILOG = """\
With --workers N, N processes share the port, each loading the models (about 0.5 GB) and
opening the index once at start-up. The web chat needs one worker: a chat request and its
result stream must reach the same process, which several workers do not ensure. Use --workers
for the API.
Each process closes a connection whose request head takes over ASSISTANT_HEADER_TIMEOUT
seconds, answers 408 to a body that takes over ASSISTANT_BODY_TIMEOUT seconds, and 503 beyond
ASSISTANT_MAX_CONNECTIONS connections. X-Forwarded-For is ignored unless FORWARDED_ALLOW_IPS
names the proxies to believe. uvicorn's own command (uvicorn app:create_app --factory) serves
the same app without these guards, and believes X-Forwarded-For from 127.0.0.1."""


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(
        description="Serve the assistant: web chat at /, API at /api.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    args = parser.parse_args()
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    settings = Settings()
    options = {
        "host": args.host,
        "port": args.port,
        "log_config": LOGGING,
        "access_log": False,
        **server_options(settings),
    }
    if args.workers > 1:  # each worker process builds its own app (and loads its own models)
        uvicorn.run("app:create_app", factory=True, workers=args.workers, **options)
    else:
        uvicorn.run(create_app(AssistantProvider(settings)), **options)


if __name__ == "__main__":
    main()
