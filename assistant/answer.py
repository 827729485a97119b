"""Answer: a question -> an extractive answer of quoted sentences, each with its citation."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from assistant.types import Answer, Citation, Passage

# The publisher's own reference markers ("[1] [2]") must never read as our citations.
_SOURCE_MARKERS = re.compile(r"\s*(?:\[\d{1,3}\]\s*)+(?=[.,;:!?]|$)|(?:\[\d{1,3}\]\s*)+")


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, scored against the question."""

    text: str
    passage: Passage
    score: float
    embedding: np.ndarray


def clean_sentence(text: str) -> str:
    """A quoted sentence without the source's reference markers, on one line."""
    text = _SOURCE_MARKERS.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """The text to retrieve with: the question, preceded by the last question asked before it."""
    previous = [turn.content for turn in history if turn.role == "user" and turn.content.strip()]
    return f"{previous[-1]}\n{question}" if previous else question


class Answerer:
    """Chooses the sentences that answer a question from the retrieved passages."""

    def __init__(
        self,
        embed_model: BaseEmbedding,
        *,
        min_score: float = 0.3,
        margin: float = 0.1,
        max_sentences: int = 3,
        duplicate_similarity: float = 0.9,
    ) -> None:
        self.embed_model = embed_model
        self.min_score = min_score
        self.margin = margin
        self.max_sentences = max_sentences
        self.duplicate_similarity = duplicate_similarity

    def answer(
        self, question: str, passages: Sequence[Passage], covered: Sequence[str], query: str
    ) -> Answer:
        """An answer quoting the best sentences of `passages`, or a plain "not covered"."""
        candidates = self._candidates(query, passages)
        chosen = self._choose(candidates)
        if not chosen:
            return Answer(question=question, answer=not_covered(covered), answered=False)
        numbers: dict[str, int] = {}
        citations: list[Citation] = []
        parts: list[str] = []
        for candidate in chosen:
            passage = candidate.passage
            if passage.id not in numbers:
                numbers[passage.id] = len(numbers) + 1
                citations.append(Citation(numbers[passage.id], passage))
            parts.append(f"{candidate.text} [{numbers[passage.id]}]")
        return Answer(question, " ".join(parts), True, tuple(citations))

    def _candidates(self, query: str, passages: Sequence[Passage]) -> list[Candidate]:
        sentences: list[tuple[str, Passage]] = []
        for passage in passages:
            for start, end in passage.sentences or ((0, len(passage.text)),):
                text = clean_sentence(passage.text[start:end])
                # Questions in the material are not statements an answer can quote.
                if len(text) >= 12 and not text.endswith("?"):
                    sentences.append((text, passage))
        if not sentences:
            return []
        question = np.asarray(self.embed_model.get_query_embedding(query))
        vectors = np.asarray(self.embed_model.get_text_embedding_batch([s for s, _ in sentences]))
        scores = vectors @ question
        return [
            Candidate(text, passage, float(score), vector)
            for (text, passage), score, vector in zip(sentences, scores, vectors, strict=True)
        ]

    def _choose(self, candidates: list[Candidate]) -> list[Candidate]:
        ranked = sorted(candidates, key=lambda c: c.score, reverse=True)
        if not ranked or ranked[0].score < self.min_score:
            return []
        floor = max(self.min_score, ranked[0].score - self.margin)
        chosen: list[Candidate] = []
        for candidate in ranked:
            if candidate.score < floor or len(chosen) == self.max_sentences:
                break
            if all(
                float(candidate.embedding @ other.embedding) < self.duplicate_similarity
                for other in chosen
            ):
                chosen.append(candidate)
        return chosen


def not_covered(covered: Sequence[str]) -> str:
    """The plain statement that the material does not answer, and what it does cover."""
    text = "The material I answer from does not cover this question, so I cannot answer it."
    if covered:
        text += " It covers: " + "; ".join(covered) + "."
    return text
