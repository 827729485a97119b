"""Sentences: the texts of a passage that answers are scored on and quote.

Shared by the assistant, which encodes them to find the sentence that answers (stage 2 of
retrieval, and the answers' quotes), and by the build, which can encode them ahead of time and
store their vectors beside the passage (`ASSISTANT_SENTENCE_VECTORS`), so that a large index
never makes a question wait for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The publisher's own reference markers ("[1] [2]") must never read as our citations.
_SOURCE_MARKERS = re.compile(r"\s*(?:\[\d{1,3}\]\s*)+(?=[.,;:!?]|$)|(?:\[\d{1,3}\]\s*)+")
_BULLET = re.compile(r"^\s*(?:[•●▪◦‣·*\-–—]|\(?\d{1,3}[.)])\s+")
_CLAUSE = re.compile(r";\s+|\s+[—–]\s+")
MIN_CLAUSE_CHARS = 40
MIN_STATEMENT_CHARS = 8


def clean_sentence(text: str) -> str:
    """A quoted sentence without list bullets or the source's reference markers, on one line."""
    text = _BULLET.sub("", _SOURCE_MARKERS.sub("", text))
    return re.sub(r"\s+", " ", text).strip()


def is_statement(text: str) -> bool:
    """Whether a cleaned sentence can be quoted as an answer: not a question, not a fragment."""
    return len(text) >= MIN_STATEMENT_CHARS and not text.endswith("?")


def clauses(text: str) -> list[str]:
    """The parts of a sentence joined by semicolons or dashes, when long enough to stand alone."""
    return [c for c in _CLAUSE.split(text) if len(c) >= MIN_CLAUSE_CHARS and c != text]


def encoded_texts(text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    """Everything stage 2 encodes for a passage (its text and sentence spans): each statement,
    then the clauses of each."""
    statements = [
        sentence
        for start, end in spans or ((0, len(text)),)
        if is_statement(sentence := clean_sentence(text[start:end]))
    ]
    return list(dict.fromkeys(statements + [c for s in statements for c in clauses(s)]))
