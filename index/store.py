"""Store: the Chroma collections of an index (embedded path or server URL).

An index is three collections: `<name>` holds the passages with their English embeddings (written
and queried through llama-index's ChromaVectorStore), `<name>-multilingual` holds the same passage
ids with multilingual embeddings, and `<name>-documents` holds one record per source document (its
text, metadata, content hash and passage count) so builds can be incremental and surfaces can show
documents in full without the source folder. The documents collection's metadata records the
pipeline the index was built with and a revision that changes with every build that wrote.
`<name>-sentences` holds, per passage, the English vectors of its sentences when the build was
asked to make them (`ASSISTANT_SENTENCE_VECTORS`); it is empty otherwise.

`build --rebuild` writes a new generation of these collections beside the live one (named
`<name>-g<12 hex digits>…`) and then switches readers to it in one write: the metadata of the
collection `<name>-live` names the live generation (without it, the live collections are the
ones named `<name>…`). Generations that are neither live nor being built are deleted by the
next build, so an interrupted rebuild leaves nothing behind for long.

Every failed store call is raised as StoreUnavailableError, or IndexDamagedError when the
embedded database fails SQLite's integrity check. Their messages reach HTTP clients, so they
name no path and carry no library text; the library's error type is logged.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlparse

import chromadb
import httpx
import numpy as np
from chromadb.api import ClientAPI
from chromadb.api.shared_system_client import SharedSystemClient
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import ChromaError, NotFoundError
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.utils import metadata_dict_to_node
from llama_index.vector_stores.chroma import ChromaVectorStore

from index.errors import IndexDamagedError, IndexMissingError, StoreUnavailableError

log = logging.getLogger(__name__)
log.addHandler(logging.NullHandler())  # printed only where the app configures it (not the CLI)

# Errors that mean "the store is not there or not answering", as raised by chromadb and httpx.
STORE_ERRORS = (ChromaError, httpx.HTTPError, ConnectionError, OSError, ValueError)
_WRITE_BATCH = 1000
_READ_PAGE = 2000
_CHECK_PAGE = 100
_SUFFIXES = ("", "-multilingual", "-documents", "-sentences")
DATABASE_FILE = "chroma.sqlite3"
UNAVAILABLE = (
    "the vector store is not reachable or did not answer; service resumes when it is back"
    " (`python -m index status` on the server says more)"
)
RECOVERY = "see README 'Recovering a damaged index'"


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
                raise StoreUnavailableError("ASSISTANT_CHROMA_URL is not a URL")
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
        if not chroma_url:
            # chromadb caches a client system per path even when starting it failed; every
            # later client for that path then fails with AttributeError (a 500), so forget it.
            SharedSystemClient._identifier_to_system.pop(str(data_dir), None)
        raise store_failure(error, data_dir, chroma_url) from error


def database_problem(data_dir: Path) -> str | None:
    """What SQLite's quick check finds wrong with the embedded database (None: sound or absent)."""
    path = data_dir / DATABASE_FILE
    if not path.is_file():
        return None
    try:
        # read-only, and waiting out a build that holds the write lock
        uri = f"{path.resolve().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=30)) as database:
            rows = database.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as error:
        if getattr(error, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
            return str(error)
        return None  # locked, unreadable, ...: not known to be damaged
    found = [str(row[0]) for row in rows if row and row[0] != "ok"]
    return "; ".join(found[:3]) or None


def damaged(problem: str) -> IndexDamagedError:
    """The error for a damaged index; `problem` is kept for the command line, not the message."""
    return IndexDamagedError(
        f"the index is damaged (its database fails SQLite's integrity check): {RECOVERY}",
        problem,
    )


def store_failure(
    error: BaseException, data_dir: Path, chroma_url: str | None
) -> StoreUnavailableError:
    """A failed store call as our error: damaged if the database fails its check, else down."""
    # The library's message names paths and internals: only its type is logged, and the error
    # itself travels as the cause (for the command line, never for HTTP clients).
    log.warning("a vector store call failed: %s", type(error).__name__)
    if not chroma_url and (problem := database_problem(data_dir)):
        return damaged(problem)
    return StoreUnavailableError(UNAVAILABLE)


def new_generation() -> str:
    """A fresh generation id for `build --rebuild`."""
    return uuid.uuid4().hex[:12]


def _prefix(name: str, generation: str) -> str:
    return f"{name}-g{generation}" if generation else name


def _pointer(name: str) -> str:
    return f"{name}-live"


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
    """The passage and document collections of one index (one generation of it)."""

    def __init__(
        self,
        data_dir: Path,
        name: str,
        chroma_url: str | None = None,
        *,
        create: bool,
        generation: str | None = None,
    ) -> None:
        """Opens the live generation, or with `generation` that one (create=True makes it)."""
        self.data_dir = data_dir
        self.name = name
        self.chroma_url = chroma_url
        self._lock = _ReadWriteLock()
        self._open(create, generation)

    def _failure(self, error: BaseException) -> StoreUnavailableError:
        return store_failure(error, self.data_dir, self.chroma_url)

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """A share of the client, with the library's errors raised as ours."""
        with self._lock.reading():
            try:
                yield
            except STORE_ERRORS as error:
                raise self._failure(error) from error

    def _open(self, create: bool, generation: str | None) -> None:
        client = connect(self.data_dir, self.chroma_url)
        try:
            if generation is None:
                generation = _live_generation(client, self.name)
            prefix = _prefix(self.name, generation)
            names = [f"{prefix}{suffix}" for suffix in _SUFFIXES]
            if create:
                cosine: Any = {"hnsw": {"space": "cosine"}}
                chunks, multilingual = (
                    client.get_or_create_collection(
                        name, configuration=cosine, embedding_function=None
                    )
                    for name in names[:2]
                )
                documents, sentences = (
                    client.get_or_create_collection(name, embedding_function=None)
                    for name in names[2:]
                )
            else:
                chunks, multilingual, documents = (
                    client.get_collection(name, embedding_function=None) for name in names[:3]
                )
                try:  # indexes built before sentence vectors existed have no such collection
                    sentences = client.get_collection(names[3], embedding_function=None)
                except NotFoundError:
                    sentences = None
        except NotFoundError:
            raise IndexMissingError(
                f"no index named {self.name!r} yet: run `python -m index build`"
            ) from None
        except STORE_ERRORS as error:
            raise self._failure(error) from error
        self.client = client
        self.generation = generation
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
            self._open(create=True, generation=self.generation)

    def close(self) -> None:
        """Release the client (an embedded store writes what it holds in memory)."""
        with self._lock.writing():
            cast(Any, self.client).close()

    def reopen(self) -> None:
        """See what another process wrote. An embedded Chroma keeps its vector index in memory
        per process, so a long-running reader reopens the client after a build elsewhere. After
        `build --rebuild` the live generation is another one: it is looked up again."""
        with self._lock.writing():
            if not self.chroma_url:
                # Client.close() exists on the concrete client (chromadb >= 1.5), not ClientAPI.
                cast(Any, self.client).close()
            self._open(create=False, generation=None)

    # -- generations -----------------------------------------------------------------------

    def make_live(self) -> None:
        """Switch readers to this generation, in one write (after making it visible to them)."""
        self.flush()
        with self._reading():
            pointer = self.client.get_or_create_collection(
                _pointer(self.name), embedding_function=None
            )
            pointer.modify(metadata={"generation": self.generation or "-"})

    def sweep_generations(self) -> list[str]:
        """Delete every generation but the live one and this one; returns those deleted."""
        # left by an interrupted rebuild, or replaced by a finished one
        with self._reading():
            keep = {_live_generation(self.client, self.name), self.generation}
            pattern = re.compile(
                rf"{re.escape(self.name)}(?:-g([0-9a-f]{{12}}))?({'|'.join(_SUFFIXES[1:])})?"
            )
            found: dict[str, list[str]] = {}
            for collection in self.client.list_collections():
                match = pattern.fullmatch(collection.name)
                if match and (match.group(1) or "") not in keep:
                    found.setdefault(match.group(1) or "", []).append(collection.name)
            for names in found.values():
                for name in names:
                    with contextlib.suppress(NotFoundError):
                        self.client.delete_collection(name)
        return sorted(found)

    def check(self) -> None:
        """Raise IndexDamagedError unless the index reads back whole."""
        # The embedded database must pass SQLite's quick check, and every collection give its
        # count, its first page and (for the searched ones) a nearest neighbour.
        if not self.chroma_url and (problem := database_problem(self.data_dir)):
            raise damaged(problem)
        with self._reading():
            for collection in (self.documents, *self._passage_collections()):
                total = collection.count()
                page = collection.get(limit=_CHECK_PAGE, include=["metadatas", "documents"])
                if len(page["ids"]) != min(total, _CHECK_PAGE):
                    raise IndexDamagedError(
                        f"the index is damaged (a collection reads back fewer records than it"
                        f" counts): {RECOVERY}",
                        f"{collection.name}: {len(page['ids'])} of {total}",
                    )
            for collection in (self.chunks, self.multilingual):
                first = collection.get(limit=1, include=["embeddings"])
                if first["ids"]:
                    collection.query(
                        query_embeddings=np.asarray(first["embeddings"], dtype=np.float32),
                        n_results=1,
                        include=["distances"],
                    )

    # -- index-wide state ------------------------------------------------------------------

    def _state(self) -> dict[str, Any]:
        with self._reading():
            collection = self.client.get_collection(self.documents.name, embedding_function=None)
            return dict(collection.metadata or {})

    def settings(self) -> dict[str, Any]:
        """The pipeline settings the index was built with (models, chunker), as stored."""
        return dict(json.loads(self._state().get("pipeline", "{}")))

    def revision(self) -> str:
        """Changes when a build completes or a rebuild switches generation: readers then refresh."""
        with self._reading():
            live = _live_generation(self.client, self.name)
        if live != self.generation:
            return f"{live}:"
        return f"{live}:{self._state().get('revision', '')}"

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
        with self._reading():
            self.documents.modify(metadata=state)

    # -- documents -------------------------------------------------------------------------

    def manifest(self) -> dict[str, DocumentRecord]:
        """Every indexed document by id."""
        records: dict[str, DocumentRecord] = {}
        with self._reading():
            offset, total = 0, self.documents.count()
            while offset < total:
                page = self.documents.get(include=["metadatas"], limit=_READ_PAGE, offset=offset)
                for doc_id, metadata in zip(page["ids"], page["metadatas"] or [], strict=True):
                    records[doc_id] = DocumentRecord.from_metadata(doc_id, dict(metadata or {}))
                offset += len(page["ids"]) or total
        return records

    def document_text(self, doc_id: str) -> str | None:
        """The full text of an indexed document, or None."""
        with self._reading():
            found = self.documents.get(ids=[doc_id], include=["documents"])
        texts = found["documents"] or []
        return texts[0] if texts else None

    def put_documents(self, records: Sequence[DocumentRecord], texts: Sequence[str]) -> None:
        if not records:
            return
        metadatas: list[Any] = [{k: v for k, v in asdict(r).items() if k != "id"} for r in records]
        with self._reading():
            self.documents.upsert(
                ids=[r.id for r in records],
                # The manifest is looked up by id, never searched: a constant 1-d vector will do.
                embeddings=np.ones((len(records), 1), dtype=np.float32),
                documents=list(texts),
                metadatas=metadatas,
            )

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        ids = list(doc_ids)
        with self._reading():
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
        with self._reading():
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
        with self._reading():
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
        with self._reading():
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
        with self._reading():
            for start in range(0, len(clauses), 100):
                batch = clauses[start : start + 100]
                for collection in self._passage_collections():
                    collection.delete(where=batch[0] if len(batch) == 1 else {"$or": batch})

    def passage_keys(self) -> dict[str, tuple[str, str]]:
        """Every passage id in either collection, with its (document id, content hash)."""
        keys: dict[str, tuple[str, str]] = {}
        with self._reading():
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
        with self._reading():
            for start in range(0, len(ids), _WRITE_BATCH):
                for collection in self._passage_collections():
                    collection.delete(ids=list(ids[start : start + _WRITE_BATCH]))

    def pages(self) -> Iterator[list[BaseNode]]:
        """Every passage node, a page at a time (a large index is never all in memory at once)."""
        with self._reading():
            total = self.chunks.count()
        offset = 0
        while offset < total:
            with self._reading():
                page = self.chunks.get(
                    limit=_READ_PAGE, offset=offset, include=["documents", "metadatas"]
                )
            yield _nodes(page)
            offset += len(page["ids"]) or total

    def passages(self, ids: Sequence[str] | None = None) -> list[BaseNode]:
        """Passage nodes by id (in the order given), or all of them when ids is None."""
        if ids is None:
            return [node for page in self.pages() for node in page]
        with self._reading():
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
        with self._reading():
            found = getattr(self, space).query(
                query_embeddings=np.asarray([embedding], dtype=np.float32),
                n_results=n,
                include=["distances"],
            )
        distances = (found["distances"] or [[]])[0]
        return [(i, 1.0 - float(d)) for i, d in zip(found["ids"][0], distances, strict=True)]

    def count(self) -> tuple[int, int]:
        """(documents, passages) in the index."""
        with self._reading():
            return self.documents.count(), self.chunks.count()

    def drop(self) -> None:
        """Remove this generation's collections."""
        with self._reading():
            for suffix in _SUFFIXES:
                with contextlib.suppress(NotFoundError):
                    self.client.delete_collection(f"{_prefix(self.name, self.generation)}{suffix}")


def _live_generation(client: ClientAPI, name: str) -> str:
    """The generation readers use: as the pointer collection names it, else the first one."""
    try:
        pointer = client.get_collection(_pointer(name), embedding_function=None)
    except NotFoundError:
        return ""
    generation = str((pointer.metadata or {}).get("generation", "-"))
    return "" if generation == "-" else generation


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
    """Open the live index; with create=False a missing index raises IndexMissingError."""
    if not create and not chroma_url and not (data_dir / DATABASE_FILE).exists():
        raise IndexMissingError("no index yet: run `python -m index build`")
    return Store(data_dir, collection, chroma_url, create=create)


def open_generation(data_dir: Path, collection: str, chroma_url: str | None) -> Store:
    """A new, empty generation of an index, beside the live one, for `build --rebuild`."""
    return Store(data_dir, collection, chroma_url, create=True, generation=new_generation())
