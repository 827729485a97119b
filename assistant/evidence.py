"""Evidence: how well each sentence of a few candidate passages answers a question.

Used twice with the same numbers: to re-rank the top passages of the fused retrieval (a passage is
as good as its best sentence) and to choose the sentences an answer quotes. English questions are
scored with all-MiniLM-L6-v2 against each sentence plus the share of the question's IDF-weighted
terms the sentence (with its section heading) contains. Spanish questions are scored with
multilingual-e5-small against the sentence and its passage, since the English-only signals cannot
read them, and with MiniLM reading the question's English gloss (assistant/bridge.py). Sentence
embeddings are computed on demand and cached (or read from the store, when the build was asked to
store them), so a plain index build encodes each passage only once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding

from assistant.lexical import LexicalIndex, query_terms, tokens
from assistant.query import Query
from assistant.types import Passage
from index.chunk import NAVIGATION, QUESTIONS, is_credit_line, section_and_text
from index.sentences import clauses, clean_sentence, encoded_texts, is_statement

# A sentence that opens by pointing back ("This information is also kept ...") is quoted with
# the sentence before it, so the quote can be understood on its own. (Also scoring it together
# with that sentence was measured: no better on the question sets, at twice the encoding.)
_POINTS_BACK = re.compile(r"^(this|these|it|its|they|their|such)\b", re.I)

CREDITS = ("year", "author")  # the kinds of answer a dateline or byline gives
COVERAGE_WEIGHT = 0.3  # English: sentence score = MiniLM cosine + 0.3 * term coverage
NAVIGATION_PENALTY = 0.1  # navigation sentences answer only when nothing else comes close
# Spanish: e5(sentence) + e5(passage) + 0.2 * MiniLM + 0.1 * coverage + 0.5 * MiniLM(gloss)
SPANISH_ENGLISH_WEIGHT = 0.2
SPANISH_COVERAGE_WEIGHT = 0.1
SPANISH_GLOSS_WEIGHT = 0.5


@dataclass(frozen=True)
class Sentence:
    """A quotable sentence of a candidate passage, scored against the question."""

    text: str
    passage: Passage
    english: float  # MiniLM cosine to the question
    coverage: float  # share of the question's term weight it contains
    score: float
    e5: float | None = None  # multilingual-e5 cosine to the question, when computed
    previous: str | None = None  # the sentence it points back to, quoted before it
    gloss: float = 0.0  # Spanish: what reading the question's English gloss added to `score`

    @property
    def quote(self) -> str:
        """What an answer quotes: the sentence, preceded by the one it points back to."""
        return f"{self.previous} {self.text}" if self.previous else self.text


def quotable(passage: Passage) -> tuple[tuple[str, str | None], ...]:
    """The sentences of a passage an answer may quote (statements, not questions or fragments),
    each with the sentence before it when it points back to that one."""
    if passage.kind == QUESTIONS:
        return ()
    return _quotable(passage.text, passage.sentences)


# Cleaning and tokenising a passage's sentences took a third of a question's time on the shipped
# corpus, for the same few passages again and again: kept, by text and spans (never stale).
@lru_cache(maxsize=4096)
def _quotable(text: str, spans: tuple[tuple[int, int], ...]) -> tuple[tuple[str, str | None], ...]:
    found: list[tuple[str, str | None]] = []
    before: str | None = None
    for start, end in spans or ((0, len(text)),):
        sentence = clean_sentence(text[start:end])
        if is_statement(sentence) and tokens(sentence):
            found.append((sentence, before if before and _POINTS_BACK.match(sentence) else None))
        before = sentence
    return tuple(found)


class EmbeddingCache:
    """Text embeddings by text, least recently used dropped first; safe across threads."""

    def __init__(self, model: BaseEmbedding, size: int = 50000) -> None:
        self.model = model
        self.size = size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if missing := self.missing(texts):
            self.put(missing, np.asarray(self.model.get_text_embedding_batch(missing)))
        with self._lock:
            rows = [self._cache.get(t) for t in texts]
        if any(row is None for row in rows):  # evicted by another thread meanwhile
            return np.asarray(self.model.get_text_embedding_batch(list(texts)), dtype=np.float32)
        return np.stack([row for row in rows if row is not None])

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The texts that have no embedding here, once each."""
        with self._lock:
            return [t for t in dict.fromkeys(texts) if t not in self._cache]

    def put(self, texts: Sequence[str], vectors: np.ndarray | Sequence[np.ndarray]) -> None:
        """Keep these embeddings (made here, or stored by the build)."""
        with self._lock:
            self._cache.update(zip(texts, np.asarray(vectors, dtype=np.float32), strict=True))
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class Evidence:
    """Scores the sentences of candidate passages against a question."""

    def __init__(
        self,
        english: BaseEmbedding,
        spanish: BaseEmbedding,
        *,
        sentences: BaseEmbedding | None = None,
    ) -> None:
        """`english` encodes questions and `sentences` (by default the same model) the
        sentences: with the int8 question encoder, sentences stay in full precision like the
        passages of the index (and like the vectors a build may store), and a sentence's vector
        never depends on the batch it was encoded in (int8 scales activations per batch)."""
        self.english = english
        self.spanish = spanish
        self._english = EmbeddingCache(sentences or english)
        self._spanish = EmbeddingCache(spanish)

    def clear(self) -> None:
        """Forget the cached sentence embeddings (benchmarks measure the uncached path)."""
        self._english.clear()
        self._spanish.clear()

    def prepare(self, passages: Sequence[Passage], *, multilingual: bool = False) -> int:
        """Encode the quotable sentences (and clauses) of these passages ahead of any question,
        so that scoring them later costs no encoding; with `multilingual`, also their
        multilingual-e5 vectors (slow to make: Spanish questions and the answers' relevance check
        read them). Returns how many texts were encoded."""
        english = self._english.missing([t for p in passages for t in english_texts(p)])
        batches = [(self._english, english)]
        if multilingual:
            sentences = [text for passage in passages for text, _ in quotable(passage)]
            contexts = [ranking_text_of(p) for p in passages if p.kind != QUESTIONS]
            batches.append((self._spanish, self._spanish.missing(sentences + contexts)))
        for cache, texts in batches:
            for start in range(0, len(texts), 256):
                cache(texts[start : start + 256])
        return sum(len(texts) for _, texts in batches)

    def unprepared(self, passages: Sequence[Passage]) -> list[Passage]:
        """The passages whose sentences English questions would still have to encode."""
        return [p for p in passages if self._english.missing(english_texts(p))]

    def remember(self, vectors: Mapping[str, np.ndarray]) -> None:
        """Take sentence vectors made ahead of time (stored by the build) as if encoded here."""
        if vectors:
            self._english.put(list(vectors), list(vectors.values()))

    def sentences(
        self, query: Query, passages: Sequence[Passage], lexical: LexicalIndex
    ) -> list[Sentence]:
        """Every quotable sentence of the passages, scored, best first. Datelines and bylines
        answer only questions that ask when or by whom."""
        credits = query.expects in CREDITS
        found = [
            (text, passage, previous)
            for passage in passages
            for text, previous in quotable(passage)
            if credits or not is_credit_line(text)
        ]
        if not found:
            return []
        texts = [text for text, _, _ in found]
        question = np.asarray(self.english.get_query_embedding(query.text), dtype=np.float32)
        english = self._english_scores(texts, question)
        terms = query_terms(query.text)
        coverage = [lexical.coverage(terms, f"{p.section}\n{text}") for text, p, _ in found]
        e5: list[float | None] = [None] * len(found)
        glossed = np.zeros(len(found), dtype=np.float32)
        if query.language == "es":
            question = np.asarray(self.spanish.get_query_embedding(query.text), dtype=np.float32)
            sentence_e5 = self._spanish(texts) @ question
            by_id = {p.id: p for _, p, _ in found}
            contexts = self._spanish([ranking_text_of(p) for p in by_id.values()]) @ question
            context = dict(zip(by_id, contexts, strict=True))
            scores = (
                sentence_e5
                + np.asarray([context[p.id] for _, p, _ in found])
                + SPANISH_ENGLISH_WEIGHT * english
                + SPANISH_COVERAGE_WEIGHT * np.asarray(coverage)
            )
            if query.gloss:  # the question's words as the index's English words: MiniLM reads it
                gloss = np.asarray(self.english.get_query_embedding(query.gloss), dtype=np.float32)
                weight = SPANISH_GLOSS_WEIGHT * query.gloss_share
                glossed = weight * (self._english(texts) @ gloss)
                scores = scores + glossed
            e5 = [float(x) for x in sentence_e5]
        else:
            scores = english + COVERAGE_WEIGHT * np.asarray(coverage)
        scores = scores - NAVIGATION_PENALTY * np.asarray(
            [p.kind == NAVIGATION for _, p, _ in found]
        )
        scored = [
            Sentence(text, passage, float(en), cov, float(score), sim, previous, gloss=float(gl))
            for (text, passage, previous), en, cov, score, sim, gl in zip(
                found, english, coverage, scores, e5, glossed, strict=True
            )
        ]
        return sorted(scored, key=lambda s: s.score, reverse=True)

    def _english_scores(self, texts: list[str], question: np.ndarray) -> np.ndarray:
        """MiniLM cosine of each sentence, or of its best clause: a long sentence joined by a
        semicolon states two things, and the one asked about should not be diluted by the other."""
        scores = self._english(texts) @ question
        parts = [(index, clause) for index, text in enumerate(texts) for clause in clauses(text)]
        if parts:
            clause_scores = self._english([c for _, c in parts]) @ question
            for (index, _), value in zip(parts, clause_scores, strict=True):
                scores[index] = max(scores[index], value)
        return scores

    def relevance(self, query: Query, sentences: Sequence[Sentence]) -> float:
        """The best multilingual-e5 cosine between the question and these sentences: a second,
        independent reading of whether any of them is about what was asked."""
        if not sentences:
            return 0.0
        known = [s.e5 for s in sentences if s.e5 is not None]
        if len(known) == len(sentences):
            return max(known)
        question = np.asarray(self.spanish.get_query_embedding(query.text), dtype=np.float32)
        return float((self._spanish([s.text for s in sentences]) @ question).max())


def english_texts(passage: Passage) -> list[str]:
    """What English scoring encodes for a passage: its quotable sentences and their clauses,
    as `index.sentences.encoded_texts` gives them (the build stores vectors for the same)."""
    if passage.kind == QUESTIONS:
        return []
    return list(_encoded_texts(passage.text, passage.sentences))


_encoded_texts = lru_cache(maxsize=4096)(encoded_texts)  # the same few passages, again and again


def ranking_text_of(passage: Passage) -> str:
    """Section heading and passage text, as the index embeds them."""
    return section_and_text(passage.section, passage.text)
