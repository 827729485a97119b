"""Plain words: everyday names of agencies and records read with the material's own words."""

from __future__ import annotations

from assistant import Assistant
from assistant.plain import in_plain_words
from assistant.query import analyse


def _everything(word: str) -> bool:
    return True


def test_everyday_words_get_the_material_words_beside_them() -> None:
    text = in_plain_words("Could the tax people or the cops see my finger prints?", _everything)
    assert "tax people (IRS taxpayer)" in text
    assert "cops (police)" in text
    assert "finger prints (fingerprints)" in text
    # the material writes "PII" and "MOAs" without spelling them out
    text = in_plain_words("What personal information is in the contract?", _everything)
    assert "personal information (PII)" in text and "contract (MOA)" in text


def test_only_words_the_index_uses_are_added() -> None:
    question = "Could the tax people see my address?"
    assert in_plain_words(question, lambda word: word == "IRS") == (
        "Could the tax people (IRS) see my address?"
    )
    assert in_plain_words(question, lambda word: False) == question


def test_whole_words_and_the_right_sense_only() -> None:
    # the verb "deal with" is no agreement, "fingerprints" needs nothing, "syntax" is no tax
    for text in (
        "How do police deal with fingerprints?",
        "Does the syntax of the taxonomy matter?",
        "Keep an eye on it",
    ):
        assert in_plain_words(text, _everything) == text
    assert "a deal (agreement)" in in_plain_words("Has the county a deal with ICE?", _everything)


def test_the_retriever_reads_english_and_spanish_questions_in_the_material_words(
    assistant: Assistant,
) -> None:
    retriever = assistant.retriever
    english = retriever.glossed(analyse("Do the cops send my prints to the feds?"))
    assert "cops (police)" in english.text and "prints (fingerprints)" in english.text
    assert "feds (federal)" in english.text
    assert english.question == "Do the cops send my prints to the feds?"  # shown as asked
    spanish = retriever.glossed(analyse("¿La migra puede ver mis datos del DMV?"))
    assert "La migra (ICE immigration)" in spanish.text and spanish.gloss
    gangs = retriever.glossed(analyse("¿Me pueden meter en una lista de pandilleros?"))
    assert "lista de pandilleros (gang database)" in gangs.text


def test_a_question_in_everyday_words_finds_what_the_material_says(assistant: Assistant) -> None:
    prints = assistant.ask(
        "My husband got booked and they took his prints. Do those go to immigration?"
    )
    assert prints.answered
    assert "fingerprint" in prints.answer.split("[1]")[0]
    deal = assistant.ask("Does the sheriff have some deal where deputies act like immigration?")
    assert "287(g)" in deal.answer.split("[1]")[0]


def test_personal_information_finds_the_list_of_what_is_shared(assistant: Assistant) -> None:
    for question in (
        "Which personal details about me can ICE and the local police pass to each other?",
        "¿Qué datos personales míos se pasan la policía y ICE?",
    ):
        answer = assistant.ask(question)
        assert "date of birth" in answer.answer.split("[1]")[0]


def test_paying_local_agencies_reads_as_the_material_reimbursements() -> None:
    text = in_plain_words("Does the sheriff get anything for working with ICE?", _everything)
    assert text == "Does the sheriff get anything (reimbursements incentives) for working with ICE?"
    # paying taxes is not paying the locals
    assert "reimbursements" not in in_plain_words("I pay my taxes every year.", _everything)


def test_a_question_about_money_for_cooperating_finds_the_reimbursements(
    assistant: Assistant,
) -> None:
    for question in (
        "Is the federal government paying the sheriffs to help with deportations?",
        "¿Les pagan a los condados por cooperar con inmigración?",
    ):
        passages = assistant.retrieve(question, 3)
        assert any("reimbursements" in p.text for p in passages), question


def test_not_calling_the_police_finds_what_the_material_warns_of(assistant: Assistant) -> None:
    for question in (
        "Why are people scared to call the police now?",
        "¿Por qué la gente deja de llamar a la policía?",
    ):
        assert "(avoiding police mistrust)" in in_plain_words(question, _everything)
    question = "Why did my neighbors stop calling the police after the sheriff joined up with ICE?"
    passages = assistant.retrieve(question, 3)
    assert any("people avoiding police" in p.text for p in passages)


def test_complaining_finds_where_the_material_says_complaints_can_be_filed(
    assistant: Assistant,
) -> None:
    assert "quejar (complaints)" in in_plain_words("¿Me puedo quejar?", _everything)
    question = "Who do I complain to if an officer misuses a fingerprint scanner on me?"
    assert "file complaints" in assistant.retrieve(question, 1)[0].text
