"""Retrieval: passages best first, with their document metadata and exact offsets."""

from __future__ import annotations

import pytest
from conftest import NILC

from assistant import Assistant
from index.errors import InvalidInputError


def test_retrieve_returns_k_passages_best_first(assistant: Assistant) -> None:
    passages = assistant.retrieve("ICE gang database", k=4)
    assert len(passages) == 4
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)
    assert "gang database" in passages[0].text


def test_passages_carry_document_metadata_and_offsets(assistant: Assistant) -> None:
    passage = next(
        p for p in assistant.retrieve("gang database 2010", k=5) if p.document.id == NILC
    )
    assert passage.document.publisher == "National Immigration Law Center (NILC)"
    assert passage.document.published == "2017-09-22"
    assert passage.document.path and passage.document.path.endswith(NILC)
    source = assistant.store.document_text(NILC)
    assert source is not None and source[passage.start : passage.end] == passage.text
    shape = passage.to_dict()
    assert set(shape) == {"id", "text", "score", "document", "start", "end"}
    assert set(shape["document"]) == {"id", "title", "publisher", "published", "url", "path"}


def test_retrieve_accepts_up_to_100(assistant: Assistant) -> None:
    total = assistant.store.count()[1]
    assert len(assistant.retrieve("fingerprints", k=100)) == min(100, total)


@pytest.mark.parametrize("k", [0, -1, 101])
def test_retrieve_rejects_k_out_of_range(assistant: Assistant, k: int) -> None:
    with pytest.raises(InvalidInputError, match="k must"):
        assistant.retrieve("fingerprints", k=k)


@pytest.mark.parametrize("query", ["", "   \n\t"])
def test_retrieve_rejects_an_empty_query(assistant: Assistant, query: str) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        assistant.retrieve(query)


def test_a_small_index_reads_each_passage_once(
    assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    read: list[str] = []
    passages = assistant.store.passages

    def counted(ids):  # type: ignore[no-untyped-def]
        read.extend(ids)
        return passages(ids)

    monkeypatch.setattr(assistant.store, "passages", counted)
    question = "Which databases does ICE check fingerprints against?"
    first = assistant.retrieve(question, k=8)
    assert len(read) == len(set(read))  # whatever was read once is held, not read again
    read.clear()
    assert assistant.retrieve(question, k=8) == first  # the same passages, from memory
    assert read == []


def test_a_question_for_a_date_ranks_first_the_passage_that_states_one(
    assistant: Assistant,
) -> None:
    question = "What date was the Factually piece on police and ICE identity checks last checked?"
    top = assistant.retrieve(question, 3)
    assert "Checked on November 28, 2025" in top[0].text
    assert [p.score for p in top] == sorted((p.score for p in top), reverse=True)
