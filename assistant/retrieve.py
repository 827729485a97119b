"""Retrieve: a query -> the passages that best match it, best first, in two stages.

Stage 1 fuses three rankings with weighted reciprocal ranks, score = sum of w / (K + rank):
English dense (all-MiniLM-L6-v2 in Chroma), multilingual dense (USE in Chroma) and BM25. The
weights depend on the question's language. Passages marked as navigation or lists of questions
are kept but scaled down, so they surface only when nothing else matches. llama-index's
QueryFusionRetriever fixes K at 60 and has no per-retriever weights in its RRF mode; both matter
here (bench/README.md has the tuning).

Stage 2 re-ranks the top of that list by its best sentence (assistant/evidence.py): a passage
that contains the sentence that answers beats one that is merely about the same topic. Scores:
re-ranked passages get 1 + their best sentence's score, the rest keep their fused score (< 1),
so `score` always falls with rank.
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import VectorStoreQuery

from assistant.evidence import Evidence, Sentence
from assistant.lexical import LexicalIndex
from assistant.query import Query, analyse
from assistant.types import DocumentRef, Passage
from index.chunk import CONTENT, NAVIGATION, QUESTIONS, ranking_text
from index.errors import StoreUnavailableError
from index.store import STORE_ERRORS, Store


@dataclass(frozen=True)
class Weights:
    """How much each ranking counts in the fusion."""

    english: float
    multilingual: float
    lexical: float


WEIGHTS = {"en": Weights(english=1.0, multilingual=0.25, lexical=0.75)}
WEIGHTS["es"] = Weights(english=0.3, multilingual=1.0, lexical=0.4)
RRF_K = 5
KIND_FACTOR = {CONTENT: 1.0, NAVIGATION: 0.7, QUESTIONS: 0.3}
CANDIDATES = 50
RERANK_DEPTH = {"en": 10, "es": 20}  # Spanish needs a deeper pool: stage 1 reads it less well


def passage_from_node(node: BaseNode, score: float, signals: dict[str, float]) -> Passage:
    """A stored passage node as the Passage every surface returns."""
    metadata: dict[str, Any] = dict(node.metadata)
    spans = json.loads(metadata.get("sentences") or "[]")
    return Passage(
        id=node.node_id,
        text=node.get_content(metadata_mode=MetadataMode.NONE),
        score=score,
        document=DocumentRef.from_metadata(metadata),
        start=int(getattr(node, "start_char_idx", None) or 0),
        end=int(getattr(node, "end_char_idx", None) or 0),
        section=str(metadata.get("section", "")),
        kind=str(metadata.get("kind", CONTENT)),
        sentences=tuple((int(s), int(e)) for s, e in spans),
        signals=signals,
    )


class HybridRetriever:
    """English dense + multilingual dense + BM25, fused by weighted reciprocal rank."""

    def __init__(
        self,
        store: Store,
        english: BaseEmbedding,
        multilingual: BaseEmbedding,
        evidence: Evidence,
        *,
        refresh_seconds: float = 2.0,
    ) -> None:
        self.store = store
        self.english = english
        self.multilingual = multilingual
        self.evidence = evidence
        self.refresh_seconds = refresh_seconds
        self._lexical: LexicalIndex | None = None
        self._revision: str | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def lexical(self) -> LexicalIndex:
        """The BM25 index of the current passages, rebuilt after a build changed the store."""
        now = time.monotonic()
        if self._lexical is not None and now - self._checked < self.refresh_seconds:
            return self._lexical
        with self._lock:
            if self._lexical is None or time.monotonic() - self._checked >= self.refresh_seconds:
                revision = self._guard(self.store.revision)
                if self._lexical is None or revision != self._revision:
                    nodes = self._guard(self.store.passages)
                    texts = [ranking_text(node) for node in nodes]
                    self._lexical = LexicalIndex([node.node_id for node in nodes], texts)
                    self._revision = revision
                self._checked = time.monotonic()
            return self._lexical

    def retrieve(self, query: Query | str, k: int = 5) -> list[Passage]:
        """The k best passages for the query, best first."""
        return self.search(analyse(query) if isinstance(query, str) else query, k)[0]

    def search(self, query: Query, k: int) -> tuple[list[Passage], list[Sentence]]:
        """The k best passages, and the scored sentences of the re-ranked ones (best first)."""
        depth = RERANK_DEPTH[query.language]
        fused = self.fuse(query, max(k, depth))
        pool = fused[:depth]
        sentences = self.evidence.sentences(query, pool, self.lexical())
        best: dict[str, float] = {}
        for sentence in sentences:
            best.setdefault(sentence.passage.id, sentence.score)
        pool.sort(key=lambda p: best.get(p.id, -1.0), reverse=True)
        reranked = [replace(p, score=1.0 + max(best.get(p.id, 0.0), 0.0)) for p in pool]
        return (reranked + fused[depth:])[:k], sentences

    def fuse(self, query: Query, k: int) -> list[Passage]:
        """Stage 1: the k best passages by weighted reciprocal rank fusion; `score` is fused."""
        weights = WEIGHTS[query.language]
        n = max(k, CANDIDATES)
        english_vector = self.english.get_query_embedding(query.text)
        multilingual_vector = self.multilingual.get_query_embedding(query.text)
        lexical = self.lexical()

        def dense() -> tuple[Any, list[tuple[str, float]]]:
            english = self.store.vector_store.query(
                VectorStoreQuery(query_embedding=english_vector, similarity_top_k=n)
            )
            return english, self.store.query_multilingual(multilingual_vector, n)

        english, multilingual = self._guard(dense)
        rankings = {
            "english": [
                (node.node_id, 1.0 - _distance(similarity))
                for node, similarity in zip(
                    english.nodes or [], english.similarities or [], strict=True
                )
            ],
            "multilingual": multilingual,
            "lexical": lexical.search(query.text, n),
        }
        fused: dict[str, float] = {}
        signals: dict[str, dict[str, float]] = {}
        for name, ranking in rankings.items():
            weight = getattr(weights, name)
            for rank, (passage_id, value) in enumerate(ranking):
                fused[passage_id] = fused.get(passage_id, 0.0) + weight / (RRF_K + rank + 1)
                signals.setdefault(passage_id, {})[name] = value
        nodes = {node.node_id: node for node in english.nodes or []}
        missing = [i for i in fused if i not in nodes]
        nodes.update((node.node_id, node) for node in self._guard(self.store.passages, missing))
        for passage_id in list(fused):
            if passage_id not in nodes:  # written by a build that is still running
                del fused[passage_id]
                continue
            kind = str(nodes[passage_id].metadata.get("kind", CONTENT))
            fused[passage_id] *= KIND_FACTOR.get(kind, 1.0)
        best = sorted(fused, key=lambda i: fused[i], reverse=True)[:k]
        return [passage_from_node(nodes[i], fused[i], signals[i]) for i in best]

    @staticmethod
    def _guard(call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except STORE_ERRORS as error:
            raise StoreUnavailableError(f"the vector store did not answer: {error}") from error


def _distance(similarity: float) -> float:
    """ChromaVectorStore reports exp(-distance); with cosine space, distance = 1 - cosine."""
    return -math.log(max(similarity, 1e-12))
