"""Build: load -> chunk -> embed -> store, incrementally by content hash.

Crash safety: a build marks the index as being built, and clears the mark when it finishes. Per
group of documents it clears leftovers of an earlier attempt, adds the new passages, then writes
the documents' manifest entries; passages superseded by a new version are deleted only at the
end. Readers use only passages whose hash matches the manifest, so at every moment they see each
document whole, old or new. A build that finds the mark of one that was killed first sweeps away
every passage that does not match the manifest, so the next build converges to exactly what a
clean build would produce.

A rebuild (`rebuild`) writes a whole new generation of the index beside the live one, which
readers keep using until the new one is complete; then one write switches them over, and the
old generation is deleted once they have had time to notice. A killed rebuild leaves the live
index as it was; the next build deletes what it had written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, Document, MetadataMode, TextNode

from index.chunk import (
    CHUNKER_VERSION,
    DEFAULT_CHUNK_CHARS,
    DEFAULT_MAX_CHARS,
    QUESTIONS,
    ranking_text,
    split_documents,
)
from index.embed import english_model, english_model_id, multilingual_model, multilingual_model_id
from index.errors import AssistantError, IndexMismatchError, IngestError, SourceFileError
from index.load import METADATA_KEYS, load_documents
from index.sentences import encoded_texts
from index.store import STORE_ERRORS, DocumentRecord, Store

# Documents are written in groups: one embedding batch, one Chroma write, one manifest write.
PASSAGES_PER_WRITE = 512
# How long the replaced generation outlives a rebuild's switch: readers look for a new one every
# two seconds (assistant/retrieve.py), and a question under way finishes on the old one.
SWITCH_GRACE_SECONDS = 5.0


@dataclass
class BuildReport:
    """What a build did: documents added, updated, unchanged, removed, and the files that failed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    failed: list[SourceFileError] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    swept: int = 0  # passages left by an interrupted build and removed
    documents: int = 0
    chunks: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "removed": len(self.removed),
            "failed": [{"path": f.path, "line": f.line, "reason": f.reason} for f in self.failed],
            "chunks_added": self.chunks_added,
            "chunks_removed": self.chunks_removed,
            "swept": self.swept,
            "documents": self.documents,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 2),
        }

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {self.unchanged} unchanged, "
            f"{len(self.removed)} removed, {len(self.failed)} failed; "
            f"{self.chunks_added} passages written, {self.chunks_removed} removed"
            + (f", {self.swept} left by an interrupted build swept" if self.swept else "")
            + "; "
            f"index now {self.documents} documents, {self.chunks} passages ({self.seconds:.1f} s)"
        )


def pipeline_settings(
    chunk_chars: int, max_chars: int, model_id: str, sentence_vectors: bool = False
) -> dict[str, Any]:
    """Everything that shapes the stored passages; part of every document's content hash."""
    pipeline: dict[str, Any] = {
        "embed_model": model_id,
        "multilingual_model": multilingual_model_id(),
        "chunker": CHUNKER_VERSION,
        "chunk_chars": chunk_chars,
        "max_chars": max_chars,
    }
    if sentence_vectors:  # only when set, so indexes built without them keep their hashes
        pipeline["sentence_vectors"] = True
    return pipeline


def content_hash(document: Document, pipeline: dict[str, Any]) -> str:
    """Hash of a document's text, its metadata and the pipeline: equal hash, nothing to do."""
    payload = {
        "pipeline": pipeline,
        "text": document.text,
        "metadata": {key: document.metadata.get(key, "") for key in (*METADATA_KEYS, "path")},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def build(
    paths: Sequence[Path],
    store: Store,
    *,
    embed_model: BaseEmbedding | None = None,
    model_id: str | None = None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    progress: bool = False,
    passages_per_write: int = PASSAGES_PER_WRITE,
    sentence_vectors: bool = False,
) -> BuildReport:
    """Bring the index in line with the files under `paths`: add, replace, remove, skip unchanged.

    Documents that disappeared from these paths are removed; documents from other paths, and
    documents whose file failed to load, are left as they are. With `sentence_vectors`, the
    English vectors of every passage's sentences are stored too (about twice the encoding;
    questions then never wait for them). Switching it re-embeds every document.
    """
    started = time.perf_counter()
    store.check()  # a damaged index would read as "unchanged" and stay damaged
    store.sweep_generations()
    pipeline = pipeline_settings(
        chunk_chars, max_chars, model_id or english_model_id(), sentence_vectors
    )
    stored = store.settings()
    if stored.get("embed_model") not in (None, pipeline["embed_model"]):
        raise IndexMismatchError(
            f"the index was built with {stored['embed_model']}, not {pipeline['embed_model']}:"
            " run `python -m index build --rebuild`"
        )
    report = BuildReport()
    loaded = load_documents(paths)
    report.failed.extend(loaded.failures)
    documents = _unique(loaded.documents, report)
    manifest = store.manifest()

    hashes = {doc.id_: content_hash(doc, pipeline) for doc in documents}
    changed = [doc for doc in documents if _stored_hash(manifest, doc.id_) != hashes[doc.id_]]
    report.unchanged = len(documents) - len(changed)
    failed_paths = {failure.path for failure in report.failed}
    seen = {doc.id_ for doc in documents}
    gone = [
        record
        for doc_id, record in manifest.items()
        if doc_id not in seen
        and record.root in loaded.roots
        and record.root not in loaded.missing_roots
        and record.path not in failed_paths
    ]

    if store.interrupted():
        report.swept = _sweep(store, manifest)
    store.set_state(pipeline=pipeline, building=True)
    _write(
        store,
        changed,
        hashes,
        manifest,
        report,
        embed_model,
        (chunk_chars, max_chars, passages_per_write),
        progress,
        sentence_vectors,
    )
    if gone:
        store.delete_chunks(record.id for record in gone)
        store.delete_documents(record.id for record in gone)
        report.removed = [record.id for record in gone]
        report.chunks_removed += sum(record.chunks for record in gone)
    if changed or gone or report.swept:
        # Readers switch to the new version when the revision changes; the vectors must be on
        # disk by then, and the superseded passages may go only after.
        store.flush()
        store.set_state(revision=uuid.uuid4().hex)
        updated = {doc.id_: hashes[doc.id_] for doc in changed if doc.id_ in manifest}
        store.delete_chunks_by_hash(updated, keep=True)
    store.set_state(building=False)
    report.documents, report.chunks = store.count()
    report.seconds = time.perf_counter() - started
    return report


def rebuild(
    paths: Sequence[Path],
    store: Store,
    *,
    grace_seconds: float = SWITCH_GRACE_SECONDS,
    **options: Any,
) -> BuildReport:
    """Build into `store` (`index.store.open_generation`), then switch readers to it."""
    # A rebuild that indexed nothing (a missing or empty folder) is not switched to: the live
    # index stays. `options` are those of `build`.
    try:
        report = build(paths, store, **options)
        if not report.chunks:
            raise IngestError(
                "the rebuild found nothing to index, so the live index is left as it was"
                + (f" ({len(report.failed)} files failed)" if report.failed else "")
            )
    except BaseException:
        # what was written is of no use; if even this fails, the next build deletes it
        with contextlib.suppress(AssistantError, *STORE_ERRORS):
            store.drop()
        raise
    started = time.perf_counter() - report.seconds
    store.make_live()
    time.sleep(grace_seconds)
    store.sweep_generations()
    report.seconds = time.perf_counter() - started
    return report


def _sweep(store: Store, manifest: dict[str, DocumentRecord]) -> int:
    """After an interrupted build: delete every passage that does not belong to the version of
    its document recorded in the manifest (partial writes, superseded versions, orphans)."""
    stale = [
        passage_id
        for passage_id, (doc_id, digest) in store.passage_keys().items()
        if doc_id not in manifest or manifest[doc_id].hash != digest
    ]
    store.delete_passages(stale)
    return len(stale)


def _stored_hash(manifest: dict[str, DocumentRecord], doc_id: str) -> str | None:
    record = manifest.get(doc_id)
    return record.hash if record else None


def _unique(documents: list[Document], report: BuildReport) -> list[Document]:
    """Drop documents whose id was already seen in this build, reporting them."""
    unique: dict[str, Document] = {}
    for doc in documents:
        if doc.id_ in unique:
            first = unique[doc.id_].metadata["path"]
            report.failed.append(
                SourceFileError(
                    doc.metadata["path"], f"duplicate document id {doc.id_!r} (first in {first})"
                )
            )
        else:
            unique[doc.id_] = doc
    return list(unique.values())


def _write(
    store: Store,
    changed: list[Document],
    hashes: dict[str, str],
    manifest: dict[str, DocumentRecord],
    report: BuildReport,
    embed_model: BaseEmbedding | None,
    sizes: tuple[int, int, int],
    progress: bool,
    sentence_vectors: bool,
) -> None:
    """Chunk, embed and store changed documents in groups of about `per_write` passages."""
    chunk_chars, max_chars, per_write = sizes
    if not changed:
        return
    models = (embed_model or english_model(passages=True), multilingual_model(batches=True))
    groups: list[tuple[list[Document], list[TextNode]]] = [([], [])]
    for doc in changed:
        nodes = split_documents([doc], chunk_chars, max_chars)
        for node in nodes:
            node.metadata["doc_hash"] = hashes[doc.id_]
            node.excluded_embed_metadata_keys.append("doc_hash")
            node.excluded_llm_metadata_keys.append("doc_hash")
            node.id_ = f"{doc.id_}#{node.metadata['chunk']}@{hashes[doc.id_][:12]}"
        docs, group_nodes = groups[-1]
        if group_nodes and len(group_nodes) + len(nodes) > per_write:
            groups.append(([], []))
            docs, group_nodes = groups[-1]
        docs.append(doc)
        group_nodes.extend(nodes)
    total = sum(len(nodes) for _, nodes in groups)
    bar = _progress_bar(total, len(changed), progress)
    try:
        for docs, nodes in groups:
            _write_group(store, docs, nodes, hashes, manifest, models, report, sentence_vectors)
            bar.update(len(nodes))
            bar.set_postfix(documents=f"{len(report.added) + len(report.updated)}/{len(changed)}")
    finally:
        bar.close()


def _write_group(
    store: Store,
    docs: list[Document],
    nodes: list[TextNode],
    hashes: dict[str, str],
    manifest: dict[str, DocumentRecord],
    models: tuple[BaseEmbedding, BaseEmbedding],
    report: BuildReport,
    sentence_vectors: bool,
) -> None:
    # Chroma ignores re-added ids, so leftovers of an interrupted build are cleared first.
    updated = {doc.id_: hashes[doc.id_] for doc in docs if doc.id_ in manifest}
    store.delete_chunks(doc.id_ for doc in docs if doc.id_ not in manifest)
    store.delete_chunks_by_hash(updated, keep=False)
    texts = [ranking_text(node) for node in nodes]
    english, multilingual = (model.get_text_embedding_batch(texts) for model in models)
    for node, embedding in zip(nodes, english, strict=True):
        node.embedding = embedding
    sentences = embed_sentences(nodes, models[0]) if sentence_vectors else None
    # New passages go in beside the old ones; readers switch when the manifest entry changes.
    store.add_nodes(nodes, multilingual, sentences)
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.metadata["doc_id"]] = counts.get(node.metadata["doc_id"], 0) + 1
    records = [_record(doc, hashes[doc.id_], counts.get(doc.id_, 0)) for doc in docs]
    # The manifest entry is written after the passages: until then the document reads as before,
    # and the next build sees it as changed.
    store.put_documents(records, [doc.text for doc in docs])
    for doc in docs:
        old = manifest.get(doc.id_)
        (report.updated if old else report.added).append(doc.id_)
        report.chunks_removed += old.chunks if old else 0
    report.chunks_added += len(nodes)


def embed_sentences(
    nodes: Sequence[BaseNode], model: BaseEmbedding
) -> list[tuple[list[str], np.ndarray]]:
    """For each passage node: the texts answers score it by (index/sentences.py) and their
    English vectors, encoded in one batch for all the nodes."""
    texts = [
        []
        if node.metadata.get("kind") == QUESTIONS  # never quoted
        else encoded_texts(
            node.get_content(metadata_mode=MetadataMode.NONE),
            [tuple(span) for span in json.loads(node.metadata.get("sentences") or "[]")],
        )
        for node in nodes
    ]
    flat = [text for group in texts for text in group]
    vectors = np.asarray(model.get_text_embedding_batch(flat) if flat else [], dtype=np.float32)
    found, start = [], 0
    for group in texts:
        found.append((group, vectors[start : start + len(group)]))
        start += len(group)
    return found


def _record(doc: Document, digest: str, chunks: int) -> DocumentRecord:
    meta = doc.metadata
    return DocumentRecord(
        id=doc.id_,
        **{key: str(meta.get(key, "") or "") for key in METADATA_KEYS},
        path=str(meta.get("path", "")),
        root=str(meta.get("root", "")),
        hash=digest,
        chunks=chunks,
    )


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs: str) -> None: ...
    def close(self) -> None: ...


def _progress_bar(total: int, documents: int, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit="passage",
        desc=f"Embedding {documents} documents",
        file=sys.stderr,
        dynamic_ncols=True,
    )
