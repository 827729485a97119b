"""Store: the Chroma collections of an index (embedded path or server URL).

An index is two collections: `<name>` holds the passages with their embeddings (written and
queried through llama-index's ChromaVectorStore), `<name>-documents` holds one record per source
document (its text, metadata, content hash and passage count) so builds can be incremental and
surfaces can show documents in full without the source folder.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError
from llama_index.core.schema import BaseNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.errors import IndexMissingError, StoreUnavailableError

# Errors that mean "the store is not there or not answering", as raised by chromadb and httpx.
STORE_ERRORS = (ChromaError, httpx.HTTPError, ConnectionError, OSError, ValueError)
_WRITE_BATCH = 1000


@dataclass(frozen=True)
class DocumentRecord:
    """What the index knows about one source document."""

    id: str
    title: str
    publisher: str
    author: str
    published: str
    url: str
    language: str
    path: str
    root: str
    hash: str
    chunks: int

    @classmethod
    def from_metadata(cls, doc_id: str, metadata: dict[str, Any]) -> DocumentRecord:
        text = {key: str(metadata.get(key) or "") for key in cls.__dataclass_fields__}
        text.pop("chunks")
        text["id"] = doc_id
        return cls(**text, chunks=int(metadata.get("chunks") or 0))


def describe(data_dir: Path, chroma_url: str | None) -> str:
    """Where an index lives, for messages: the server URL or the data folder."""
    return chroma_url or str(data_dir)


def connect(data_dir: Path, chroma_url: str | None = None) -> ClientAPI:
    """A Chroma client: HttpClient for a server URL, else a PersistentClient under data_dir."""
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if chroma_url:
            url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
            if not url.hostname:
                raise StoreUnavailableError(f"ASSISTANT_CHROMA_URL {chroma_url!r} is not a URL")
            ssl = url.scheme == "https"
            return chromadb.HttpClient(
                host=url.hostname,
                port=url.port or (443 if ssl else 8000),
                ssl=ssl,
                settings=settings,
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(data_dir), settings=settings)
    except STORE_ERRORS as error:
        where = chroma_url or data_dir
        raise StoreUnavailableError(f"cannot open the vector store at {where}: {error}") from error


class Store:
    """The passage and document collections of one index."""

    def __init__(self, client: ClientAPI, name: str, *, create: bool) -> None:
        self.client = client
        self.name = name
        try:
            if create:
                self.chunks = client.get_or_create_collection(
                    name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
                )
                self.documents = client.get_or_create_collection(
                    f"{name}-documents", embedding_function=None
                )
            else:
                self.chunks = client.get_collection(name, embedding_function=None)
                self.documents = client.get_collection(f"{name}-documents", embedding_function=None)
        except NotFoundError:
            raise IndexMissingError(
                f"no index named {name!r} yet: run `python -m index build`"
            ) from None
        except STORE_ERRORS as error:
            raise StoreUnavailableError(f"the vector store is not reachable: {error}") from error
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    # -- index-wide settings ---------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The pipeline settings the index was built with (model, chunker), as stored."""
        metadata = dict(self.documents.metadata or {})
        return json.loads(metadata.get("pipeline", "{}"))

    def set_settings(self, pipeline: dict[str, Any]) -> None:
        self.documents.modify(metadata={"pipeline": json.dumps(pipeline, sort_keys=True)})

    # -- documents -------------------------------------------------------------------------

    def manifest(self) -> dict[str, DocumentRecord]:
        """Every indexed document by id."""
        records: dict[str, DocumentRecord] = {}
        offset, total = 0, self.documents.count()
        while offset < total:
            page = self.documents.get(include=["metadatas"], limit=_WRITE_BATCH, offset=offset)
            for doc_id, metadata in zip(page["ids"], page["metadatas"] or [], strict=True):
                records[doc_id] = DocumentRecord.from_metadata(doc_id, dict(metadata or {}))
            offset += len(page["ids"]) or total
        return records

    def document_text(self, doc_id: str) -> str | None:
        """The full text of an indexed document, or None."""
        found = self.documents.get(ids=[doc_id], include=["documents"])
        texts = found["documents"] or []
        return texts[0] if texts else None

    def put_documents(self, records: Sequence[DocumentRecord], texts: Sequence[str]) -> None:
        if not records:
            return
        metadatas: list[Any] = [{k: v for k, v in asdict(r).items() if k != "id"} for r in records]
        self.documents.upsert(
            ids=[r.id for r in records],
            # The manifest is looked up by id, never searched: a constant 1-d vector will do.
            embeddings=np.ones((len(records), 1), dtype=np.float32),
            documents=list(texts),
            metadatas=metadatas,
        )

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        for start in range(0, len(ids), _WRITE_BATCH):
            self.documents.delete(ids=ids[start : start + _WRITE_BATCH])

    # -- passages --------------------------------------------------------------------------

    def add_nodes(self, nodes: Sequence[BaseNode]) -> None:
        """Add embedded passage nodes (llama-index writes them in Chroma's batch size)."""
        if nodes:
            self.vector_store.add(list(nodes))

    def delete_chunks(self, doc_ids: Iterable[str]) -> None:
        """Delete every passage of these documents."""
        ids = list(doc_ids)
        for start in range(0, len(ids), 100):
            where: Any = {"doc_id": {"$in": ids[start : start + 100]}}
            self.chunks.delete(where=where)

    def delete_chunks_by_hash(self, hashes: dict[str, str], *, keep: bool) -> None:
        """keep=True: delete passages of these documents not built from the given hash;
        keep=False: delete the passages that were built from it."""
        operator = "$ne" if keep else "$eq"
        clauses: list[Any] = [
            {"$and": [{"doc_id": doc_id}, {"doc_hash": {operator: digest}}]}
            for doc_id, digest in hashes.items()
        ]
        for start in range(0, len(clauses), 100):
            batch = clauses[start : start + 100]
            self.chunks.delete(where=batch[0] if len(batch) == 1 else {"$or": batch})

    def count(self) -> tuple[int, int]:
        """(documents, passages) in the index."""
        return self.documents.count(), self.chunks.count()

    def drop(self) -> None:
        """Remove both collections (used by `build --rebuild`)."""
        for name in (self.name, f"{self.name}-documents"):
            with contextlib.suppress(NotFoundError):
                self.client.delete_collection(name)


def open_store(data_dir: Path, collection: str, chroma_url: str | None, *, create: bool) -> Store:
    """Open an index; with create=False a missing index raises IndexMissingError."""
    if not create and not chroma_url and not (data_dir / "chroma.sqlite3").exists():
        raise IndexMissingError(f"no index at {data_dir}: run `python -m index build`")
    return Store(connect(data_dir, chroma_url), collection, create=create)
