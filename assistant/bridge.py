"""Bridge: the words of a Spanish question -> the index's own English words that mean the same.

Spanish questions are read against English passages. The multilingual encoders compare whole
texts across languages, but the English-only signals (MiniLM, BM25, term coverage) see nothing in
"¿Comparte la policía las huellas?". Universal Sentence Encoder multilingual places single words
of both languages in one space ("huellas" lands next to "fingerprints", "cárcel" next to "jails"),
so each content word of the question is mapped to the nearest words of the index's vocabulary.
The result (the question's English "gloss": "share sharing police fingerprints fingerprint") is
read by MiniLM beside the multilingual scores. Nothing is hand-written: the vocabulary is the
index's, so it follows whatever corpus is indexed.
"""

from __future__ import annotations

import re
import threading
from collections import Counter

import numpy as np

from assistant.evidence import EmbeddingCache
from assistant.lexical import content_word

_WORD = re.compile(r"(?u)\b[^\W\d_]{3,}\b")
MAX_WORDS = 5000  # the index's most widespread words that questions are mapped onto
MIN_SIMILARITY = 0.7  # below this a nearest word is a guess, not a translation
NEAREST = 2  # a word may map to two forms ("fingerprint", "fingerprints") ...
MARGIN = 0.08  # ... when the second is nearly as close as the first
# The content words of a question that are glossed: each is encoded and compared with the whole
# vocabulary, and a question of 300 different words cost 0.2 s more for nothing it could use (the
# bench sets' Spanish questions have at most 13).
MAX_GLOSSED = 32


def vocabulary(words: Counter[str], limit: int = MAX_WORDS) -> list[str]:
    """The `limit` words of at least three letters used by the most passages."""
    usable = [(word, n) for word, n in words.items() if _WORD.fullmatch(word)]
    usable.sort(key=lambda item: (-item[1], item[0]))
    return [word for word, _ in usable[:limit]]


class Bridge:
    """Maps the content words of a question onto the index's vocabulary by USE similarity."""

    def __init__(self, words: Counter[str], vectors: EmbeddingCache) -> None:
        self.known = frozenset(words)
        self.words = vocabulary(words)
        self._vectors = vectors
        self._matrix: np.ndarray | None = None
        self._lock = threading.Lock()

    def prepare(self) -> int:
        """Encode the vocabulary now rather than on the first Spanish question; returns how many
        words that took (0 once done)."""
        with self._lock:
            if self._matrix is not None:
                return 0
            self._matrix = _unit(self._vectors(self.words)) if self.words else np.empty((0, 0))
            return len(self.words)

    def _vocabulary_matrix(self) -> np.ndarray:
        self.prepare()
        assert self._matrix is not None
        return self._matrix

    def gloss(self, text: str) -> tuple[str, float]:
        """The index's words nearest to the first MAX_GLOSSED content words of `text`, in order (a
        word the index itself uses is kept as it is), and the share of them that found any."""
        words = list(dict.fromkeys(w for w in _WORD.findall(text.lower()) if content_word(w)))
        words = words[:MAX_GLOSSED]
        if not words or not self.words:
            return "", 0.0
        matrix = self._vocabulary_matrix()
        similarities = _unit(self._vectors(words)) @ matrix.T
        found: list[str] = []
        mapped = 0
        for word, row in zip(words, similarities, strict=True):
            nearest = np.argsort(-row)[:NEAREST]
            best = row[nearest[0]]
            near = [self.words[i] for i in nearest if row[i] >= max(MIN_SIMILARITY, best - MARGIN)]
            if word in self.known:
                near.insert(0, word)
            found.extend(near)
            mapped += bool(near)
        return " ".join(dict.fromkeys(found)), mapped / len(words)


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
