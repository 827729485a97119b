"""Sentence vectors stored by the build (ASSISTANT_SENTENCE_VECTORS): they are the vectors a
question would otherwise encode, questions use them instead of encoding, and they come and go
with their passages."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FACTUALLY, copy_knowledge

from assistant import Assistant
from assistant.evidence import english_texts
from assistant.retrieve import passage_from_node
from index.build import build
from index.sentences import encoded_texts
from index.settings import Settings
from index.store import Store, open_store

QUESTIONS = (
    "When did ICE start its own gang database?",
    "What is the Secure Communities program?",
    "Can local police ask about immigration status during a traffic stop?",
    "¿Comparte el DMV datos con ICE?",
)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """An index of the shipped corpus built with sentence vectors."""
    corpus = copy_knowledge(tmp_path_factory.mktemp("corpus"))
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("stored"), knowledge_dir=corpus, sentence_vectors=True
    )
    store = open_store(settings.data_dir, settings.collection, None, create=True)
    assert build([corpus], store, sentence_vectors=True).ok
    return settings


class CountingModel:
    """Stands in front of the real model and counts the texts it is asked to encode."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.encoded: list[str] = []

    def get_text_embedding_batch(self, texts: Sequence[str], **kwargs: Any) -> Any:
        self.encoded.extend(texts)
        return self.model.get_text_embedding_batch(texts, **kwargs)


def test_the_build_stores_the_vectors_a_question_would_encode(
    stored: Settings, embed_model: Any
) -> None:
    store = open_store(stored.data_dir, stored.collection, None, create=False)
    passages = [passage_from_node(node, 0.0, {}) for node in store.passages()]
    vectors = store.sentence_vectors({p.id: encoded_texts(p.text, p.sentences) for p in passages})
    needed = sorted({text for passage in passages for text in english_texts(passage)})
    assert needed and not set(needed) - set(vectors)
    fresh = np.asarray(embed_model.get_text_embedding_batch(needed), dtype=np.float32)
    kept = np.stack([vectors[text] for text in needed])
    cosines = np.sum(kept * fresh, axis=1) / np.linalg.norm(kept, axis=1)
    assert cosines.min() > 0.999


def test_with_stored_vectors_questions_encode_no_sentence_and_answer_the_same(
    stored: Settings, assistant: Assistant
) -> None:
    with_vectors = Assistant.load(stored)
    cache = with_vectors.retriever.evidence._english
    counting = CountingModel(cache.model)
    cache.model = counting
    for question in QUESTIONS:
        answer = with_vectors.ask(question)
        expected = assistant.ask(question)  # the session's index, built without them
        assert answer.answer == expected.answer
        assert [c.passage.text for c in answer.citations] == [
            c.passage.text for c in expected.citations
        ]
    assert counting.encoded == []


def _sentence_ids(store: Store) -> set[str]:
    assert store.sentences is not None
    return set(store.sentences.get(include=[])["ids"])


def test_sentence_vectors_come_and_go_with_their_passages(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "k")
    store = open_store(tmp_path / "data", "knowledge", None, create=True)
    first = build([corpus], store)
    assert first.ok and _sentence_ids(store) == set()

    switched = build([corpus], store, sentence_vectors=True)  # switching re-embeds everything
    assert switched.ok and len(switched.updated) == 2
    assert _sentence_ids(store) == set(store.chunks.get(include=[])["ids"])

    (corpus / FACTUALLY).unlink()
    removed = build([corpus], store, sentence_vectors=True)
    assert removed.removed == [FACTUALLY]
    assert _sentence_ids(store) == set(store.chunks.get(include=[])["ids"])

    back = build([corpus], store)
    assert len(back.updated) == 1 and _sentence_ids(store) == set()
