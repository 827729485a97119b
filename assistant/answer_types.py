"""Answer types: the kind of answer a question asks for, and whether a sentence can supply it.

"How much does it cost ...?" can only be answered by a sentence that states an amount, "What year
...?" by one with a date, "How many ...?" by one with a number. A passage about the right topic that
lacks that kind of fact does not answer the question, however similar it is.
"""

from __future__ import annotations

import re

from assistant.lexical import tokens

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|enero|febrero|marzo|abril|mayo|"
    r"junio|julio|agosto|septiembre|octubre|noviembre|diciembre)"
)
_NUMBER_WORDS = (
    r"(?:hundreds?|thousands?|millions?|billions?|dozens?|several|one|two|three|four|five|six|"
    r"seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"cientos|miles|millones|docenas|varios|varias)"
)

_ASKS: list[tuple[str, re.Pattern[str]]] = [
    (
        "phone",
        re.compile(
            r"\b(phone|telephone|hotline|tip line|fax)\b.{0,20}\b(number|line)?|"
            r"\bnúmero de (teléfono|fax)|\bteléfono\b",
            re.I,
        ),
    ),
    (
        "amount",
        re.compile(
            r"\bhow much\b.{0,40}\b(cost|costs|charge|charges|pay|price|fee|fees|money|spend)\b|"
            r"\b(what|which) (is|are) the (fee|fees|price|cost)s?\b|\bcuánto (cuesta|cuestan|cobra|"
            r"se paga|hay que pagar)|\b(costo|precio|tarifa) de\b",
            re.I,
        ),
    ),
    (
        "year",
        re.compile(
            # "When did ... start?" asks for a date; "When do jails call ICE?" for circumstances.
            r"^\s*(what year|which year|in what year|since when|what date|on what date)\b|"
            r"^\s*when (did|was|were|had)\b|"
            r"^\s*how (up[- ]to[- ]date|recent|current) (is|are|was|were)\b|"
            r"^\s*¿?\s*(en qué año|qué año|desde cuándo|en qué fecha|de cuándo es|qué tan "
            r"(actualizad[oa]|reciente))\b|"
            r"^\s*¿?\s*cuándo (se )?(\w+(ó|aron|ieron)|fue|fueron)\b",
            re.I,
        ),
    ),
    (
        "location",
        re.compile(
            r"^\s*where (is|are) (the )?(nearest|closest|local|main)?\b.{0,40}\b(office|offices|"
            r"building|located|headquarters|court|jail|facility)\b|"
            r"\b(street )?address of (the|an?)\b|^\s*¿?\s*dónde (está|están|queda|quedan)\b|"
            r"\bdirección de la (oficina|corte|cárcel)\b",
            re.I,
        ),
    ),
    (
        "author",
        re.compile(
            r"^\s*(who (wrote|authored|published|issued|released|is the author of)|"
            r"¿?\s*quién (escribió|publicó|es (el|la) autor))\b",
            re.I,
        ),
    ),
    (
        "duration",
        re.compile(
            r"^\s*(how long|for how long)\b|\bhow many (seconds|minutes|hours|days|weeks|months|"
            r"years)\b|^\s*¿?\s*(cuánto tiempo)\b|\b(cuántos (segundos|minutos|días|meses|años)|"
            r"cuántas (horas|semanas))\b",
            re.I,
        ),
    ),
    (
        # "Which states have passed laws ...?": only a sentence naming places answers it
        "place",
        re.compile(
            r"\b(which|what) (u\.?s\.? )?(states|cities|counties|towns)\b(?!['’])|"
            r"\bqué (estados|ciudades|condados|pueblos)\b",
            re.I,
        ),
    ),
    ("court", re.compile(r"\b(which|what) (court|judge)s?\b|\bqué (corte|tribunal|juez)", re.I)),
    # anywhere: "Exactly how many ...", "Do you know how many ...", "¿Sabe cuántos ...?"
    ("count", re.compile(r"\bhow many\b|\b(cuántos|cuántas)\b", re.I)),
]

_STATES = (
    r"Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|"
    r"Hawaii|Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|"
    r"Michigan|Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|"
    r"New Mexico|New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|"
    r"Rhode Island|South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|"
    r"West Virginia|Wisconsin|Wyoming|Puerto Rico"
)

_SUPPLIES: dict[str, re.Pattern[str]] = {
    # a state, or a named county, city or parish (case matters: "the county" names none)
    "place": re.compile(
        rf"\b({_STATES})\b|\b[A-Z][a-z]+( [A-Z][a-z]+)* (County|City|Parish)\b|\bCity of [A-Z]"
    ),
    "court": re.compile(
        r"\b(Supreme|District|Circuit|Appeals|Superior|Immigration|Federal) Court\b|"
        r"\bCourt of Appeals\b|\b(Suprema )?Corte Suprema\b|\bSuprema Corte\b|\b\w+ v\. \w+"
    ),
    "location": re.compile(
        r"\b\d{1,5}\s+[A-Z][\w.]*(\s+[A-Z][\w.]*)*\s+(street|st|avenue|ave|road|rd|boulevard|blvd|"
        r"drive|dr|lane|way|plaza|suite)\b|\b(located|headquartered|based) (at|in|on)\b",
        re.I,
    ),
    "author": re.compile(
        r"^(by|por)\s+\S|\b(written|published|authored|issued|released|prepared) by\b|\bauthors?\b",
        re.I,
    ),
    "phone": re.compile(r"\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b|\b1-8\d\d\b"),
    "amount": re.compile(
        r"[$€£]\s?\d|\b\d[\d,.]*\s?(dollars|usd|euros)\b|\b(free of charge|no cost|no fee)\b", re.I
    ),
    "year": re.compile(rf"\b(1[89]|20)\d\d\b|\b{_MONTHS}\b\.?\s+\d{{1,2}}", re.I),
    "duration": re.compile(
        rf"\b(\d+|{_NUMBER_WORDS}|a|an)\s+(seconds?|minutes?|hours?|days?|weeks?|months?|years?)\b|"
        r"\b(indefinitely|permanently|forever)\b",
        re.I,
    ),
    "count": re.compile(rf"\b\d[\d,.]*\b|\b{_NUMBER_WORDS}\b", re.I),
}


# "When was that article published?", "How up to date is the Factually write-up?", "¿En qué fecha
# fue revisado el análisis …?": a question about when a source was written or checked, which the
# source's dateline answers. It must name a source ("the answer", "el análisis") or point back to
# one ("When was it published?", "¿… eso?").
_WRITTEN = (
    r"(publish(ed)?|check(ed)?|writ(e|ten)|wrote|updated?|posted|review(ed)?|up[- ]to[- ]date|"
    r"recent|current|publicad[oa]|public(ó|aron)|revisad[oa]|revis(ó|aron)|escrit[oa]|"
    r"escribi(ó|eron)|actualizad[oa]|actualiz(ó|aron)|reciente|de cuándo (es|son))"
)
_WRITES = re.compile(rf"\b{_WRITTEN}\b", re.I)
_SOURCE = re.compile(
    r"\b(article|page|answer|analysis|report|piece|source|document|guide|explainer|write-?up|"
    r"artículo|análisis|página|respuesta|informe|fuente|documento|guía)\b|"
    rf"\b(it|that|this|eso|esto)\s*({_WRITTEN}\b|[?¿.]|$)|\b{_WRITTEN}\s+(it|that|this|eso|esto)\b",
    re.I,
)
# A line that opens with a date, perhaps after "Checked on" or "Published": a source's dateline
# ("Checked on November 28, 2025"), or an item of a list of dated news ("Jun 24, 2025 More than …").
_DATELINE = re.compile(
    rf"^((checked|published|updated|last updated|posted|reviewed)( on)?:?\s+)?{_MONTHS}\.?\s+"
    r"\d{1,2},?\s+\d{4}(\.?$|\s+(?-i:[A-Z]))",
    re.I,
)


def asks_source_date(question: str) -> bool:
    """Whether a question asks when a source was published, written or checked."""
    return (
        expected_answer(question) == "year"
        and bool(_WRITES.search(question))
        and bool(_SOURCE.search(question))
    )


def is_dateline(sentence: str) -> bool:
    """Whether a sentence opens with the date of its source or of the item it begins."""
    return bool(_DATELINE.match(sentence.strip()))


# Each sentence of a message is read as it begins: "I live in Houston. When did ...?", "Buenas
# tardes. ¿En qué fecha ...?"; a follow-up's opening word ("And when was it published?", "¿Y
# cuándo empezó?") is set aside.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|(?=¿)")
_OPENING = re.compile(r"^(\s*¿?)\s*(and|but|so|then|y|e|pero|entonces)\b[\s,]*", re.I)


def expected_answer(question: str) -> str | None:
    """The kind of answer a question asks for, when its wording makes that clear."""
    for sentence in _SENTENCE_BREAK.split(question):
        sentence = _OPENING.sub(r"\1", sentence)
        for kind, pattern in _ASKS:
            if pattern.search(sentence):
                return kind
    return None


_NUMBER = re.compile(r"\b\d+\b")


def supplies(kind: str | None, sentence: str, question: str = "") -> bool:
    """Whether a sentence states the kind of fact asked for (always true when nothing is asked).
    Numbers the question itself contains ("How many 287(g) agreements ...") do not count.
    `question` may carry a Spanish question's English gloss, so its words can be matched."""
    if kind is None:
        return True
    # one pass over the sentence, however many numbers the question holds (a pass per number
    # made a question of 400 numbers cost 400 passes over every candidate sentence)
    asked_numbers = set(re.findall(r"\d+", question))
    if asked_numbers:
        sentence = _NUMBER.sub(lambda m: " " if m[0] in asked_numbers else m[0], sentence)
    if kind == "count":
        # A count answers "how many X" when it counts X: "more than 280 immigrants" answers how
        # many immigrants, "several models" does not answer how many counties. A year is no count.
        asked = set(tokens(question))
        sentence = re.sub(r"\b(1[89]|20)\d\d\b", " ", sentence)
        for number in _SUPPLIES["count"].finditer(sentence):
            counted = tokens(sentence[number.end() : number.end() + 60])
            if counted and counted[0] in asked:
                return True
        return False
    return bool(_SUPPLIES[kind].search(sentence))
