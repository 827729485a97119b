"""Tuning: grid-search the fusion weights on question files, reporting each file separately.

    python -m bench.tune ../shared/eval/dev.jsonl bench/questions/extra.jsonl

Each retriever's full ranking is computed once per question; fusion settings are then scored
offline (hit@1, MRR over answerable questions, per language). Used to choose the weights in
assistant/retrieve.py; see bench/README.md for the figures.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from collections.abc import Sequence
from pathlib import Path

from index.settings import enforce_offline

enforce_offline()


from assistant.core import Assistant  # noqa: E402
from assistant.eval import Question, contains_any, read_questions  # noqa: E402
from assistant.query import Turn, analyse  # noqa: E402
from assistant.retrieve import KIND_FACTOR  # noqa: E402


def rankings(assistant: Assistant, question: Question, n: int) -> dict[str, list[str]]:
    retriever = assistant.retriever
    query = analyse(question.question, [Turn(**t) for t in question.history])
    dense = assistant.store.query_english(retriever.english.get_query_embedding(query.text), n)
    vector = retriever.multilingual.get_query_embedding(query.text)
    return {
        "english": [i for i, _ in dense],
        "multilingual": [i for i, _ in assistant.store.query_multilingual(vector, n)],
        "lexical": [i for i, _ in retriever.lexical().search(query.text, n)],
        "language": [query.language],
    }


def fuse(
    ranks: dict[str, list[str]],
    weights: Sequence[float],
    k: float,
    kinds: dict[str, str],
    factor: dict[str, float],
) -> list[str]:
    scores: dict[str, float] = {}
    for name, weight in zip(("english", "multilingual", "lexical"), weights, strict=True):
        for rank, passage_id in enumerate(ranks[name]):
            scores[passage_id] = scores.get(passage_id, 0.0) + weight / (k + rank + 1)
    for passage_id in scores:
        scores[passage_id] *= factor.get(kinds[passage_id], 1.0)
    return sorted(scores, key=lambda i: scores[i], reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    assistant = Assistant.load()
    nodes = assistant.store.passages()
    texts = {node.node_id: node.get_content() for node in nodes}
    kinds = {node.node_id: str(node.metadata.get("kind")) for node in nodes}
    sets = {}
    for path in args.files:
        questions = [q for q in read_questions(path) if q.answerable]
        sets[path.name] = [(q, rankings(assistant, q, len(nodes))) for q in questions]

    def score(weights_en, weights_es, k, factor):  # type: ignore[no-untyped-def]
        out = {}
        for name, items in sets.items():
            hits, rr, es = [], [], []
            for q, ranks in items:
                weights = weights_es if ranks["language"][0] == "es" else weights_en
                order = fuse(ranks, weights, k, kinds, factor)
                rank = next(
                    (i + 1 for i, p in enumerate(order) if contains_any(texts[p], q.gold)), None
                )
                hits.append(rank == 1)
                rr.append(1 / rank if rank else 0)
                if q.lang == "es":
                    es.append(bool(rank and rank <= 3))
            out[name] = (
                statistics.fmean(hits),
                statistics.fmean(rr),
                statistics.fmean(es) if es else 1.0,
            )
        return out

    grid_en = [
        (e, m, lex)
        for e in (1.0,)
        for m in (0.0, 0.25, 0.5, 0.75, 1.0)
        for lex in (0.5, 0.75, 1.0, 1.5)
    ]
    grid_es = [(e, m, lex) for e in (0.0, 0.3, 0.6) for m in (1.0,) for lex in (0.0, 0.2, 0.4, 0.7)]
    results = []
    for k, nav, ques in itertools.product(
        (5, 10, 20, 60), (0.3, 0.5, 0.7, 1.0), (0.2, 0.3, 0.5, 1.0)
    ):
        factor = dict(KIND_FACTOR, navigation=nav, questions=ques)
        for weights_en in grid_en:
            results.append(
                (score(weights_en, (0.3, 1.0, 0.4), k, factor), weights_en, "en", k, nav, ques)
            )
        for weights_es in grid_es:
            results.append(
                (score((1.0, 0.5, 1.0), weights_es, k, factor), weights_es, "es", k, nav, ques)
            )

    def total(item):  # type: ignore[no-untyped-def]
        return sum(h + r + s for h, r, s in item[0].values())

    for item in sorted(results, key=total, reverse=True)[:25]:
        print(
            f"{total(item):.3f}",
            item[1:],
            {n: tuple(round(x, 3) for x in v) for n, v in item[0].items()},
        )


if __name__ == "__main__":
    main()
