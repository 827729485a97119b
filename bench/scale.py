"""Scale: about 100,000 passages (SciFact's passages, repeated with distinct ids), served by a
real `python app.py`; question latency over HTTP and the server's memory.

The copies are written from the SciFact index (its passages, vectors and documents) rather than
encoded again: this measures serving at that size, not ingestion (bench/ingest.py does that). Each
copy's vectors get a little noise (cosine ~0.999 to the original) so the vector index is not
made of exact duplicates. The index is written as `ASSISTANT_SENTENCE_VECTORS=true` builds it:
with its passages' sentence vectors, encoded once from the SciFact passages by the build's own
function. The questions are SciFact's test queries, each asked once: every question meets
passages no question met before. In process, the same questions are also timed with the stored
sentence vectors ignored (encoded at question time, as an index built without them does).
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import httpx
import numpy as np

from bench import scifact
from bench.common import DATA, rss_mb, settle, summary_ms, table, timed
from bench.server import serve
from index.build import embed_sentences
from index.embed import english_model
from index.settings import Settings
from index.store import Store, open_store

COPIES = 8
COLLECTION = "scale"
K = 10


def build_copies(source: Store, target: Store, copies: int) -> int:
    """Write `copies` copies of every passage and document of `source` into `target`."""
    rng = np.random.default_rng(0)
    manifest = source.manifest()
    records = list(manifest.values())
    texts = [source.document_text(r.id) or "" for r in records]
    for copy in range(copies):
        suffix = f"~{copy}"
        target.put_documents(
            [type(r)(**{**r.__dict__, "id": r.id + suffix}) for r in records], texts
        )
    written, offset, total = 0, 0, source.chunks.count()
    model = english_model(passages=True)
    while offset < total:
        page = source.chunks.get(limit=2000, offset=offset, include=["embeddings"])
        ids = list(page["ids"])
        english = np.asarray(page["embeddings"], dtype=np.float32)
        found = source.multilingual.get(ids=ids, include=["embeddings"])
        by_id = dict(zip(found["ids"], np.asarray(found["embeddings"]), strict=True))
        multilingual = np.stack([by_id[i] for i in ids]).astype(np.float32)
        nodes = source.passages(ids)
        sentences = embed_sentences(nodes, model)
        for copy in range(copies):
            batch = []
            for node, vector in zip(nodes, _noisy(english, rng), strict=True):
                clone = node.model_copy(deep=True)
                doc_id = f"{node.metadata['doc_id']}~{copy}"
                clone.id_ = node.node_id.replace("#", f"~{copy}#", 1)
                clone.metadata["doc_id"] = doc_id
                clone.embedding = vector.tolist()
                batch.append(clone)
            target.add_nodes(batch, _noisy(multilingual, rng), sentences)
            written += len(batch)
        offset += len(ids)
    pipeline = {**source.settings(), "sentence_vectors": True}
    target.set_state(pipeline=pipeline, revision=f"scale-{copies}", building=False)
    target.flush()
    return written


def _stored_sentences(store: Store) -> int:
    return store.sentences.count() if store.sentences is not None else 0


def _noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = vectors + rng.normal(0, 0.002, vectors.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def stages(settings: Settings, queries: list[str]) -> dict[str, Any]:
    """In this process: stage 1 alone (three rankings fused), the whole retrieval (plus the
    sentence re-rank of the top passages) with the stored sentence vectors, and the same with
    them ignored, so the report can say where the time goes."""
    from assistant.core import Assistant
    from assistant.query import analyse

    assistant = Assistant.load(settings)
    retriever = assistant.retriever
    analysed = [analyse(text) for text in queries]
    fused = [timed(lambda q=q: retriever.fuse(q, K))[1] for q in analysed]
    retriever.clear()  # each phase meets every question as new: no cached vector of any kind
    stored = [timed(lambda t=text: assistant.retrieve(t, K))[1] for text in queries]
    retriever.clear()
    assistant.store.sentences = None  # as an index built without them
    encoded = [timed(lambda t=text: assistant.retrieve(t, K))[1] for text in queries]
    return {
        "stage1": summary_ms(fused),
        "retrieve": summary_ms(stored),
        "retrieve_encoding_sentences": summary_ms(encoded),
    }


def run(copies: int = COPIES, encoders: tuple[str, ...] = ("onnx", "onnx-int8")) -> dict[str, Any]:
    source = open_store(scifact.DATA_DIR, scifact.COLLECTION, None, create=False)
    folder = DATA / "scale"
    store = open_store(folder, COLLECTION, None, create=True) if folder.exists() else None
    expected = source.count()[1] * copies
    if store is None or store.count()[1] != expected or _stored_sentences(store) != expected:
        if store is not None:
            store.close()  # an embedded client left open would keep writing to the old files
        shutil.rmtree(folder, ignore_errors=True)
        store = open_store(folder, COLLECTION, None, create=True)
        started = time.perf_counter()
        build_copies(source, store, copies)
        write_seconds = round(time.perf_counter() - started, 1)
    else:
        write_seconds = None
    documents, passages = store.count()
    store.close()
    queries, _ = scifact.read_queries(scifact.SCIFACT)
    result: dict[str, Any] = {
        "documents": documents,
        "passages": passages,
        "copies": copies,
        "write_seconds": write_seconds,
        "queries": len(queries),
    }
    for encoder in encoders:
        environment = {
            "ASSISTANT_DATA_DIR": str(folder),
            "ASSISTANT_COLLECTION": COLLECTION,
            "ASSISTANT_ENCODER": encoder,
        }
        with serve(environment) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            # questions to a server that has finished its start-up warm-up (the Spanish
            # vocabulary, encoded in a background thread whatever the index's size)
            warm_up = settle(server.pid)
            after_start = rss_mb(server.pid)
            latencies = []
            for text in queries.values():
                started = time.perf_counter()
                response = client.post("/api/retrieve", json={"query": text, "k": K})
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
            result[encoder] = {
                "ready_seconds": round(server.ready_seconds, 1),
                "warm_up_seconds": warm_up,
                "retrieve": summary_ms(latencies),
                "rss_after_start_mb": after_start["rss_mb"],
                **rss_mb(server.pid),
            }
    settings = Settings(data_dir=folder, collection=COLLECTION)
    result["in_process"] = stages(settings, list(queries.values()))
    return result


def format_table(result: dict[str, Any]) -> str:
    rows = []
    for encoder in ("onnx", "onnx-int8", "torch"):
        if encoder in result:
            r = result[encoder]
            rows.append(
                [
                    f"/api/retrieve k={K}, encoder {encoder}",
                    r["retrieve"]["p50_ms"],
                    r["retrieve"]["p95_ms"],
                    r["rss_mb"],
                    r["peak_rss_mb"],
                    r["ready_seconds"],
                ]
            )
    header = [
        f"{result['passages']:,} passages, {result['queries']} questions",
        "p50 ms",
        "p95 ms",
        "RSS MB",
        "peak MB",
        "ready s",
    ]
    labels = {
        "stage1": "in process: stage 1 (fused rankings) alone",
        "retrieve": "in process: Assistant.retrieve (+ sentence re-rank)",
        "retrieve_encoding_sentences": "in process: the same, sentences encoded per question",
    }
    for key, label in labels.items():
        if figures := result.get("in_process", {}).get(key):
            rows.append([label, figures["p50_ms"], figures["p95_ms"], "", "", ""])
    return table(header, rows) + "\ntargets: p95 <= 100 ms, RSS <= 1,536 MB"
