"""Bridge: Spanish question words mapped onto the index's own English words."""

from __future__ import annotations

from assistant import Assistant
from assistant.query import analyse


def test_spanish_words_map_to_the_english_words_of_the_index(assistant: Assistant) -> None:
    bridge = assistant.retriever.snapshot().bridge
    gloss, share = bridge.gloss("¿Comparte la policía las huellas digitales con las cárceles?")
    assert {"police", "fingerprints", "jails"} <= set(gloss.split())
    assert 0.75 <= share <= 1.0  # "digitales" has no counterpart in this corpus
    # nothing but words the index uses
    assert set(gloss.split()) <= bridge.known


def test_question_words_and_stop_words_map_to_nothing(assistant: Assistant) -> None:
    assert assistant.retriever.snapshot().bridge.gloss("¿Qué es lo que hay?") == ("", 0.0)


def test_only_spanish_questions_get_a_gloss(assistant: Assistant) -> None:
    retriever = assistant.retriever
    assert retriever.glossed(analyse("Do jails share fingerprints with ICE?")).gloss == ""
    spanish = retriever.glossed(analyse("¿Quién escribió el informe y cuándo se publicó?"))
    assert spanish.gloss and all(part.gloss for part in spanish.parts)


def test_a_spanish_question_finds_the_english_sentence_that_answers(assistant: Assistant) -> None:
    answer = assistant.ask("¿Dejan las cárceles entrar a los agentes de ICE?")
    assert answer.answered
    assert "give ICE agents access to jails" in answer.citations[0].passage.text
