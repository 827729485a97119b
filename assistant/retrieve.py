"""Retrieve: a query -> the passages that best match it, best first, in two stages.

Stage 1 fuses three rankings with weighted reciprocal ranks, score = sum of w / (K + rank):
English dense (all-MiniLM-L6-v2 in Chroma), multilingual dense (USE in Chroma) and BM25. The
weights depend on the question's language. Passages marked as navigation or lists of questions
are kept but scaled down, so they surface only when nothing else matches. llama-index's
QueryFusionRetriever fixes K at 60 and has no per-retriever weights in its RRF mode; both matter
here (bench/README.md has the tuning).

Stage 2 re-ranks the top of that list by its best sentence (assistant/evidence.py): a passage
that contains the sentence that answers beats one that is merely about the same topic, and for
a question asking for a kind of fact ("On what date …?") one whose sentence states it. Sentence
vectors come from the cache, from the store when the build made them, or are encoded. Scores:
re-ranked passages get 1 + their best sentence's score, the rest keep their fused score (< 1),
so `score` always falls with rank.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode

from assistant.answer_types import supplies
from assistant.bridge import MAX_WORDS, Bridge
from assistant.evidence import EmbeddingCache, Evidence, Sentence, english_texts
from assistant.lexical import LexicalIndex
from assistant.plain import in_plain_words
from assistant.query import Query, analyse
from assistant.types import DocumentRef, Passage
from index.chunk import CONTENT, NAVIGATION, QUESTIONS, ranking_text
from index.embed import OnnxEmbedding
from index.store import STORE_ERRORS, Store, store_failure


@dataclass(frozen=True)
class Snapshot:
    """The passages of the last completed build that readers use, and their BM25 index."""

    revision: str
    lexical: LexicalIndex
    valid: frozenset[str]
    bridge: Bridge
    factors: dict[str, float]  # the KIND_FACTOR of passages that are not plain content
    sentence_vectors: bool  # whether the build stored the passages' sentence vectors
    # Passages already read, by id, for an index of up to CACHED_PASSAGES (None above that): a
    # small index is soon held whole, and a question reads nothing but its two searches.
    nodes: dict[str, BaseNode] | None = None


@dataclass(frozen=True)
class Weights:
    """How much each ranking counts in the fusion."""

    english: float
    multilingual: float
    lexical: float


# English questions skip USE: weighted 0.25 it changed no dev answer and cost a second encoder a
# question (on all six question sets hit@1 was equal or better without it; see bench/README.md).
WEIGHTS = {"en": Weights(english=1.0, multilingual=0.0, lexical=0.75)}
WEIGHTS["es"] = Weights(english=0.3, multilingual=1.0, lexical=0.4)
RRF_K = 5
KIND_FACTOR = {CONTENT: 1.0, NAVIGATION: 0.7, QUESTIONS: 0.3}
CANDIDATES = 50
CACHED_PASSAGES = 5000
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="retrieve")
RERANK_DEPTH = {"en": 10, "es": 20}  # Spanish needs a deeper pool: stage 1 reads it less well
# What a sentence loses in stage 2 when the question asks for a kind of fact (a date, a count)
# it does not state: far more than sentence scores span, so such passages always come after.
UNSUPPLIED_PENALTY = 10.0


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
        self._snapshot: Snapshot | None = None
        # USE vectors of vocabulary words outlive snapshots: a rebuild re-encodes only new words
        self._words = EmbeddingCache(multilingual, size=2 * MAX_WORDS)
        self._checked = 0.0
        self._stale = False
        self._lock = threading.Lock()

    def lexical(self) -> LexicalIndex:
        """The BM25 index of the passages of the last completed build."""
        return self.snapshot().lexical

    def snapshot(self) -> Snapshot:
        """What the last completed build left: the passages readers may use, and their BM25
        index. Refreshed when another build completes (its revision changes) or when a passage
        it listed has gone; an embedded store is reopened first to see the new vectors."""
        snapshot = self._snapshot
        due = time.monotonic() - self._checked >= self.refresh_seconds
        if snapshot is not None and not due and not self._stale:
            return snapshot
        with self._lock:
            snapshot = self._snapshot
            if (
                snapshot is None
                or self._stale
                or time.monotonic() - self._checked >= self.refresh_seconds
            ):
                revision = self._guard(self.store.revision)
                if snapshot is None or self._stale or revision != snapshot.revision:
                    if snapshot is not None:
                        self._guard(self.store.reopen)
                        # after a rebuild's switch, the revision of the generation now open
                        revision = self._guard(self.store.revision)
                    snapshot = self._take_snapshot(revision)
                    self._snapshot = snapshot
                    self._stale = False
                self._checked = time.monotonic()
            return snapshot

    def _take_snapshot(self, revision: str) -> Snapshot:
        manifest = self._guard(self.store.manifest)
        ids, texts, factors = [], [], {}
        pages = self.store.pages()  # a page at a time: only ids, texts and kinds are kept
        while (page := self._guard(next, pages, None)) is not None:
            for node in page:
                record = manifest.get(str(node.metadata.get("doc_id")))
                if record and record.hash == node.metadata.get("doc_hash"):
                    ids.append(node.node_id)
                    texts.append(ranking_text(node))
                    factor = KIND_FACTOR.get(str(node.metadata.get("kind", CONTENT)), 1.0)
                    if factor != 1.0:
                        factors[node.node_id] = factor
        lexical = LexicalIndex(ids, texts)
        bridge = Bridge(lexical.words, self._words)
        stored = bool(self._guard(self.store.settings).get("sentence_vectors"))
        nodes: dict[str, BaseNode] | None = {} if len(ids) <= CACHED_PASSAGES else None
        return Snapshot(revision, lexical, frozenset(ids), bridge, factors, stored, nodes)

    def glossed(self, query: Query) -> Query:
        """A query (and its parts) with the material's words for its everyday ones
        (assistant/plain.py) and, when Spanish, its English gloss."""
        snapshot = self.snapshot()
        bridge, lexical = snapshot.bridge, snapshot.lexical

        def gloss(query: Query) -> Query:
            text = in_plain_words(query.text, lexical.uses)
            if query.language != "es":
                return replace(query, text=text)
            english, share = bridge.gloss(text)
            return replace(query, text=text, gloss=english, gloss_share=share)

        return replace(gloss(query), parts=tuple(gloss(part) for part in query.parts))

    def unmentioned(self, query: Query) -> tuple[str, ...]:
        """The names in the question that no passage of the index mentions ("Texas", "Harris
        County"): an answer then says that what the material says is not specific to them. An
        English name is unmentioned when any of its words is missing from the index; a Spanish
        one when none of its words maps onto the index's vocabulary (so "Departamento de
        Seguridad Nacional" is mentioned: "department", "security")."""
        snapshot = self.snapshot()
        if query.language == "es":
            return tuple(name for name in query.names if not snapshot.bridge.gloss(name)[1])
        return tuple(name for name in query.names if not snapshot.lexical.uses(name))

    def retrieve(self, query: Query | str, k: int = 5) -> list[Passage]:
        """The k best passages for the query, best first."""
        return self.search(self.glossed(analyse(query) if isinstance(query, str) else query), k)[0]

    def search(self, query: Query, k: int) -> tuple[list[Passage], list[Sentence]]:
        """The k best passages, and the scored sentences of the re-ranked ones (best first), for
        a query already `glossed`."""
        depth = RERANK_DEPTH[query.language]
        fused = self.fuse(query, max(k, depth))
        pool = fused[:depth]
        self.recall(self.evidence.unprepared(pool))
        sentences = self.evidence.sentences(query, pool, self.lexical())
        best: dict[str, float] = {}
        for sentence in sentences:
            # A question asking for a kind of fact (a date, a count, an author) ranks first the
            # passages with a sentence that states one: the answer can quote nothing else.
            score = sentence.score
            if not supplies(query.expects, sentence.text, query.asked):
                score -= UNSUPPLIED_PENALTY
            best[sentence.passage.id] = max(best.get(sentence.passage.id, score), score)
        pool.sort(key=lambda p: best.get(p.id, -1.0), reverse=True)
        reranked = [replace(p, score=1.0 + max(best.get(p.id, 0.0), 0.0)) for p in pool]
        return (reranked + fused[depth:])[:k], sentences

    def clear(self, *, sentences: bool = True) -> None:
        """Forget the cached question vectors, and with `sentences` the sentence vectors too, so
        that the next question costs what a new one does (benchmarks measure that path)."""
        if sentences:
            self.evidence.clear()
        if isinstance(self.english, OnnxEmbedding):
            self.english.clear()

    def recall(self, passages: Sequence[Passage]) -> None:
        """Hand the evidence the sentence vectors the build stored for these passages, when it
        stored any, so that they need no encoding (one store read for all of them)."""
        if passages and self.snapshot().sentence_vectors:
            wanted = {p.id: english_texts(p) for p in passages}
            self.evidence.remember(self._guard(self.store.sentence_vectors, wanted))

    def fuse(self, query: Query, k: int, *, retry: bool = True) -> list[Passage]:
        """Stage 1: the k best passages by weighted reciprocal rank fusion; `score` is fused.
        If a build deleted passages since the snapshot, refresh and ask again, once."""
        weights = WEIGHTS[query.language]
        n = max(k, CANDIDATES)
        # The multilingual ranking, when it counts, is computed beside the English one (both
        # encoders and Chroma release the GIL): a question waits for the slower, not both.
        snapshot = self.snapshot()  # first: a refresh may reopen the collections
        multilingual_ranking = (
            _POOL.submit(self._multilingual, query.text, n) if weights.multilingual else None
        )
        english_vector = self.english.get_query_embedding(query.text)
        english = self._guard(self.store.query_english, english_vector, n)
        multilingual = multilingual_ranking.result() if multilingual_ranking else []
        # Only passages of the last completed build count (not one being written right now).
        rankings = {
            "english": [(i, cos) for i, cos in english if i in snapshot.valid],
            "multilingual": [(i, cos) for i, cos in multilingual if i in snapshot.valid],
            "lexical": snapshot.lexical.search(query.text, n),
        }
        fused: dict[str, float] = {}
        signals: dict[str, dict[str, float]] = {}
        for name, ranking in rankings.items():
            weight = getattr(weights, name)
            for rank, (passage_id, value) in enumerate(ranking):
                fused[passage_id] = fused.get(passage_id, 0.0) + weight / (RRF_K + rank + 1)
                signals.setdefault(passage_id, {})[name] = value
        for passage_id in fused:
            fused[passage_id] *= snapshot.factors.get(passage_id, 1.0)
        ranked = sorted(fused, key=lambda i: fused[i], reverse=True)
        # Only the passages that make the list are read from the store (unless already held).
        held = snapshot.nodes if snapshot.nodes is not None else {}
        nodes: dict[str, BaseNode] = {}
        position = 0
        while len(nodes) < k and position < len(ranked):
            wanted = ranked[position : position + k - len(nodes)]
            position += len(wanted)
            nodes.update((i, held[i]) for i in wanted if i in held)
            missing = [i for i in wanted if i not in held]
            found = self._guard(self.store.passages, missing) if missing else []
            if len(found) < len(missing):  # a build replaced them since the snapshot
                self._stale = True
                if retry:
                    return self.fuse(query, k, retry=False)
            nodes.update((node.node_id, node) for node in found)
            if snapshot.nodes is not None:
                snapshot.nodes.update((node.node_id, node) for node in found)
        best = [i for i in ranked if i in nodes]
        return [passage_from_node(nodes[i], fused[i], signals[i]) for i in best]

    def _multilingual(self, text: str, n: int) -> list[tuple[str, float]]:
        vector = self.multilingual.get_query_embedding(text)
        return list(self._guard(self.store.query_multilingual, vector, n))

    def _guard(self, call: Any, *args: Any) -> Any:
        try:
            return call(*args)
        except STORE_ERRORS as error:
            raise store_failure(error, self.store.data_dir, self.store.chroma_url) from error
