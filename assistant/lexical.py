"""Lexical: BM25 over the passages (bm25s) and IDF-weighted term coverage, one tokenizer for both.

Built from the passages in the store when the assistant loads, so it works the same with the
embedded store and a Chroma server, and is rebuilt when the index's revision changes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN, STOPWORDS_SPANISH

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_STOPWORDS = frozenset(STOPWORDS_EN) | frozenset(STOPWORDS_SPANISH)
# Question words and fillers carry no topic; without them "what is X" matches X, not "what".
_QUESTION_WORDS = frozenset(
    """what which who whom whose when where why how does do did can could would should may
    might tell explain describe mean means meaning kind kinds type types way ways anything
    something qué cuál cuáles quién quiénes cuándo dónde por cómo puede pueden podría
    explica dime""".split()
)
BM25_K1 = 0.9
BM25_B = 0.4


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased, stop-word-free word tokens, as written."""
    return [w for w in _TOKEN.findall(text.lower()) if w not in _STOPWORDS]


def tokens(text: str) -> list[str]:
    """Lower-cased, stop-word-free, stemmed word tokens."""
    return list(_stemmer().stemWords(words(text)))


def content_word(word: str) -> bool:
    """Whether a lower-cased word carries topic: neither a stop word nor a question word."""
    return word not in _STOPWORDS and word not in _QUESTION_WORDS


@lru_cache(maxsize=65536)
def _token_set(text: str) -> frozenset[str]:
    """The tokens of a sentence, kept: the same sentences are scored again and again."""
    return frozenset(tokens(text))


def query_terms(text: str) -> list[str]:
    """The distinct content terms of a question, in order."""
    kept = [w for w in _TOKEN.findall(text.lower()) if content_word(w)]
    return list(dict.fromkeys(_stemmer().stemWords(kept)))


class LexicalIndex:
    """BM25 (k1 0.9, b 0.4, no stop words, English stemming) plus document frequencies."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self.ids = list(ids)
        # the words as written, by how many passages use them (assistant/bridge.py reads them)
        self.words: Counter[str] = Counter()
        corpus = []
        for text in texts:
            written = words(text)
            self.words.update(set(written))
            corpus.append(_stemmer().stemWords(written))
        self.size = len(corpus)
        self.df: Counter[str] = Counter(term for doc in corpus for term in set(doc))
        self.bm25 = bm25s.BM25(k1=BM25_K1, b=BM25_B)
        if corpus:
            self.bm25.index(corpus, show_progress=False)

    def idf(self, term: str) -> float:
        """Inverse document frequency; a term the corpus never uses gets the highest weight."""
        return math.log(1.0 + (self.size + 1) / (self.df.get(term, 0) + 0.5))

    def search(self, text: str, n: int) -> list[tuple[str, float]]:
        """(passage id, BM25 score) of the best n passages with any query term, best first."""
        vocabulary = self.bm25.vocab_dict if self.size else {}
        terms = [t for t in tokens(text) if t in vocabulary]
        if not terms:
            return []
        scores = self.bm25.get_scores(terms)
        if n < self.size:  # the n best without sorting the whole corpus
            candidates = np.argpartition(-scores, n)[:n]
            top = candidates[np.lexsort((candidates, -scores[candidates]))]
        else:
            top = np.argsort(-scores, kind="stable")
        return [(self.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def coverage(self, terms: Sequence[str], text: str) -> float:
        """Share of the terms' IDF weight that occurs in text (1.0 = every term is there)."""
        if not terms:
            return 0.0
        present = _token_set(text)
        total = sum(self.idf(t) for t in terms)
        return sum(self.idf(t) for t in terms if t in present) / total if total else 0.0

    def uses(self, text: str) -> bool:
        """Whether every word of `text` occurs in some passage ("Harris County", "IRS")."""
        return all(term in self.df for term in tokens(text))

    def known(self, terms: Sequence[str]) -> float:
        """Share of the terms' IDF weight that the corpus uses at all."""
        if not terms:
            return 0.0
        total = sum(self.idf(t) for t in terms)
        return sum(self.idf(t) for t in terms if t in self.df) / total if total else 0.0
