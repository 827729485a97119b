"""SciFact: index BEIR SciFact with the project's own build, query through Assistant.retrieve,
and report nDCG@10 and Recall@100 beside the published figures.

A document is identified by its JSONL `_id`; its best passage counts once (the first time it
appears in the ranking). Relevance is binary, from qrels.tsv.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.core import Assistant
from assistant.query import analyse
from index.build import build
from index.settings import PROJECT_ROOT, Settings
from index.store import open_store

SCIFACT = PROJECT_ROOT.parent / "shared" / "bench" / "scifact"
DATA_DIR = PROJECT_ROOT / "bench" / ".data"
COLLECTION = "scifact"
K = 100

# Published figures (shared/bench/scifact/REFERENCE_NUMBERS.md): (nDCG@10, Recall@100).
REFERENCE = {
    "BM25 (BEIR, Elasticsearch multifield)": (0.665, 0.908),
    "BM25 (Anserini flat)": (0.6789, 0.9253),
    "BM25 + cross-encoder rerank (BEIR)": (0.688, 0.908),
    "all-MiniLM-L6-v2 (MTEB)": (0.6451, 0.925),
    "bge-small-en-v1.5 (MTEB)": (0.7127, 0.945),
}


def read_queries(folder: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    """Test queries that have judgements, and the relevant document ids of each."""
    relevant: dict[str, set[str]] = {}
    for line in (folder / "qrels.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(query_id, set()).add(doc_id)
    queries = {}
    for line in (folder / "queries.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record["_id"] in relevant:
            queries[record["_id"]] = record["text"]
    return queries, relevant


def ndcg_at(ranking: Sequence[str], relevant: set[str], k: int = 10) -> float:
    gain = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranking[:k]) if doc in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal if ideal else 0.0


def recall_at(ranking: Sequence[str], relevant: set[str], k: int = 100) -> float:
    return len(set(ranking[:k]) & relevant) / len(relevant) if relevant else 0.0


def documents_in_order(doc_ids: Sequence[str]) -> list[str]:
    """Documents in the order of their best passage, each once."""
    return list(dict.fromkeys(doc_ids))


def ensure_index(
    folder: Path = SCIFACT, data_dir: Path = DATA_DIR, *, fresh: bool = False
) -> dict[str, Any]:
    """Build (or bring up to date) the SciFact index; report what the build did."""
    if fresh:
        open_store(data_dir, COLLECTION, None, create=True).drop()
    store = open_store(data_dir, COLLECTION, None, create=True)
    report = build([folder / "corpus.jsonl"], store, progress=True)
    return report.to_dict()


def evaluate(assistant: Assistant, folder: Path = SCIFACT) -> dict[str, Any]:
    """nDCG@10 and Recall@100 of stage 1 (fused) and of the full retrieval (re-ranked)."""
    queries, relevant = read_queries(folder)
    results: dict[str, dict[str, list[float]]] = {"fused": {}, "retrieve": {}}
    latencies = []
    for query_id, text in queries.items():
        query = analyse(text)
        fused = assistant.retriever.fuse(query, K)
        started = time.perf_counter()
        passages = assistant.retrieve(text, K)
        latencies.append(time.perf_counter() - started)
        for name, found in (("fused", fused), ("retrieve", passages)):
            ranking = documents_in_order([p.document.id for p in found])
            scores = results[name]
            scores.setdefault("ndcg@10", []).append(ndcg_at(ranking, relevant[query_id]))
            scores.setdefault("recall@100", []).append(recall_at(ranking, relevant[query_id]))
    latencies.sort()
    return {
        "queries": len(queries),
        **{
            name: {metric: round(sum(v) / len(v), 4) for metric, v in scores.items()}
            for name, scores in results.items()
        },
        "retrieve_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "retrieve_p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
    }


def run(
    folder: Path = SCIFACT, data_dir: Path = DATA_DIR, *, fresh: bool = False
) -> dict[str, Any]:
    """Build, evaluate, and return everything the report prints."""
    started = time.perf_counter()
    built = ensure_index(folder, data_dir, fresh=fresh)
    assistant = Assistant.load(Settings(data_dir=data_dir, collection=COLLECTION))
    measured = evaluate(assistant, folder)
    return {"build": built, **measured, "seconds": round(time.perf_counter() - started, 1)}


def format_table(result: dict[str, Any]) -> str:
    rows = [
        ("this project, stage 1 (MiniLM + BM25 fused; USE too for non-English)", result["fused"]),
        ("this project, Assistant.retrieve (fused + sentence re-rank)", result["retrieve"]),
    ]
    best = max(result["fused"]["ndcg@10"], result["retrieve"]["ndcg@10"])
    lines = [
        f"SciFact test, {result['queries']} queries; index: {result['build']['documents']}"
        f" documents, {result['build']['chunks']} passages",
        "",
        f"{'system':<64} {'nDCG@10':>8} {'R@100':>7} {'ours/theirs':>12}",
    ]
    for name, scores in rows:
        lines.append(f"{name:<64} {scores['ndcg@10']:>8.4f} {scores['recall@100']:>7.4f}")
    for name, (ndcg, recall) in REFERENCE.items():
        lines.append(
            f"{name + ' (published)':<64} {ndcg:>8.4f} {recall:>7.4f} {best / ndcg:>11.2f}x"
        )
    lines.append("")
    build = result["build"]
    if build["chunks_added"]:
        lines.append(
            f"build: {build['seconds']} s for {build['chunks_added']} passages"
            f" ({build['chunks_added'] / max(build['seconds'], 1e-9):.1f} passages/s)"
        )
    else:
        lines.append("build: the index was up to date (`python -m bench scifact --fresh` times it)")
    lines.append(
        f"Assistant.retrieve(k=100) latency p50 {result['retrieve_p50_ms']} ms,"
        f" p95 {result['retrieve_p95_ms']} ms"
    )
    return "\n".join(lines)
