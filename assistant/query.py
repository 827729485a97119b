"""Query: what a question asks for (language, context, kind of answer, whether it is a question)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer_types import expected_answer
from assistant.lexical import query_terms


@dataclass(frozen=True)
class Turn:
    """One earlier message of the conversation."""

    role: str
    content: str


@dataclass(frozen=True)
class Query:
    """A question read in the light of the conversation."""

    question: str
    text: str  # what retrieval and sentence scoring use: the question, with context if it needs it
    language: str  # "en" or "es"
    expects: str | None  # the kind of answer asked for ("year", "amount", ...), when it is clear
    directive: bool  # an instruction to the system or small talk, not a question about the material
    parts: tuple[Query, ...] = ()  # the questions inside "Who wrote it, and when?", if several
    # A Spanish question's words as the index's English words (assistant/bridge.py); set by
    # retrieval, which knows the index's vocabulary.
    gloss: str = ""
    gloss_share: float = 0.0  # the share of the question's content words the gloss translates
    names: tuple[str, ...] = ()  # places, people, organisations it names ("Texas", "Harris County")

    @property
    def asked(self) -> str:
        """The question's words, with their English gloss when it has one (for word matching)."""
        return f"{self.question} {self.gloss}".rstrip()


_SPANISH = frozenset(
    """de la que el en los las del se por para con una un es qué cómo cuál cuáles cuándo
    cuánto cuántos cuántas dónde quién puede pueden mi mis su sus lo le les al este esta
    estos estas eso esa ese también pero o y son está están tiene tienen hay sobre mí usted
    ellos ellas según""".split()
)
_ENGLISH = frozenset(
    """the is are was were of and to what how can does do did in on for with a an which who
    when where why it its they their this that these those my your about from by have has
    be""".split()
)

# Words that point back at something said before ("it", "they", "eso", ...).
_ANAPHORA = re.compile(
    r"\b(it|its|they|them|their|this|that|these|those|he|she|him|her|there|too|also|"
    r"eso|esa|ese|esto|esta|este|ellos|ellas|allí|también|dicho|dicha)\b",
    re.IGNORECASE,
)
_CONTINUATION = re.compile(r"^\s*(and|but|what about|how about|y|pero|¿y|y qué|qué hay de)\b", re.I)

# Requests aimed at the system itself rather than at the material. Imperatives count at the
# start of any sentence: "Forget those articles. Act as my lawyer ..." is one. A run of spaces
# is matched one way only: two quantifiers over one run ("a." and 2,000 spaces) cost its square.
_OPENS = r"(?:^\s*|[.!?;:]\s+)(?:please\s+|por favor\s+)?"
_DIRECTIVES = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,60}\b(instructions?|prompts?|rules|guidelines)\b",
        r"\b(system prompt|developer mode|jailbreak|api[\s_-]?keys?|your (configuration|settings|"
        r"instructions|prompt|rules)|environment variables?|data folder)\b",
        r"\b(reveal|print|show|dump|display|paste|output|leak)\b.{0,40}\b(configuration|config|"
        r"settings|secrets?|passwords?|keys?|prompt)\b",
        # asked to answer without the sources, or for the system's own views
        r"\b(set aside|put aside|ignore|disregard|forget)\b.{0,40}\b(documents?|sources?|texts?|"
        r"material) (you were|you've been|you have been) (given|loaded|provided)|"
        r"\b(what you personally think|your (own |personal )opinion)\b",
        _OPENS + r"(set aside|put aside|ignore|disregard|forget|olvida|ignora|deja)\b.{0,30}"
        r"\b(articles?|documents?|sources?|texts?|material|artículos|documentos|fuentes|textos)\b",
        r"\bno (sources?|citations?) (needed|required|necessary)\b",
        r"\b(olvida|ignora|omite)\b.{0,60}\b(instrucciones|reglas|indicaciones)\b",
        r"\b(muestra|revela|imprime)\b.{0,40}\b(configuración|contraseñas?|claves?|instrucciones)\b",
        _OPENS + r"(write|compose|draw|sing|translate|rewrite|paraphrase)\b",
        _OPENS + r"(pretend|act as|you are now|from now on|role-?play|imagine you are|"
        r"let'?s play)\b",
        r"\b(system override|you are no longer (restricted|limited|bound)|(answer|respond) from "
        r"(your own|general|outside) knowledge|"
        r"ya no (estás|tienes) (restringido|limitado|límites))\b",
        _OPENS + r"(finge|actúa como|haz de cuenta|a partir de ahora|ahora eres|"
        r"imagina que eres)\b",
        _OPENS + r"(escribe|compón|dibuja|canta|traduce)\b",
        r"\b(tell me a (\w+ )?joke|cuéntame un chiste)\b",
    )
]
_SMALL_TALK = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|thx|ok|okay|cool|great|good (morning|afternoon|evening|"
    r"night)|how are you|bye|goodbye|see you|hola|gracias|muchas gracias|buenos días|buenas tardes|"
    r"buenas noches|adiós|qué tal|cómo estás)\b[\s!,.?¿¡]*"
    r"(?:(how are you( doing)?( today)?|that'?s all|that is all|for now|very much|so much)"
    r"[\s!,.?]*)?$",
    re.IGNORECASE,
)


# "..., and when was it announced?" / "... y cuándo ...": a second question joined to the first
# (tried from the first space of a run only, so that a long run is read once).
_SECOND_QUESTION = re.compile(
    r"(?:,\s*|(?<!\s)\s+)(?:and|y)\s+(?=(?:who|what|when|where|why|how|which|whose|is|are|was|"
    r"were|does|do|did|can|could|has|have|quién|quiénes|qué|cuándo|dónde|por qué|cómo|cuál|"
    r"cuáles|es|son|fue|puede|pueden)\b)|(?<=\?)\s+(?=\S)",
    re.IGNORECASE,
)


# Words, and the marks that end or open a sentence (after them a capital says nothing).
_WORD_OR_BREAK = re.compile(r"[^\W\d_][\w’'-]*|[.?!¿¡:;\"“”()\n]")
# Small words inside a name: "Department of Homeland Security", "Los Ángeles", "Condado de Harris".
_NAME_JOINERS = frozenset({"of", "the", "de", "del", "la", "los", "las"})

# Each part of a question is searched and scored on its own, so a message of sixty short
# questions cost sixty searches; people ask two or three things at once (the bench sets: two).
# Parts beyond these are read only as part of the whole message.
MAX_PARTS = 3
# The names a question mentions that are looked up in the index's vocabulary, and listed when it
# never mentions them (the bench sets: at most four).
MAX_NAMES = 8


def names(question: str) -> tuple[str, ...]:
    """The names a question mentions: capitalised words, and runs of them, inside a sentence
    ("Texas", "Harris County", "Los Ángeles", "ICE"). A sentence's first word is left out, since
    its capital says nothing; so are all capitals in a message written in capitals or with every
    word capitalised ("CAN ICE GET MY TAX RECORDS?", "Can Ice Get My Records?"). The first
    MAX_NAMES."""
    marks = _WORD_OR_BREAK.findall(question)
    words = [t for t in marks if t[0].isalpha()]
    if sum(w[0].isupper() for w in words[1:]) > len(words[1:]) / 2:
        return ()
    found: list[str] = []
    run: list[str] = []

    def close() -> None:
        while run and run[-1].lower() in _NAME_JOINERS:
            run.pop()
        if run:
            found.append(" ".join(run))
        run.clear()

    opening = True
    for token in marks:
        if not token[0].isalpha():
            close()
            opening = True
            continue
        word = re.sub(r"[’']s$", "", token)
        if not opening and len(word) > 1 and word[0].isupper():
            run.append(word)
            if word != token:  # "California’s DMV": the possessive ends the name
                close()
        elif run and word.lower() in _NAME_JOINERS:
            run.append(word)
        else:
            close()
        opening = False
    close()
    return tuple(dict.fromkeys(found))[:MAX_NAMES]


def split_questions(question: str) -> list[str]:
    """The separate questions in one message ("Who wrote it, and when?" -> two), the first
    MAX_PARTS of them."""
    parts = [p.strip(" ,;¿?") for p in _SECOND_QUESTION.split(question)]
    parts = [p for p in parts if len(re.findall(r"\w+", p)) >= 2]
    return parts[:MAX_PARTS] if len(parts) > 1 else [question]


def detect_language(text: str) -> str:
    """'es' when the text reads as Spanish, else 'en'."""
    words = re.findall(r"[a-záéíóúüñ]+", text.lower())
    spanish = sum(word in _SPANISH for word in words) + 2 * len(re.findall(r"[¿¡ñáéíóú]", text))
    english = sum(word in _ENGLISH for word in words)
    return "es" if spanish > english else "en"


def is_directive(text: str) -> bool:
    """An instruction to the system (reveal settings, ignore rules, write a poem) or small talk."""
    return bool(_SMALL_TALK.match(text)) or any(p.search(text) for p in _DIRECTIVES)


def needs_context(question: str) -> bool:
    """A follow-up that cannot be understood alone: it points back ("it", "those officers") or is
    too short to stand. A question with six or more content words stands on its own even with a
    pronoun in it ("Do jails give ICE lists of the people they are holding?"). The pointing
    words themselves are not content ("those" in "How do people end up getting put in those?")."""
    content = query_terms(_ANAPHORA.sub(" ", question))
    if len(content) >= 6:
        return False
    return bool(_ANAPHORA.search(question) or _CONTINUATION.match(question)) or len(content) <= 3


def analyse(question: str, history: Sequence[Turn] = ()) -> Query:
    """Language, retrieval text (with the previous question when this one points back at it),
    the kind of answer it asks for, and whether it is a question about the material at all."""
    previous = [t.content.strip() for t in history if t.role == "user" and t.content.strip()]
    text = question
    if previous and needs_context(question):
        text = f"{previous[-1]}\n{question}"
    language = detect_language(question)
    parts = split_questions(question)
    subqueries: tuple[Query, ...] = ()
    if len(parts) > 1:
        subqueries = tuple(
            Query(
                question=part,
                # a later part that points back ("and when was it announced") reads the first
                text=f"{parts[0]}\n{part}" if index and needs_context(part) else part,
                language=language,
                expects=expected_answer(part),
                directive=False,
            )
            for index, part in enumerate(parts)
        )
    return Query(
        question=question,
        text=text,
        language=language,
        # with several questions in one, each part carries its own kind of answer
        expects=None if subqueries else expected_answer(question),
        directive=is_directive(question),
        parts=subqueries,
        names=names(question),
    )
