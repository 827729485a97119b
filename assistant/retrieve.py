"""Retrieve: a query -> the passages that best match it, best first."""

from __future__ import annotations

import json
import math
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import VectorStoreQuery

from assistant.types import DocumentRef, Passage
from index.errors import StoreUnavailableError
from index.store import STORE_ERRORS, Store


def passage_from_node(node: BaseNode, score: float) -> Passage:
    """A stored passage node as the Passage every surface returns."""
    metadata: dict[str, Any] = dict(node.metadata)
    spans = json.loads(metadata.get("sentences") or "[]")
    return Passage(
        id=node.node_id,
        text=node.get_content(metadata_mode=MetadataMode.NONE),
        score=score,
        document=DocumentRef.from_metadata(metadata),
        start=int(getattr(node, "start_char_idx", None) or 0),
        end=int(getattr(node, "end_char_idx", None) or 0),
        section=str(metadata.get("section", "")),
        kind=str(metadata.get("kind", "content")),
        sentences=tuple((int(s), int(e)) for s, e in spans),
    )


class Retriever:
    """Dense retrieval over the passage collection with the English model."""

    def __init__(self, store: Store, embed_model: BaseEmbedding) -> None:
        self.store = store
        self.embed_model = embed_model

    def retrieve(self, query: str, k: int = 5) -> list[Passage]:
        """The k passages closest to the query (cosine similarity), best first."""
        embedding = self.embed_model.get_query_embedding(query)
        try:
            result = self.store.vector_store.query(
                VectorStoreQuery(query_embedding=embedding, similarity_top_k=k)
            )
        except STORE_ERRORS as error:
            raise StoreUnavailableError(f"the vector store did not answer: {error}") from error
        # ChromaVectorStore reports exp(-distance); with cosine space distance = 1 - cosine.
        similarities = result.similarities or []
        return [
            passage_from_node(node, 1.0 + math.log(max(similarity, 1e-12)))
            for node, similarity in zip(result.nodes or [], similarities, strict=True)
        ]
