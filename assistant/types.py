"""Types: the Passage, Citation and Answer shapes every surface returns (see API.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


def _or_none(value: Any) -> str | None:
    text = "" if value is None else str(value)
    return text or None


@dataclass(frozen=True)
class DocumentRef:
    """The source document a passage comes from."""

    id: str
    title: str
    publisher: str | None = None
    published: str | None = None
    url: str | None = None
    path: str | None = None

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> DocumentRef:
        return cls(
            id=str(metadata.get("doc_id", "")),
            title=str(metadata.get("title", "")),
            publisher=_or_none(metadata.get("publisher")),
            published=_or_none(metadata.get("published")),
            url=_or_none(metadata.get("url")),
            path=_or_none(metadata.get("path")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "publisher": self.publisher,
            "published": self.published,
            "url": self.url,
            "path": self.path,
        }


@dataclass(frozen=True)
class Passage:
    """A citable passage, verbatim from its document, with its offsets and retrieval score."""

    id: str
    text: str
    score: float
    document: DocumentRef
    start: int
    end: int
    section: str = ""
    kind: str = "content"
    # Sentence spans relative to `text`: the units answers quote.
    sentences: tuple[tuple[int, int], ...] = field(default=(), repr=False)
    # What each ranking said about this passage (cosines, BM25 score); not part of the JSON.
    signals: Mapping[str, float] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "score": round(float(self.score), 6),
            "document": self.document.to_dict(),
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True)
class Citation:
    """Marker `[n]` in an answer, and the passage it points to."""

    n: int
    passage: Passage

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "passage": self.passage.to_dict()}


@dataclass(frozen=True)
class Answer:
    """An extractive answer: quoted sentences each followed by `[n]`, and the citations."""

    question: str
    answer: str
    answered: bool
    citations: tuple[Citation, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "answered": self.answered,
            "citations": [citation.to_dict() for citation in self.citations],
        }


@dataclass(frozen=True)
class DocumentInfo:
    """An indexed document as listed by /api/documents."""

    id: str
    title: str
    publisher: str | None
    published: str | None
    url: str | None
    path: str | None
    chunks: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "publisher": self.publisher,
            "published": self.published,
            "url": self.url,
            "path": self.path,
            "chunks": self.chunks,
        }
