"""Errors: the exceptions the core raises, each with a message a person can act on.

    AssistantError            base of everything below
    ├── SourceFileError       one source file could not be loaded (named, skipped, build goes on)
    ├── IngestError           a build that cannot be used (a rebuild that found nothing)
    ├── IndexMissingError     no index yet, or it is empty: run `python -m index build`
    ├── IndexMismatchError    the index was built with another model or chunker: rebuild
    ├── StoreUnavailableError the Chroma store cannot be opened or reached
    │   └── IndexDamagedError the stored index cannot be read back whole (a corrupt database)
    ├── InvalidInputError     a question, query or parameter the core cannot accept
    └── WeightsError          model weights that cannot be fetched or are not the pinned ones

The CLI turns them into a message and exit code 1, the API into the status codes of API.md,
the web chat into `gr.Error`.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class of every error the assistant and the index raise on purpose."""


class SourceFileError(AssistantError):
    """A source file is unreadable, empty, corrupt or of an unknown type."""

    def __init__(self, path: str, reason: str, line: int | None = None) -> None:
        super().__init__(f"{path}{'' if line is None else f':{line}'}: {reason}")
        self.path = path
        self.reason = reason
        self.line = line


class IngestError(AssistantError):
    """A build whose result cannot be used."""


class IndexMissingError(AssistantError):
    """There is no index to answer from."""


class IndexMismatchError(AssistantError):
    """The stored index was built by an incompatible pipeline."""


class StoreUnavailableError(AssistantError):
    """The vector store cannot be opened or reached."""


class IndexDamagedError(StoreUnavailableError):
    """The stored index is damaged: it must be moved aside and built again."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail  # what was found, for the operator's command line only


class InvalidInputError(AssistantError):
    """Input the core cannot work with (empty question, k out of range, ...)."""


class WeightsError(AssistantError):
    """Model weights that cannot be fetched, or that are not exactly the ones pinned here."""
