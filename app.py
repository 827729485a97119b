"""Entry point: the FastAPI app with the web chat mounted at `/`, served by uvicorn."""

from __future__ import annotations

import argparse

from index.settings import enforce_offline

enforce_offline()

from fastapi import FastAPI  # noqa: E402

from assistant.core import AssistantProvider  # noqa: E402
from index.errors import AssistantError  # noqa: E402


def create_app(provider: AssistantProvider | None = None) -> FastAPI:
    """The API under /api, OpenAPI at /openapi.json, and the Gradio chat at /."""
    import gradio as gr

    from assistant.api import create_api
    from assistant.ui import CSS, create_ui

    provider = provider or AssistantProvider()
    app = create_api(provider)
    return gr.mount_gradio_app(app, create_ui(provider), path="/", css=CSS, footer_links=["api"])


# uvicorn's own access log would print query strings; ours prints method, path, status, time.
LOGGING: dict[str, object] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        "assistant": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the assistant: web chat at /, API at /api.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    args = parser.parse_args()
    provider = AssistantProvider()
    try:
        provider.get()  # load the model and open the index before the first request
    except AssistantError as error:  # the server still starts and answers 503 until fixed
        print(f"warning: {error}")
    uvicorn.run(
        create_app(provider),
        host=args.host,
        port=args.port,
        log_config=LOGGING,
        access_log=False,
    )


if __name__ == "__main__":
    main()
