"""Fuzzing the HTTP API from its own OpenAPI schema: valid and invalid requests, never a 500."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from app import create_app
from assistant import Assistant
from assistant.core import AssistantProvider
from index.settings import Settings

# The schema is loaded when the module is collected (schemathesis' lazy fixture loader does not
# work with pytest 9); the session's assistant is handed to the provider before any call.
PROVIDER = AssistantProvider(
    Settings(data_dir=Path(tempfile.gettempdir()) / "no-index", rate_limit="0", chat_rate_limit="0")
)
schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(PROVIDER))
schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
schema = schema.include(path_regex="^/api/")


@pytest.fixture(autouse=True)
def _serve_the_session_index(assistant: Assistant) -> Iterator[None]:
    PROVIDER._assistant = assistant
    yield


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema_and_never_fails(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate()
