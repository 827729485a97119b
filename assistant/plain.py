"""Plain words: what people call things -> what the material calls them ("tax people" -> IRS).

People asking a helpline name agencies, records and tools by their everyday names; the material
uses the official ones. "Could the tax people give my address to immigration?" is answered by a
sentence about "an IRS–ICE memorandum allowing ICE to request taxpayer identity/address
information", and neither MiniLM nor BM25 links "tax people" to "IRS" (the cosine of that
sentence is below that of a generic one). The table below gives, for everyday words of this
subject and for the acronyms the material leaves unexplained ("personal information" -> PII), the
material's words; a question that uses one is read with them added in parentheses
("the tax people (IRS taxpayer)"), by every ranking and by the sentence scores. Only words the
index itself uses are added: for a corpus that never names the IRS the entry does nothing.

The table is about the subject, not about any question: each entry is a common way of naming
something the material names otherwise. bench/README.md has what it changed on each question set.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# (everyday words, as a regular expression matched on whole words; the material's words)
PLAIN_WORDS: tuple[tuple[str, str], ...] = (
    (
        r"taxes|tax (?:returns?|records?|info(?:rmation)?|filings?)"
        r"|tax (?:people|office|agency|man|guys|folks)",
        "IRS taxpayer",
    ),
    (r"(?:finger )?prints", "fingerprints"),
    (r"cops?|911", "police"),
    (r"feds", "federal"),
    (r"(?:la )?migra", "ICE immigration"),
    # the noun only: "a deal with ICE", not "how police deal with"
    (r"(?:an?|the|some|this|that|these|those|any|such|its|their|our|your|his) deals?", "agreement"),
    (r"eyes|eye scans?", "iris"),
    (r"face (?:scans?|scanning|recognition|matching)", "facial recognition"),
    (r"health insurance|medi-?cal|health coverage", "Medicaid"),
    (r"gang lists?", "gang database"),
    # what local agencies get for cooperating: "do the feds pay the county?", "does the county
    # get anything back?"
    (
        r"pay(?:s|ing)? (?:local|the|them|police|count(?:y|ies)|sheriffs?|departments?|jails?)"
        r"|(?:get|gets|getting|receive|receives) (?:anything|something|money|paid)"
        r"|compensat\w+",
        "reimbursements incentives",
    ),
    (r"licen[cs]e office|motor vehicles? (?:office|agency)", "DMV"),
    # people who no longer call the police: the material's "avoiding police", "mistrust"
    (
        r"(?:stop|stopped|quit|won'?t|wo n't|afraid to|scared to|stay away from|avoid|avoiding)"
        r"(?: even)?(?: calling| call)? (?:911|the cops|the police|police|cops)"
        r"|dej(?:ar|a|an|aron|ó) de llamar a la polic[ií]a|no llaman? a la polic[ií]a"
        r"|miedo (?:a|de) (?:llamar a )?la polic[ií]a",
        "avoiding police mistrust",
    ),
    # the verb people use, the noun the material uses
    (r"complain(?:ing|ed|s)?|quej\w+|reclam(?:ar|o|os)", "complaints"),
    # acronyms the material uses without spelling them out
    (
        r"personal(?:ly)? (?:identifiable )?(?:info(?:rmation)?|details|data|identifiers?)"
        r"|datos personales|informaci[oó]n personal",
        "PII",
    ),
    (r"memorand(?:um|a) of (?:agreement|understanding)|contracts?", "MOA"),
    (r"privacy impact assessments?", "PIA"),
    # Spanish everyday names the word-by-word gloss (assistant/bridge.py) does not carry over
    (r"impuestos|declaraci[oó]n de impuestos", "IRS taxpayer"),
    (r"seguro m[eé]dico", "Medicaid"),
    (r"listas? de pandill\w+", "gang database"),
    (r"(?:les?|se) pagan?|reciben? (?:algo|dinero)", "reimbursements incentives"),
)

_ENTRIES = tuple(
    (re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE), formal) for pattern, formal in PLAIN_WORDS
)


def in_plain_words(text: str, known: Callable[[str], bool]) -> str:
    """`text` with the material's words for its everyday words added in parentheses, keeping
    only those the index uses (`known`); the text as it is when it has none."""
    for pattern, formal in _ENTRIES:
        if not pattern.search(text):
            continue
        added = " ".join(word for word in formal.split() if known(word))
        if added:
            text = pattern.sub(rf"\g<0> ({added})", text)
    return text
