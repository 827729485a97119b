"""Stage 2 measured with another sentence scorer: `python -m bench.stage2 SET.jsonl ...`.

For each answerable question, the passages stage 2 re-ranks today are ranked again by the best of
their sentences under EmbeddingGemma-300m (installed by `python -m index.weights`), alone, with
the term coverage stage 2 already uses, and added to today's score; and once more over every
passage stage 1 returns (60). Prints hit@1 and hit@3 per set and language. Nothing here is used
by the assistant: it is how the figures in bench/README.md ("A stronger relevance model") were
made, to choose how the model is used before it is wired in.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from index.settings import PROJECT_ROOT, enforce_offline

enforce_offline()

from assistant import Assistant  # noqa: E402
from assistant.answer_types import supplies  # noqa: E402
from assistant.core import _context  # noqa: E402
from assistant.eval import contains_any, read_questions  # noqa: E402
from assistant.evidence import Sentence  # noqa: E402
from assistant.query import Query, analyse  # noqa: E402
from assistant.retrieve import UNSUPPLIED_PENALTY  # noqa: E402
from assistant.types import Passage  # noqa: E402

MODEL = PROJECT_ROOT / ".models" / "embeddinggemma-300m"
COVERAGE_WEIGHT = 0.3  # as stage 2 weighs coverage for English questions today


class Gemma:
    """EmbeddingGemma through sentence-transformers, unit vectors, sentences cached by text."""

    def __init__(self, folder: Path, threads: int) -> None:
        import torch
        from sentence_transformers import SentenceTransformer

        from index.weights import verify

        verify(folder)
        torch.set_num_threads(threads)
        self.model = SentenceTransformer(str(folder), device="cpu")
        self.cache: dict[str, np.ndarray] = {}
        self.query_seconds: list[float] = []

    def documents(self, texts: Sequence[str]) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            vectors = self.model.encode_document(missing, batch_size=32)
            for text, vector in zip(missing, vectors, strict=True):
                self.cache[text] = vector / np.linalg.norm(vector)
        return np.stack([self.cache[t] for t in texts])

    def query(self, text: str) -> np.ndarray:
        started = time.perf_counter()
        vector = self.model.encode_query([text])[0]
        self.query_seconds.append(time.perf_counter() - started)
        return np.asarray(vector / np.linalg.norm(vector))


def ranked(
    query: Query, sentences: Sequence[Sentence], score: Callable[[Sentence], float]
) -> list[Passage]:
    """Passages by their best sentence, as stage 2 ranks them (a sentence that cannot state the
    kind of fact asked for counts for little)."""
    best: dict[str, float] = {}
    passages: dict[str, Passage] = {}
    for sentence in sentences:
        value = score(sentence)
        if not supplies(query.expects, sentence.text, query.asked):
            value -= UNSUPPLIED_PENALTY
        best[sentence.passage.id] = max(best.get(sentence.passage.id, value), value)
        passages[sentence.passage.id] = sentence.passage
    return sorted(passages.values(), key=lambda p: best[p.id], reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    assistant = Assistant.load()
    retriever = assistant.retriever
    gemma = Gemma(MODEL, args.threads)
    variants = ["today", "gemma", "gemma+coverage", "today+gemma", "all:gemma+coverage"]
    for path in args.sets:
        counts = {v: {"en": [0, 0, 0], "es": [0, 0, 0]} for v in variants}
        for question in read_questions(path):
            if not question.answerable:
                continue
            query = retriever.glossed(analyse(question.question, _context(question.history)))
            today, sentences = retriever.search(query, 10)
            everything = retriever.evidence.sentences(
                query, retriever.fuse(query, 60), retriever.lexical()
            )
            vector = gemma.query(query.text)
            texts = [s.text for s in [*sentences, *everything]]
            cosine = dict(zip(texts, gemma.documents(texts) @ vector, strict=True))
            results = {
                "today": today,
                "gemma": ranked(query, sentences, lambda s, c=cosine: c[s.text]),
                "gemma+coverage": ranked(
                    query, sentences, lambda s, c=cosine: c[s.text] + COVERAGE_WEIGHT * s.coverage
                ),
                "today+gemma": ranked(query, sentences, lambda s, c=cosine: s.score + c[s.text]),
                "all:gemma+coverage": ranked(
                    query, everything, lambda s, c=cosine: c[s.text] + COVERAGE_WEIGHT * s.coverage
                ),
            }
            for variant, passages in results.items():
                ranks = [i for i, p in enumerate(passages) if contains_any(p.text, question.gold)]
                row = counts[variant][question.lang]
                row[0] += bool(ranks) and ranks[0] == 0
                row[1] += bool(ranks) and ranks[0] < 3
                row[2] += 1
        for variant in variants:
            by_language = counts[variant]
            total = [sum(by_language[lang][i] for lang in by_language) for i in range(3)]
            cells = [
                f"{name} hit@1 {c[0]}/{c[2]} = {c[0] / max(1, c[2]):.3f},"
                f" hit@3 {c[1] / max(1, c[2]):.3f}"
                for name, c in (
                    ("all", total),
                    ("en", by_language["en"]),
                    ("es", by_language["es"]),
                )
            ]
            print(f"{path.name:14} {variant:20} " + " | ".join(cells), flush=True)
    seconds = np.asarray(gemma.query_seconds) * 1000
    print(
        f"question encoding: p50 {np.percentile(seconds, 50):.0f} ms,"
        f" p95 {np.percentile(seconds, 95):.0f} ms"
    )
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
