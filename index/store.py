"""Store: the Chroma collections of an index (embedded path or server URL).

An index is three collections: `<name>` holds the passages with their English embeddings (written
and queried through llama-index's ChromaVectorStore), `<name>-multilingual` holds the same passage
ids with multilingual embeddings, and `<name>-documents` holds one record per source document (its
text, metadata, content hash and passage count) so builds can be incremental and surfaces can show
documents in full without the source folder. The documents collection's metadata records the
pipeline the index was built with and a revision that changes with every build that wrote.
`<name>-sentences` holds, per passage, the English vectors of its sentences when the build was
asked to make them (`ASSISTANT_SENTENCE_VECTORS`); it is empty otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
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


class _ReadWriteLock:
    """Many readers at once, or one writer: queries share the client; reopening it is exclusive."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        with self._condition:
            while self._writing:
                self._condition.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        with self._condition:
            while self._writing or self._readers:
                self._condition.wait()
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._writing = False
                self._condition.notify_all()


class Store:
    """The passage and document collections of one index."""

    def __init__(
        self, data_dir: Path, name: str, chroma_url: str | None = None, *, create: bool
    ) -> None:
        self.data_dir = data_dir
        self.name = name
        self.chroma_url = chroma_url
        self._lock = _ReadWriteLock()
        self._open(create)

    def _open(self, create: bool) -> None:
        client = connect(self.data_dir, self.chroma_url)
        name = self.name
        try:
            if create:
                cosine: Any = {"hnsw": {"space": "cosine"}}
                chunks = client.get_or_create_collection(
                    name, configuration=cosine, embedding_function=None
                )
                multilingual = client.get_or_create_collection(
                    f"{name}-multilingual", configuration=cosine, embedding_function=None
                )
                documents = client.get_or_create_collection(
                    f"{name}-documents", embedding_function=None
                )
                sentences = client.get_or_create_collection(
                    f"{name}-sentences", embedding_function=None
                )
            else:
                chunks = client.get_collection(name, embedding_function=None)
                multilingual = client.get_collection(
                    f"{name}-multilingual", embedding_function=None
                )
                documents = client.get_collection(f"{name}-documents", embedding_function=None)
                try:  # indexes built before sentence vectors existed have no such collection
                    sentences = client.get_collection(f"{name}-sentences", embedding_function=None)
                except NotFoundError:
                    sentences = None
        except NotFoundError:
            raise IndexMissingError(
                f"no index named {name!r} yet: run `python -m index build`"
            ) from None
        except STORE_ERRORS as error:
            raise StoreUnavailableError(f"the vector store is not reachable: {error}") from error
        self.client = client
        self.chunks, self.multilingual, self.documents = chunks, multilingual, documents
        self.sentences = sentences
        self.vector_store = ChromaVectorStore(chroma_collection=chunks)

    def flush(self) -> None:
        """Make everything written visible to other processes: an embedded Chroma keeps recent
        vector-index changes in memory until its client closes."""
        if self.chroma_url:
            return
        with self._lock.writing():
            cast(Any, self.client).close()
            self._open(create=True)

    def close(self) -> None:
        """Release the client (an embedded store writes what it holds in memory)."""
        with self._lock.writing():
            cast(Any, self.client).close()

    def reopen(self) -> None:
        """See what another process wrote. An embedded Chroma keeps its vector index in memory
        per process, so a long-running reader reopens the client after a build elsewhere. A
        Chroma server is shared by every process, but `build --rebuild` replaces the
        collections: they are looked up again by name."""
        with self._lock.writing():
            if not self.chroma_url:
                # Client.close() exists on the concrete client (chromadb >= 1.5), not ClientAPI.
                cast(Any, self.client).close()
            self._open(create=False)

    # -- index-wide state ------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        with self._lock.reading():
            collection = self.client.get_collection(self.documents.name, embedding_function=None)
            return dict(collection.metadata or {})

    def settings(self) -> dict[str, Any]:
        """The pipeline settings the index was built with (models, chunker), as stored."""
        return dict(json.loads(self._state().get("pipeline", "{}")))

    def revision(self) -> str:
        """Changes when a build completes; readers then refresh what they hold."""
        return str(self._state().get("revision", ""))

    def interrupted(self) -> bool:
        """True while a build runs, and after one that was killed before it finished."""
        return self._state().get("building") == "1"

    def set_state(
        self,
        *,
        pipeline: dict[str, Any] | None = None,
        revision: str | None = None,
        building: bool | None = None,
    ) -> None:
        state = self._state()
        if pipeline is not None:
            state["pipeline"] = json.dumps(pipeline, sort_keys=True)
        if revision is not None:
            state["revision"] = revision
        if building is not None:
            state["building"] = "1" if building else "0"
        with self._lock.reading():
            self.documents.modify(metadata=state)

    # -- documents -------------------------------------------------------------------------

    def manifest(self) -> dict[str, DocumentRecord]:
        """Every indexed document by id."""
        records: dict[str, DocumentRecord] = {}
        with self._lock.reading():
            offset, total = 0, self.documents.count()
            while offset < total:
                page = self.documents.get(include=["metadatas"], limit=_READ_PAGE, offset=offset)
                for doc_id, metadata in zip(page["ids"], page["metadatas"] or [], strict=True):
                    records[doc_id] = DocumentRecord.from_metadata(doc_id, dict(metadata or {}))
                offset += len(page["ids"]) or total
        return records

    def document_text(self, doc_id: str) -> str | None:
        """The full text of an indexed document, or None."""
        with self._lock.reading():
            found = self.documents.get(ids=[doc_id], include=["documents"])
        texts = found["documents"] or []
        return texts[0] if texts else None

    def put_documents(self, records: Sequence[DocumentRecord], texts: Sequence[str]) -> None:
        if not records:
            return
        metadatas: list[Any] = [{k: v for k, v in asdict(r).items() if k != "id"} for r in records]
        with self._lock.reading():
            self.documents.upsert(
                ids=[r.id for r in records],
                # The manifest is looked up by id, never searched: a constant 1-d vector will do.
                embeddings=np.ones((len(records), 1), dtype=np.float32),
                documents=list(texts),
                metadatas=metadatas,
            )

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        with self._lock.reading():
            for start in range(0, len(ids), _WRITE_BATCH):
                self.documents.delete(ids=ids[start : start + _WRITE_BATCH])

    # -- passages --------------------------------------------------------------------------

    def _passage_collections(self) -> list[Any]:
        """The collections that hold one record per passage."""
        optional = [self.sentences] if self.sentences is not None else []
        return [self.chunks, self.multilingual, *optional]

    def add_nodes(
        self,
        nodes: Sequence[BaseNode],
        multilingual: Sequence[Sequence[float]],
        sentences: Sequence[tuple[Sequence[str], np.ndarray]] | None = None,
    ) -> None:
        """Add embedded passage nodes and their multilingual embeddings (same ids), and, when
        given, the (texts, English vectors) of each passage's sentences."""
        if not nodes:
            return
        with self._lock.reading():
            self.vector_store.add(list(nodes))
            for start in range(0, len(nodes), _WRITE_BATCH):
                batch = nodes[start : start + _WRITE_BATCH]
                ids = [n.node_id for n in batch]
                metadatas: Any = [
                    {"doc_id": n.metadata["doc_id"], "doc_hash": n.metadata["doc_hash"]}
                    for n in batch
                ]
                self.multilingual.add(
                    ids=ids,
                    embeddings=np.asarray(
                        multilingual[start : start + _WRITE_BATCH], dtype=np.float32
                    ),
                    metadatas=metadatas,
                )
                if sentences is not None and self.sentences is not None:
                    self.sentences.add(
                        ids=ids,
                        # looked up by passage id, never searched: a constant 1-d vector will do
                        embeddings=np.ones((len(batch), 1), dtype=np.float32),
                        # in metadata, not as a document: Chroma indexes documents for full-text
                        # search, which multiplied the disk the encoded vectors take
                        metadatas=[
                            {**meta, **_pack(*pair)}
                            for meta, pair in zip(
                                metadatas, sentences[start : start + _WRITE_BATCH], strict=True
                            )
                        ],
                    )

    def sentence_vectors(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, np.ndarray]:
        """The stored English vectors of these passages' sentences (passage id -> the texts
        `index.sentences.encoded_texts` gives for it), by sentence text. Nothing for a passage
        the build made none for, or whose texts are no longer the ones that were encoded."""
        with self._lock.reading():
            if self.sentences is None or not wanted:
                return {}
            found = self.sentences.get(ids=list(wanted), include=["metadatas"])
        vectors: dict[str, np.ndarray] = {}
        for passage_id, metadata in zip(found["ids"], found["metadatas"] or [], strict=True):
            vectors.update(_unpack(wanted[passage_id], dict(metadata or {})))
        return vectors

    def delete_chunks(self, doc_ids: Iterable[str]) -> None:
        """Delete every passage of these documents."""
        ids = list(doc_ids)
        with self._lock.reading():
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
        with self._lock.reading():
            for start in range(0, len(clauses), 100):
                batch = clauses[start : start + 100]
                for collection in self._passage_collections():
                    collection.delete(where=batch[0] if len(batch) == 1 else {"$or": batch})

    def passage_keys(self) -> dict[str, tuple[str, str]]:
        """Every passage id in either collection, with its (document id, content hash)."""
        keys: dict[str, tuple[str, str]] = {}
        with self._lock.reading():
            for collection in self._passage_collections():
                offset, total = 0, collection.count()
                while offset < total:
                    page = collection.get(include=["metadatas"], limit=_READ_PAGE, offset=offset)
                    for passage_id, meta in zip(page["ids"], page["metadatas"] or [], strict=True):
                        meta = meta or {}
                        keys[passage_id] = (
                            str(meta.get("doc_id", "")),
                            str(meta.get("doc_hash", "")),
                        )
                    offset += len(page["ids"]) or total
        return keys

    def delete_passages(self, ids: Sequence[str]) -> None:
        """Delete passages by id from both collections."""
        with self._lock.reading():
            for start in range(0, len(ids), _WRITE_BATCH):
                for collection in self._passage_collections():
                    collection.delete(ids=list(ids[start : start + _WRITE_BATCH]))

    def pages(self) -> Iterator[list[BaseNode]]:
        """Every passage node, a page at a time (a large index is never all in memory at once)."""
        with self._lock.reading():
            total = self.chunks.count()
        offset = 0
        while offset < total:
            with self._lock.reading():
                page = self.chunks.get(
                    limit=_READ_PAGE, offset=offset, include=["documents", "metadatas"]
                )
            yield _nodes(page)
            offset += len(page["ids"]) or total

    def passages(self, ids: Sequence[str] | None = None) -> list[BaseNode]:
        """Passage nodes by id (in the order given), or all of them when ids is None."""
        if ids is None:
            return [node for page in self.pages() for node in page]
        with self._lock.reading():
            if not ids:
                return []
            page = self.chunks.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {node.node_id: node for node in _nodes(page)}
        return [by_id[i] for i in ids if i in by_id]

    def query_english(self, embedding: Sequence[float], n: int) -> list[tuple[str, float]]:
        """(passage id, cosine similarity) of the n passages closest in the English space."""
        return self._nearest("chunks", embedding, n)

    def query_multilingual(self, embedding: Sequence[float], n: int) -> list[tuple[str, float]]:
        """(passage id, cosine similarity) of the n passages closest in the multilingual space."""
        return self._nearest("multilingual", embedding, n)

    def _nearest(self, space: str, embedding: Sequence[float], n: int) -> list[tuple[str, float]]:
        # Ids and distances only: the few passages that make the final list are read after
        # fusion (reading and parsing all n records took more time than the search itself).
        with self._lock.reading():
            found = getattr(self, space).query(
                query_embeddings=np.asarray([embedding], dtype=np.float32),
                n_results=n,
                include=["distances"],
            )
        distances = (found["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(found["ids"][0], distances, strict=True)]

    def count(self) -> tuple[int, int]:
        """(documents, passages) in the index."""
        with self._lock.reading():
            return self.documents.count(), self.chunks.count()

    def drop(self) -> None:
        """Remove the index's collections (used by `build --rebuild`)."""
        with self._lock.reading():
            for suffix in ("", "-multilingual", "-documents", "-sentences"):
                name = f"{self.name}{suffix}"
                with contextlib.suppress(NotFoundError):
                    self.client.delete_collection(name)


def _nodes(page: Any) -> list[BaseNode]:
    """llama-index nodes from a Chroma get() result written by ChromaVectorStore."""
    return [
        metadata_dict_to_node(dict(metadata), text=text)
        for metadata, text in zip(page["metadatas"] or [], page["documents"] or [], strict=True)
    ]


def _fingerprint(texts: Sequence[str]) -> str:
    return hashlib.sha256("\x1f".join(texts).encode()).hexdigest()[:16]


def _pack(texts: Sequence[str], vectors: np.ndarray) -> dict[str, str]:
    """Sentence vectors as metadata: float16 (cosines within 0.001 of float32's), in the order
    of their texts, with a fingerprint of those texts rather than the texts themselves."""
    data = np.asarray(vectors, dtype=np.float16).tobytes()
    return {"texts": _fingerprint(texts), "float16": base64.b64encode(data).decode("ascii")}


def _unpack(texts: Sequence[str], metadata: dict[str, Any]) -> dict[str, np.ndarray]:
    if not texts or metadata.get("texts") != _fingerprint(texts):
        return {}
    data = np.frombuffer(base64.b64decode(str(metadata.get("float16", ""))), dtype=np.float16)
    if data.size % len(texts):
        return {}
    vectors = data.astype(np.float32).reshape(len(texts), -1)
    return dict(zip(texts, vectors, strict=True))


def open_store(data_dir: Path, collection: str, chroma_url: str | None, *, create: bool) -> Store:
    """Open an index; with create=False a missing index raises IndexMissingError."""
    if not create and not chroma_url and not (data_dir / "chroma.sqlite3").exists():
        raise IndexMissingError(f"no index at {data_dir}: run `python -m index build`")
    return Store(data_dir, collection, chroma_url, create=create)
