"""Properties that hold for any input (Hypothesis): the chunker loses and invents nothing, and
answers to arbitrary questions keep the citation invariants."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from assistant import Assistant
from assistant.core import check_text
from assistant.eval import citation_problems
from index.chunk import heading_spans, sentence_spans, split_text
from index.errors import InvalidInputError

WORDS = st.sampled_from(
    "ICE jail police DMV data the of and fingerprints 287(g) U.S. etc. e.g. Mr. vs. 2010 ¿Qué"
    " información? records, share; database: (EID) “quoted” — a".split()
)
LINE = st.one_of(
    st.lists(WORDS, min_size=1, max_size=40).map(lambda w: " ".join(w) + "."),
    st.lists(WORDS, min_size=1, max_size=6).map(lambda w: "# " + " ".join(w)),
    st.lists(WORDS, min_size=1, max_size=20).map(lambda w: "• " + " ".join(w)),
    st.lists(WORDS, min_size=1, max_size=8).map(lambda w: "1. " + " ".join(w)),
    st.lists(WORDS, min_size=1, max_size=12).map(lambda w: " ".join(w) + "?"),
    st.lists(WORDS, min_size=1, max_size=400).map(" ".join),  # one long run-on line
    st.just(""),
)
DOCUMENTS = st.one_of(
    st.lists(LINE, max_size=60).map("\n".join),
    st.text(max_size=3000),  # anything at all, control characters included
)


@settings(max_examples=300, deadline=None)
@given(DOCUMENTS, st.integers(min_value=50, max_value=900), st.integers(min_value=0, max_value=900))
# found by this test: a long line cut just after a blank line kept the blank line's newline
@example("• ICE ICE ICE ICE ICE ICE records, “quoted” “quoted”\n\n# ICE", 50, 4)
def test_chunker_keeps_every_character_and_maps_back_exactly(
    text: str, chunk: int, extra: int
) -> None:
    limit = chunk + extra
    passages = split_text(text, chunk_chars=chunk, max_chars=limit)
    covered = [False] * len(text)
    previous_end = 0
    for passage in passages:
        assert previous_end <= passage.start < passage.end <= len(text)
        assert passage.end - passage.start <= limit
        body = text[passage.start : passage.end]
        assert body.strip() and body == body.strip()
        assert passage.sentences[0][0] == passage.start and passage.sentences[-1][1] == passage.end
        for start, end in passage.sentences:
            assert passage.start <= start < end <= passage.end
        for i in range(passage.start, passage.end):
            covered[i] = True
        previous_end = passage.end
    for start, end in heading_spans(text):
        for i in range(start, end):
            covered[i] = True
    lost = [ch for i, ch in enumerate(text) if not covered[i] and not ch.isspace()]
    assert not lost, f"characters in no passage or heading: {''.join(lost)[:80]!r}"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_sentence_spans_are_ordered_and_within_the_text(text: str) -> None:
    spans = sentence_spans(text)
    last = 0
    for start, end in spans:
        assert last <= start < end <= len(text)
        last = end


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.one_of(
        st.text(min_size=1, max_size=300),
        st.lists(WORDS, min_size=1, max_size=25).map(" ".join),
    )
)
def test_any_question_keeps_the_citation_invariants(assistant: Assistant, question: str) -> None:
    try:
        check_text(question, "question")
    except InvalidInputError:
        try:
            assistant.ask(question)
        except InvalidInputError:
            return
        raise AssertionError("input the API refuses was accepted by the Python API") from None
    answer = assistant.ask(question)
    assert citation_problems(assistant, answer) == []
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations} if answer.answered else not markers
