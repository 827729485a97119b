"""Settings: the one place that reads the environment (ASSISTANT_* variables)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Nothing may leave the machine: no model-hub lookups, no Gradio analytics, no Chroma telemetry,
# no ONNX Runtime telemetry (its first import writes a device id under ~/.cache/Microsoft and
# starts an uploader to mobile.events.data.microsoft.com unless this is set before it).
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "ANONYMIZED_TELEMETRY": "False",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def enforce_offline() -> None:
    """Set the variables that keep every library offline (called before heavy imports)."""
    os.environ.update(OFFLINE_ENVIRONMENT)


class Settings(BaseSettings):
    """Runtime configuration; every field maps to an ASSISTANT_<NAME> environment variable."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", extra="ignore")

    knowledge_dir: Path = Field(
        default=PROJECT_ROOT / "knowledge", description="Folder of source texts."
    )
    data_dir: Path = Field(
        default=PROJECT_ROOT / ".data", description="Where the embedded Chroma store lives."
    )
    collection: str = Field(default="knowledge", description="Chroma collection name.")
    encoder: Literal["onnx", "onnx-int8", "torch"] = Field(
        default="onnx-int8",
        description="How the English model encodes questions: `onnx-int8` (ONNX Runtime,"
        " quantised), `onnx` (ONNX Runtime, same vectors as PyTorch) or `torch`"
        " (sentence-transformers). Passages are always encoded in full precision.",
    )
    model_dir: Path = Field(
        default=PROJECT_ROOT / ".models",
        description="Where the ONNX export of the packaged model is made, once.",
    )
    sentence_vectors: bool = Field(
        default=False,
        description="Build: also store the English vectors of every passage's sentences, so a"
        " question never waits for them (for large indexes; the build encodes about twice the"
        " text, and switching it re-embeds every document).",
    )
    chroma_url: str | None = Field(
        default=None,
        description="Use a Chroma server (`chroma run`) instead of the embedded store.",
    )
    api_key: SecretStr | None = Field(
        default=None, description="Require `Authorization: Bearer <key>` on /api/*."
    )
    rate_limit: str = Field(
        default="120/minute",
        description="Requests per client address on /api/* (`N/second|minute|hour`; empty: off).",
    )
    chat_rate_limit: str = Field(
        default="30/minute", description="Questions per client address in the web chat."
    )
    max_body_bytes: int = Field(
        default=65536, ge=1024, description="Largest request body accepted on /api/*."
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed to call /api/* from a browser."
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's head (line and headers);"
        " the connection is closed after that.",
    )
    body_timeout: float = Field(
        default=30.0,
        gt=0,
        description="Seconds a client has to send a request's body once its head is in;"
        " 408 after that. Responses, streamed ones included, are not timed.",
    )
    max_connections: int = Field(
        default=1000,
        ge=2,
        description="Open connections per server process, idle and streaming ones included;"
        " requests beyond get 503.",
    )
    # uvicorn's own variable, read under its own name; unset means X-Forwarded-For is ignored
    # (uvicorn alone would believe it from 127.0.0.1, i.e. from anyone on the same host).
    forwarded_allow_ips: str | None = Field(
        default=None,
        validation_alias=AliasChoices("FORWARDED_ALLOW_IPS", "forwarded_allow_ips"),
        description="FORWARDED_ALLOW_IPS: comma-separated proxy addresses (or `*`) whose"
        " X-Forwarded-For gives the client address; unset: the header is ignored.",
    )

    @field_validator("rate_limit", "chat_rate_limit")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        from limits import parse

        value = value.strip()
        if value and value != "0":
            try:
                parse(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate: use e.g. '120/minute' or '5/second'"
                ) from None
        return value

    @property
    def allowed_origins(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]

    @field_validator("chroma_url", "api_key", "forwarded_allow_ips", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, value: str) -> str:
        import re

        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]", value):
            raise ValueError(
                "ASSISTANT_COLLECTION must be 3-512 characters of letters, digits, '.', '_' or '-',"
                " starting and ending with a letter or digit"
            )
        return value
