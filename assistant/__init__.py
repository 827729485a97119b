"""Question -> cited answer over the index built by `index`; served by API, web chat and CLI."""

from assistant.core import Assistant
from assistant.types import Answer, Citation, DocumentInfo, DocumentRef, Passage

__all__ = ["Answer", "Assistant", "Citation", "DocumentInfo", "DocumentRef", "Passage"]
