"""Store: the Chroma collections of an index (embedded path or server URL).

An index is three collections: `<name>` holds the passages with their English embeddings (written
and queried through llama-index's ChromaVectorStore), `<name>-multilingual` holds the same passage
ids with multilingual embeddings, and `<name>-documents` holds one record per source document (its
text, metadata, content hash and passage count) so builds can be incremental and surfaces can show
documents in full without the source folder. The documents collection's metadata records the
pipeline the index was built with and a revision that changes with every build that wrote.
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
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.errors import IndexMissingError, StoreUnavailableError

# Errors that mean "the store is not there or not answering", as raised by chromadb and httpx.
STORE_ERRORS = (ChromaError, httpx.HTTPError, ConnectionError, OSError, ValueError)
_WRITE_BATCH = 1000
_READ_PAGE = 2000


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
                cosine: Any = {"hnsw": {"space": "cosine"}}
                self.chunks = client.get_or_create_collection(
                    name, configuration=cosine, embedding_function=None
                )
                self.multilingual = client.get_or_create_collection(
                    f"{name}-multilingual", configuration=cosine, embedding_function=None
                )
                self.documents = client.get_or_create_collection(
                    f"{name}-documents", embedding_function=None
                )
            else:
                self.chunks = client.get_collection(name, embedding_function=None)
                self.multilingual = client.get_collection(
                    f"{name}-multilingual", embedding_function=None
                )
                self.documents = client.get_collection(f"{name}-documents", embedding_function=None)
        except NotFoundError:
            raise IndexMissingError(
                f"no index named {name!r} yet: run `python -m index build`"
            ) from None
        except STORE_ERRORS as error:
            raise StoreUnavailableError(f"the vector store is not reachable: {error}") from error
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)

    # -- index-wide settings ---------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        collection = self.client.get_collection(self.documents.name, embedding_function=None)
        return dict(collection.metadata or {})

    def settings(self) -> dict[str, Any]:
        """The pipeline settings the index was built with (models, chunker), as stored."""
        return dict(json.loads(self._state().get("pipeline", "{}")))

    def revision(self) -> str:
        """Changes whenever a build writes to the index; readers use it to refresh caches."""
        return str(self._state().get("revision", ""))

    def set_settings(self, pipeline: dict[str, Any], revision: str | None = None) -> None:
        state = self._state()
        self.documents.modify(
            metadata={
                "pipeline": json.dumps(pipeline, sort_keys=True),
                "revision": revision or str(state.get("revision", "")),
            }
        )

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

    def add_nodes(self, nodes: Sequence[BaseNode], multilingual: Sequence[Sequence[float]]) -> None:
        """Add embedded passage nodes and their multilingual embeddings (same ids)."""
        if not nodes:
            return
        self.vector_store.add(list(nodes))
        for start in range(0, len(nodes), _WRITE_BATCH):
            batch = nodes[start : start + _WRITE_BATCH]
            metadatas: Any = [
                {"doc_id": n.metadata["doc_id"], "doc_hash": n.metadata["doc_hash"]} for n in batch
            ]
            self.multilingual.add(
                ids=[n.node_id for n in batch],
                embeddings=np.asarray(multilingual[start : start + _WRITE_BATCH], dtype=np.float32),
                metadatas=metadatas,
            )

    def _passage_collections(self) -> tuple[Collection, Collection]:
        return self.chunks, self.multilingual

    def delete_chunks(self, doc_ids: Iterable[str]) -> None:
        """Delete every passage of these documents."""
        ids = list(doc_ids)
        for start in range(0, len(ids), 100):
            where: Any = {"doc_id": {"$in": ids[start : start + 100]}}
            for collection in self._passage_collections():
                collection.delete(where=where)

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
            for collection in self._passage_collections():
                collection.delete(where=batch[0] if len(batch) == 1 else {"$or": batch})

    def passages(self, ids: Sequence[str] | None = None) -> list[BaseNode]:
        """Passage nodes by id (in the order given), or all of them when ids is None."""
        if ids is None:
            nodes: list[BaseNode] = []
            offset, total = 0, self.chunks.count()
            while offset < total:
                page = self.chunks.get(
                    limit=_READ_PAGE, offset=offset, include=["documents", "metadatas"]
                )
                nodes.extend(_nodes(page))
                offset += len(page["ids"]) or total
            return nodes
        if not ids:
            return []
        page = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {node.node_id: node for node in _nodes(page)}
        return [by_id[i] for i in ids if i in by_id]

    def query_multilingual(self, embedding: Sequence[float], n: int) -> list[tuple[str, float]]:
        """(passage id, cosine similarity) of the n passages closest in the multilingual space."""
        found = self.multilingual.query(
            query_embeddings=np.asarray([embedding], dtype=np.float32),
            n_results=n,
            include=["distances"],
        )
        distances = (found["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(found["ids"][0], distances, strict=True)]

    def count(self) -> tuple[int, int]:
        """(documents, passages) in the index."""
        return self.documents.count(), self.chunks.count()

    def drop(self) -> None:
        """Remove both collections (used by `build --rebuild`)."""
        for name in (self.name, f"{self.name}-multilingual", f"{self.name}-documents"):
            with contextlib.suppress(NotFoundError):
                self.client.delete_collection(name)


def _nodes(page: Any) -> list[BaseNode]:
    """llama-index nodes from a Chroma get() result written by ChromaVectorStore."""
    return [
        metadata_dict_to_node(dict(metadata), text=text)
        for metadata, text in zip(page["metadatas"] or [], page["documents"] or [], strict=True)
    ]


def open_store(data_dir: Path, collection: str, chroma_url: str | None, *, create: bool) -> Store:
    """Open an index; with create=False a missing index raises IndexMissingError."""
    if not create and not chroma_url and not (data_dir / "chroma.sqlite3").exists():
        raise IndexMissingError(f"no index at {data_dir}: run `python -m index build`")
    return Store(connect(data_dir, chroma_url), collection, create=create)
