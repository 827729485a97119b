"""Chunking: exact offsets, sentence bounds, size limit, headings as context not passages."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from conftest import FACTUALLY, KNOWLEDGE, NILC
from llama_index.core.schema import Document

from index.chunk import (
    CONTENT,
    DEFAULT_MAX_CHARS,
    NAVIGATION,
    QUESTIONS,
    is_credit_line,
    ranking_text,
    sentence_spans,
    split_documents,
    split_text,
)
from index.load import load_documents

HEADINGS = {
    FACTUALLY: [
        "Executive summary",
        "1. How the legal framework delegates authority",
        "Want to dive deeper?",
    ],
    NILC: ["The Latest", "Tracking the CECOT Disappearances"],
}


@pytest.fixture(scope="module")
def documents() -> list[Document]:
    return load_documents([KNOWLEDGE]).documents


def test_offsets_map_back_to_the_source_exactly(documents: list[Document]) -> None:
    nodes = split_documents(documents)
    texts = {doc.id_: doc.text for doc in documents}
    assert nodes
    for node in nodes:
        source = texts[node.metadata["doc_id"]]
        assert source[node.start_char_idx : node.end_char_idx] == node.text


def test_passages_are_citable_sized_and_in_order(documents: list[Document]) -> None:
    for doc in documents:
        passages = split_text(doc.text, title=doc.metadata["title"])
        assert all(p.end - p.start <= DEFAULT_MAX_CHARS for p in passages)
        starts = [p.start for p in passages]
        assert starts == sorted(starts)
        assert all(a.end <= b.start for a, b in itertools.pairwise(passages))


def test_no_passage_is_only_a_heading(documents: list[Document]) -> None:
    for doc in documents:
        passages = split_text(doc.text, title=doc.metadata["title"])
        texts = [doc.text[p.start : p.end].strip() for p in passages]
        for heading in [doc.metadata["title"], *HEADINGS[doc.id_]]:
            assert not any(text.startswith(heading) for text in texts), heading


def test_headings_label_their_sections_and_join_the_ranking_text(documents: list[Document]) -> None:
    nodes = [n for n in split_documents(documents) if n.metadata["doc_id"] == FACTUALLY]
    gang = next(n for n in nodes if "formally delegate certain immigration functions" in n.text)
    assert gang.metadata["section"].startswith("1. How the legal framework delegates authority")
    assert ranking_text(gang).startswith("1. How the legal framework")
    assert not gang.text.startswith("1.")


def test_sentences_are_never_cut(documents: list[Document]) -> None:
    for doc in documents:
        for passage in split_text(doc.text, title=doc.metadata["title"]):
            text = doc.text[passage.start : passage.end]
            # a passage ends where a sentence, a list item or a line ends
            assert re.search(r"([.!?:…\"”’)\]]|\.\.\.|[A-Za-z0-9])$", text), text[-40:]
            assert passage.sentences[0][0] == passage.start
            assert passage.sentences[-1][1] == passage.end
            for start, end in passage.sentences:
                assert passage.start <= start < end <= passage.end


def test_questions_and_site_navigation_are_kept_but_marked(documents: list[Document]) -> None:
    by_kind: dict[str, list[str]] = {}
    for doc in documents:
        for passage in split_text(doc.text, title=doc.metadata["title"]):
            by_kind.setdefault(passage.kind, []).append(doc.text[passage.start : passage.end])
    assert any("What legal authorities allow local police" in t for t in by_kind[QUESTIONS])
    assert any("More than 280 immigrants" in t for t in by_kind[NAVIGATION])
    assert not any("More than 280 immigrants" in t for t in by_kind[CONTENT])
    assert any("started its own gang database in 2010" in t for t in by_kind[CONTENT])


def test_long_paragraphs_split_at_sentences_and_huge_sentences_are_bounded() -> None:
    sentence = "The agency shares fingerprints with the federal database every night. "
    paragraph = sentence * 40
    words = "word " * 600
    text = f"Title line\n\n{paragraph}\n\n{words}"
    passages = split_text(text, chunk_chars=300, max_chars=500)
    assert all(p.end - p.start <= 500 for p in passages)
    for passage in passages:
        body = text[passage.start : passage.end]
        if "agency" in body:
            assert body.startswith("The agency") and body.endswith("night.")
    covered = "".join(text[p.start : p.end] for p in passages)
    assert covered.replace(" ", "").replace("\n", "") == text[len("Title line") :].replace(
        " ", ""
    ).replace("\n", "")


def test_a_text_that_is_only_a_title_is_still_a_passage() -> None:
    passages = split_text("Gang databases")
    assert [("Gang databases"[p.start : p.end]) for p in passages] == ["Gang databases"]


def test_sentence_spans_keep_abbreviations_together() -> None:
    text = "The program has several models (task-force, etc.) with different authorities. Next one."
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "The program has several models (task-force, etc.) with different authorities.",
        "Next one.",
    ]


def test_markdown_and_html_headings_become_sections(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Guide\n\n## Gang databases\n\nICE keeps its own list.\n")
    (tmp_path / "b.html").write_text("<h2>DMV records</h2><p>ICE has asked DMVs to run plates.</p>")
    nodes = split_documents(load_documents([tmp_path]).documents)
    sections = {n.text.strip(): n.metadata["section"] for n in nodes}
    assert sections == {
        "ICE keeps its own list.": "Gang databases",
        "ICE has asked DMVs to run plates.": "DMV records",
    }


def test_abbreviations_do_not_end_sentences() -> None:
    text = (
        "Officers share data, while U.S. Immigration and Customs Enforcement has access. "
        "The court decided Trump v. CASA today. Efrén C. Olivares wrote it."
    )
    assert [text[s:e] for s, e in sentence_spans(text)] == [
        "Officers share data, while U.S. Immigration and Customs Enforcement has access.",
        "The court decided Trump v. CASA today.",
        "Efrén C. Olivares wrote it.",
    ]


@pytest.mark.parametrize(
    ("text", "credit"),
    [
        ("Sep 22, 2017", True),
        ("Checked on November 28, 2025", True),
        ("By NILC staff", True),
        ("Por Efrén C. Olivares", True),
        ("By contrast, arrests rose in 2019.", False),
        ("By 2020, most counties had signed.", False),
        ("Published studies from 2010 show a rise in cases.", False),
    ],
)
def test_datelines_and_bylines_are_told_from_sentences(text: str, credit: bool) -> None:
    assert is_credit_line(text) is credit
