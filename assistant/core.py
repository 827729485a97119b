"""Assistant: the Python API every surface (HTTP, web chat, CLI) goes through."""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding

from assistant.answer import Answerer
from assistant.evidence import Evidence
from assistant.query import Turn, analyse
from assistant.retrieve import HybridRetriever, passage_from_node
from assistant.types import Answer, DocumentInfo, Passage
from index.errors import AssistantError, InvalidInputError, StoreUnavailableError
from index.settings import Settings, enforce_offline
from index.store import STORE_ERRORS, Store, open_store, store_failure

MAX_QUESTION_CHARS = 2000
MAX_TURN_CHARS = 4000
MAX_K = 100
ROLES = ("user", "assistant")
# What a question is read with from the conversation: a follow-up points back at the last
# question or two, and a turn's opening says what it was about. Reading more changes no answer and
# only lets one request cost what its body allows (one history turn of "g " * 2000 took 10 s of
# CPU). What the models read of the question itself is bounded in index/embed.py.
CONTEXT_TURNS = 4
CONTEXT_CHARS = 300


class Assistant:
    """Retrieves passages and answers questions from one index."""

    def __init__(
        self,
        store: Store,
        english: BaseEmbedding,
        multilingual: BaseEmbedding,
        spanish: BaseEmbedding,
        *,
        sentences: BaseEmbedding | None = None,
        server: bool = False,
    ) -> None:
        """`english` encodes questions; `sentences` (by default the same model) encodes the
        passages' sentences, as the build encodes passages."""
        self.store = store
        self.server = server
        evidence = Evidence(english, spanish, sentences=sentences)
        self.retriever = HybridRetriever(store, english, multilingual, evidence)
        self.answerer = Answerer(evidence)
        self._document_text = functools.lru_cache(maxsize=256)(store.document_text)

    @classmethod
    def load(cls, settings: Settings | None = None) -> Assistant:
        """Open the index named by the settings (environment by default) and load the models."""
        enforce_offline()
        from index.embed import e5_model, english_model, multilingual_model

        settings = settings or Settings()
        store = open_store(
            settings.data_dir, settings.collection, settings.chroma_url, create=False
        )
        assistant = cls(
            store,
            english_model(settings.encoder, settings.model_dir),
            multilingual_model(),
            e5_model(),
            sentences=english_model(settings.encoder, settings.model_dir, passages=True),
            server=bool(settings.chroma_url),
        )
        assistant.retriever.lexical()  # build the BM25 index now, not on the first question
        return assistant

    def retrieve(
        self, query: str, k: int = 5, history: Sequence[Turn | dict[str, Any]] = ()
    ) -> list[Passage]:
        """The k passages that best match the query (read in the light of `history`), best first."""
        text = _text(query, "query")
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
        return self.retriever.retrieve(analyse(text, _context(history)), k)

    def ask(self, question: str, history: Sequence[Turn | dict[str, Any]] = ()) -> Answer:
        """An extractive, cited answer; `answered` is False when the material does not cover it."""
        return self.consult(question, history)[0]

    def consult(
        self, question: str, history: Sequence[Turn | dict[str, Any]] = ()
    ) -> tuple[Answer, list[Passage]]:
        """The answer, and the passages it was chosen from (best first), for readers who want
        to see more than the answer."""
        query = analyse(_text(question, "question"), _context(history))
        query = self.retriever.glossed(query)
        passages, sentences = self.retriever.search(query, self.answerer.settings.passages)
        lexical = self.retriever.lexical()
        answer = self.answerer.answer(
            query,
            passages,
            sentences,
            lexical,
            self.covered(),
            unmentioned=self.retriever.unmentioned(query),
        )
        return answer, passages

    def warm(self, max_passages: int = 5000, max_multilingual: int = 500) -> int:
        """Encode the sentences of every passage ahead of questions, for an index of at most
        `max_passages` (and their slower multilingual-e5 vectors up to `max_multilingual`): the
        shipped corpus takes seconds, a large index is left to the cache as questions come.
        Returns how many texts were encoded. The vocabulary Spanish questions are mapped onto is
        encoded whatever the size (it is bounded)."""
        snapshot = self.retriever.snapshot()
        encoded = snapshot.bridge.prepare()
        if len(snapshot.valid) > max_passages:
            return encoded
        passages = [
            passage
            for node in self.store.passages()
            if (passage := passage_from_node(node, 0.0, {})).id in snapshot.valid
        ]
        multilingual = len(passages) <= max_multilingual
        self.retriever.recall(passages)
        return encoded + self.retriever.evidence.prepare(passages, multilingual=multilingual)

    def context(self, passage: Passage, chars: int = 500) -> tuple[str, str, str]:
        """(text before, the passage, text after) from its document, about `chars` either side,
        cut at spaces; without the document, just the passage."""
        try:
            text = self._document_text(passage.document.id)
        except STORE_ERRORS as error:
            raise self._store_failure(error) from error
        if text is None or text[passage.start : passage.end] != passage.text:
            return "", passage.text, ""
        start = max(0, passage.start - chars)
        end = min(len(text), passage.end + chars)
        if start > 0:
            start = text.find(" ", start, passage.start) + 1 or start
        if end < len(text):
            end = text.rfind(" ", passage.end, end) if " " in text[passage.end : end] else end
        before = ("…" if start > 0 else "") + text[start : passage.start]
        after = text[passage.end : end] + ("…" if end < len(text) else "")
        return before, passage.text, after

    def documents(self) -> list[DocumentInfo]:
        """Every document in the index, by title."""
        try:
            records = self.store.manifest().values()
        except STORE_ERRORS as error:
            raise self._store_failure(error) from error
        infos = [
            DocumentInfo(
                id=r.id,
                title=r.title,
                publisher=r.publisher or None,
                published=r.published or None,
                url=r.url or None,
                path=r.path or None,
                chunks=r.chunks,
            )
            for r in records
        ]
        return sorted(infos, key=lambda d: (d.title.lower(), d.id))

    def covered(self) -> list[str]:
        """One line per document, for telling people what the material covers."""
        return [
            f"“{d.title}” ({', '.join(x for x in (d.publisher, d.published) if x)})"
            for d in self.documents()[:5]
        ]

    def _store_failure(self, error: BaseException) -> StoreUnavailableError:
        return store_failure(error, self.store.data_dir, self.store.chroma_url)

    def health(self) -> dict[str, Any]:
        """Counts and settings of the index; raises StoreUnavailableError when unreachable."""
        try:
            documents, chunks = self.store.count()
            pipeline = self.store.settings()
        except STORE_ERRORS as error:
            raise self._store_failure(error) from error
        return {
            "status": "ok" if chunks else "empty",
            "documents": documents,
            "chunks": chunks,
            "model": pipeline.get("embed_model"),
            "store": "server" if self.server else "embedded",
        }


# NUL and other control characters (tab and newlines aside) and lone UTF-16 surrogates are not
# text: JSON allows them, the tokenizers and the store do not.
_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x85\ud800-\udfff]")


# Unicode's format characters (category Cf, as of Python's tables): zero-width spaces and
# joiners, the word joiner, the byte-order mark, direction marks, tags. They show nothing, so a
# text made of them and white space is as empty as "" (tests/test_bounds.py checks the list).
# Written as escapes inside a character class that Python's re and the API schema's regex engine
# (Rust's, in pydantic-core) both read.
FORMAT_CHARACTERS = (
    r"\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    r"\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U00013438"
    r"\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f"
)
_SHOWS = re.compile(rf"[^\s{FORMAT_CHARACTERS}]")


def blank(text: str) -> bool:
    """Whether the text shows nothing: only white space and format characters."""
    return not _SHOWS.search(text)


def check_text(value: str, name: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The text stripped, or InvalidInputError saying what is wrong with it."""
    value = value.strip()
    if blank(value):
        raise InvalidInputError(f"{name} must not be empty")
    if len(value) > max_chars:
        raise InvalidInputError(f"{name} is too long: at most {max_chars} characters")
    if _NOT_TEXT.search(value):
        raise InvalidInputError(
            f"{name} contains characters that are not text (control characters or broken Unicode)"
        )
    return value


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name} must be text")
    return check_text(value, name)


def _turn(turn: Turn | dict[str, Any]) -> Turn:
    if isinstance(turn, Turn):
        return turn
    if not isinstance(turn, dict) or turn.get("role") not in ROLES:
        raise InvalidInputError("each history turn needs a role of 'user' or 'assistant'")
    content = turn.get("content")
    if not isinstance(content, str):
        raise InvalidInputError("each history turn needs text content")
    if not blank(content):
        check_text(content, "a history turn", MAX_TURN_CHARS)
    return Turn(role=str(turn["role"]), content=content)


def _context(history: Sequence[Turn | dict[str, Any]]) -> list[Turn]:
    """The turns a question is read with: all checked, the last CONTEXT_TURNS kept, each cut to
    its first CONTEXT_CHARS characters (at a space when it has one); blank ones emptied."""
    turns = [_turn(turn) for turn in history][-CONTEXT_TURNS:]
    return [Turn(t.role, "" if blank(t.content) else _opening(t.content)) for t in turns]


def _opening(text: str) -> str:
    text = text.strip()
    if len(text) <= CONTEXT_CHARS:
        return text
    words = text[: CONTEXT_CHARS + 1].rpartition(" ")[0].rstrip()
    return words or text[:CONTEXT_CHARS]


class AssistantProvider:
    """Opens the assistant on first use and again after a failure, so a server can start before
    the index exists and pick it up once `python -m index build` has run."""

    def __init__(
        self, settings: Settings | None = None, assistant: Assistant | None = None
    ) -> None:
        self.settings = settings or Settings()
        self._assistant = assistant
        self._lock = threading.Lock()

    def get(self) -> Assistant:
        """The assistant; raises IndexMissingError or StoreUnavailableError while there is none."""
        assistant = self._assistant
        if assistant is None:
            with self._lock:
                if self._assistant is None:
                    self._assistant = Assistant.load(self.settings)
                assistant = self._assistant
        return assistant

    def problem(self) -> str | None:
        """Why there is no assistant to answer now (no index, store unreachable), or None."""
        try:
            self.get()
        except AssistantError as error:
            return str(error)
        return None
