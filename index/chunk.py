"""Chunk: documents -> citable passages (sentence-bounded, section-aware, exact offsets).

A document is read as blocks (separated by blank lines) of units (a paragraph, a list item, a
heading). Headings never become passages: they label the passages of their section (metadata
`section`, also part of the text that is embedded). Units of one section are packed into passages
of whole sentences up to `chunk_chars`; a sentence is only ever cut when it alone exceeds
`max_chars`. Lists of questions and site navigation ("The Latest" teasers, related links) are kept
as passages of their own with `kind` set, so retrieval can rank them below content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from llama_index.core.schema import BaseNode, Document, MetadataMode, NodeRelationship, TextNode

# 4: the document hash no longer joins the embedded text (ranking_text)
CHUNKER_VERSION = "4"
DEFAULT_CHUNK_CHARS = 700
DEFAULT_MAX_CHARS = 1200

CONTENT, NAVIGATION, QUESTIONS = "content", "navigation", "questions"

_BULLET = re.compile(r"^(?:[•●▪◦‣·*\-–—]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)])\s+\S")
_NUMBERED_HEADING = re.compile(r"^\d{1,2}(?:\.\d{1,2})*\.?\s+\S")
_NUMBERED_HEADING_PREFIX = re.compile(r"^\d{1,2}(?:\.\d{1,2})*\.?\s+")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(\S.*)$")
_TERMINAL = re.compile(r"[.!?:;,…]['\"’”)\]]*$")
_SENTENCE_END = re.compile(r"[.!?]['\"’”)\]]*$")
_INNER_SENTENCE = re.compile(r"[a-z]{3,}[.!?]['\"’”)\]]*\s+[A-Z]")
_MONTH = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
    r"|(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre)"
)
_DATELINE = re.compile(
    rf"^(?:(?:{_MONTH})\s+\d{{1,2}},?\s+\d{{4}}|\d{{1,2}}\s+(?:de\s+)?(?:{_MONTH})\s+(?:de\s+)?\d{{4}}"
    r"|\d{4}-\d{2}-\d{2}|(?:updated|published|posted|checked)\b.*\d{4})",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^(?:by|por)\s+\S", re.IGNORECASE)
# Headings that open the boilerplate regions of web pages: teasers, related links, newsletters.
_NAVIGATION_HEADINGS = frozenset(
    """the latest|latest|latest news|latest posts|related|related articles|related posts|
    related content|related stories|read more|read next|more from|more stories|more news|
    see also|recent posts|recent news|you may also like|you might also like|popular|most read|
    trending|share this|share|newsletter|sign up|subscribe|want to dive deeper|further reading|
    lo último|noticias relacionadas|artículos relacionados|lee también|ver también""".replace(
        "\n", ""
    ).split("|")
)
_NAVIGATION_HEADINGS = frozenset(item.strip() for item in _NAVIGATION_HEADINGS)


@dataclass(frozen=True)
class Unit:
    """A paragraph, list item or heading: [start, end) in the document text."""

    start: int
    end: int
    role: str  # "heading", "text", "bullet", "question"
    block: int


@dataclass(frozen=True)
class Passage:
    """A citable passage: its span, the section it belongs to and its sentence spans."""

    start: int
    end: int
    section: str
    kind: str
    sentences: tuple[tuple[int, int], ...]


def split_documents(
    documents: Iterable[Document],
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> list[TextNode]:
    """Split documents into passage nodes that keep start/end offsets into the document text."""
    nodes: list[TextNode] = []
    for document in documents:
        text = document.text
        title = document.metadata.get("title")
        for number, passage in enumerate(split_text(text, chunk_chars, max_chars, title)):
            metadata = dict(document.metadata)
            metadata.update(
                doc_id=document.id_,
                section=passage.section,
                kind=passage.kind,
                chunk=number,
                sentences=json.dumps(
                    [[s - passage.start, e - passage.start] for s, e in passage.sentences]
                ),
            )
            node = TextNode(
                id_=f"{document.id_}#{number}",
                text=text[passage.start : passage.end],
                start_char_idx=passage.start,
                end_char_idx=passage.end,
                metadata=metadata,
                # Only the section heading joins the passage text for ranking.
                excluded_embed_metadata_keys=[key for key in metadata if key != "section"],
                excluded_llm_metadata_keys=list(metadata),
                metadata_template="{value}",
                text_template="{metadata_str}\n\n{content}",
            )
            node.relationships[NodeRelationship.SOURCE] = document.as_related_node_info()
            nodes.append(node)
    return nodes


def ranking_text(node: BaseNode) -> str:
    """The text that is embedded and matched for a node: section heading, then passage. Built
    from those two alone, so metadata added later (the build's document hash) never joins it."""
    section = str(node.metadata.get("section") or "")
    return section_and_text(section, node.get_content(metadata_mode=MetadataMode.NONE))


def section_and_text(section: str, text: str) -> str:
    """A passage as ranked: its section heading, a blank line, its text."""
    return f"{section}\n\n{text}".strip() if section else text.strip()


def split_text(
    text: str,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
    max_chars: int = DEFAULT_MAX_CHARS,
    title: str | None = None,
) -> list[Passage]:
    """Passages of a text, in order; headings are not passages but name their sections."""
    if max_chars < chunk_chars or chunk_chars < 50:
        raise ValueError("need 50 <= chunk_chars <= max_chars")
    units = _classify(text, _units(text), title)
    passages: list[Passage] = []
    for section, kind, members in _sections(text, units):
        per_unit = [_unit_sentences(text, unit, max_chars) for unit in members]
        for group in _pack(text, per_unit, chunk_chars, max_chars):
            passages.append(Passage(group[0][0], group[-1][1], section, kind, tuple(group)))
    if not passages and text.strip():
        # A text that is nothing but a title still has to be findable and citable.
        whole = Unit(len(text) - len(text.lstrip()), len(text.rstrip()), "text", 0)
        for group in _pack(text, [_unit_sentences(text, whole, max_chars)], chunk_chars, max_chars):
            passages.append(Passage(group[0][0], group[-1][1], "", CONTENT, tuple(group)))
    return passages


def heading_spans(text: str, title: str | None = None) -> list[tuple[int, int]]:
    """Where the headings are: they label passages instead of being passages."""
    return [(u.start, u.end) for u in _classify(text, _units(text), title) if u.role == "heading"]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence spans of a piece of plain text (used for questions and answers too)."""
    return _sentences(text, 0, len(text))


# -- units and their roles -------------------------------------------------------------------


def _units(text: str) -> list[Unit]:
    """Split text into blocks (separated by blank lines) and blocks into line-based units."""
    units: list[Unit] = []
    block, offset, blank_before = 0, 0, False
    for raw in text.split("\n"):
        if not raw.strip():
            blank_before = True
            offset += len(raw) + 1
            continue
        if blank_before and units:
            block += 1
        blank_before = False
        start = offset + len(raw) - len(raw.lstrip())
        end = offset + len(raw.rstrip())
        if units and units[-1].block == block and _continues(text, units[-1], text[start:end]):
            units[-1] = Unit(units[-1].start, end, "text", block)
        else:
            units.append(Unit(start, end, "text", block))
        offset += len(raw) + 1
    return units


def _continues(text: str, unit: Unit, line: str) -> bool:
    """A line continues the unit before it when that unit looks hard-wrapped mid-sentence."""
    last_line = text[unit.start : unit.end].rsplit("\n", 1)[-1]
    if _BULLET.match(line) or _MD_HEADING.match(line) or _MD_HEADING.match(last_line):
        return False
    return len(last_line) >= 40 and not _TERMINAL.search(last_line)


def _classify(text: str, units: list[Unit], title: str | None) -> list[Unit]:
    blocks: dict[int, list[Unit]] = {}
    for unit in units:
        blocks.setdefault(unit.block, []).append(unit)
    classified: list[Unit] = []
    for index, unit in enumerate(units):
        # Standalone in its block, not counting navigation headings printed right above it.
        others = [u for u in blocks[unit.block] if u is unit or not _short_navigation(text, u)]
        alone = len(others) == 1
        classified.append(
            Unit(unit.start, unit.end, _role(text, unit, index, alone, title), unit.block)
        )
    return classified


def _role(text: str, unit: Unit, index: int, alone: bool, title: str | None) -> str:
    """heading, bullet, question or text; headings are marked, numbered, first or title-like."""
    line = text[unit.start : unit.end]
    if _MD_HEADING.match(line) or _short_navigation(text, unit):
        return "heading"
    if index == 0 and (_title_like(line, allow_question=True) or _same_text(line, title)):
        return "heading"
    if alone and _NUMBERED_HEADING.match(line) and _title_like(line, max_words=20):
        return "heading"
    if _BULLET.match(line):
        return "bullet"
    if line.endswith("?") and "\n" not in line:
        return "question"
    return "heading" if alone and _title_like(line) else "text"


# A byline names people or an organisation and nothing else ("By NILC staff", "By Ana Ruiz and
# J. Lee"); "By contrast, rates rose." is a sentence.
_CREDIT = re.compile(
    r"^(?:[Bb]y|[Pp]or)\s+[A-ZÁÉÍÓÚÑ][\w.'’-]*(?:,?\s+(?:[A-ZÁÉÍÓÚÑ][\w.'’-]*|and|y|&|de|del|la|"
    r"staff|team|editors?|reporters?))*\.?$"
)


def is_credit_line(text: str) -> bool:
    """A dateline ("Sep 22, 2017", "Checked on November 28, 2025") or a byline ("By NILC
    staff"): it says when or by whom, nothing about the subject."""
    return bool((len(text) <= 40 and _DATELINE.match(text)) or _CREDIT.match(text))


def _short_navigation(text: str, unit: Unit) -> bool:
    return unit.end - unit.start <= 60 and _is_navigation_heading(text[unit.start : unit.end])


def _same_text(line: str, title: str | None) -> bool:
    return bool(title) and " ".join(line.split()).lower() == " ".join(str(title).split()).lower()


def _title_like(line: str, max_words: int = 15, allow_question: bool = False) -> bool:
    if "\n" in line or len(line) > 160 or len(line.split()) > max_words:
        return False
    body = _NUMBERED_HEADING_PREFIX.sub("", line)
    if _DATELINE.match(body) or _BYLINE.match(body) or _INNER_SENTENCE.search(body):
        return False
    if allow_question and line.endswith("?"):
        return True
    return not _TERMINAL.search(line)


# -- sections ----------------------------------------------------------------------------------


def _heading_text(line: str) -> str:
    match = _MD_HEADING.match(line)
    return (match.group(2) if match else line).strip().strip("#").strip()


def _is_navigation_heading(heading: str) -> bool:
    key = re.sub(r"[^\w\s]", "", heading.lower()).strip()
    return key in _NAVIGATION_HEADINGS


def _sections(text: str, units: list[Unit]) -> list[tuple[str, str, list[Unit]]]:
    """Group non-heading units into (section label, kind, units), in document order."""
    groups: list[tuple[str, str, list[Unit]]] = []
    heading = ""
    region: str | None = None  # heading of a navigation region, which lasts to the end
    region_level = 0
    previous_heading: str | None = None
    teaser = False
    for unit in units:
        line = text[unit.start : unit.end]
        if unit.role == "heading":
            current = _heading_text(line)
            md = _MD_HEADING.match(line)
            level = len(md.group(1)) if md else 7
            if region is not None and md and level <= region_level:
                region = None
            if _is_navigation_heading(current):
                region, region_level = current, level
                heading, teaser = current, False
            elif current == previous_heading:
                teaser = True  # a card title printed twice: typical of teaser lists
            else:
                heading, teaser = current, False
            previous_heading = current
            continue
        previous_heading = None
        kind = NAVIGATION if region is not None or teaser else CONTENT
        label = heading if region is None or heading == region else f"{region} › {heading}"
        if unit.role == "question" and _question_block(text, units, unit):
            kind = QUESTIONS if region is None or region == heading else NAVIGATION
        if groups and groups[-1][0] == label and groups[-1][1] == kind:
            groups[-1][2].append(unit)
        else:
            groups.append((label, kind, [unit]))
    return groups


def _question_block(text: str, units: list[Unit], unit: Unit) -> bool:
    """A question that stands in a list of questions (not a question asked inside prose)."""
    neighbours = [u for u in units if u.block == unit.block and u.role != "heading"]
    questions = [u for u in neighbours if text[u.start : u.end].endswith("?")]
    return len(questions) >= 2 and len(questions) * 2 > len(neighbours)


# -- sentences and packing -----------------------------------------------------------------------


@lru_cache(maxsize=1)
def _punkt() -> Any:
    from llama_index.core.utils import globals_helper

    return globals_helper.punkt_tokenizer


# Abbreviations after which punkt wrongly ends a sentence ("the U.S. Department", "Trump v. CASA",
# "Efrén C. Olivares"). "etc." is left out: it ends sentences as often as not.
_ABBREVIATION_END = re.compile(
    r"(?:\b(?:[A-Z]\.){1,3}|\b(?:vs?|Mr|Mrs|Ms|Dr|St|No|Nos|Inc|Jr|Sr|Gov|Sen|Rep|Dept|Co|Corp|"
    r"Ltd|approx|e\.g|i\.e|cf|Fig|Art|Sec|Sra?|Dra?)\.)$"
)


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside text[start:end], with punkt's usual slips repaired."""
    piece = text[start:end]
    spans: list[tuple[int, int]] = []
    for s, e in _punkt().span_tokenize(piece):
        fragment = piece[s:e]
        before = piece[spans[-1][0] : spans[-1][1]] if spans else ""
        if spans and (
            fragment[:1].islower()
            or fragment[:1] in ",;:)]}–—-"
            or re.fullmatch(r"\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]", before)
            or _ABBREVIATION_END.search(before)
            or len(fragment.strip()) < 3
        ):
            spans[-1] = (spans[-1][0], e)
        else:
            spans.append((s, e))
    return [(start + s, start + e) for s, e in spans]


def _unit_sentences(text: str, unit: Unit, max_chars: int) -> list[tuple[int, int]]:
    if unit.role == "question":
        spans = [(unit.start, unit.end)]
    else:
        spans = _sentences(text, unit.start, unit.end)
    result: list[tuple[int, int]] = []
    for start, end in spans:
        result.extend(_cut(text, start, end, max_chars))
    return result


def _cut(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    """A sentence longer than max_chars is cut at the last space (or anywhere) before the limit."""
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cut = max(window.rfind(" "), window.rfind("\n"))
        stop = start + cut if cut > max_chars // 2 else start + max_chars
        while stop - 1 > start and text[stop - 1].isspace():  # cut after a blank line
            stop -= 1
        pieces.append((start, stop))
        start = stop
        while start < end and text[start].isspace():
            start += 1
    if start < end:
        pieces.append((start, end))
    return pieces


def _pack(
    text: str, units: list[list[tuple[int, int]]], chunk_chars: int, max_chars: int
) -> list[list[tuple[int, int]]]:
    """Whole units (paragraphs, list items) packed up to chunk_chars; bigger units split evenly."""
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for sentences in units:
        if not sentences:
            continue
        if current:
            joined = sentences[-1][1] - current[0][0]
            lead_in = text[current[-1][0] : current[-1][1]].endswith(":")
            if joined <= chunk_chars or (lead_in and joined <= max_chars):
                current.extend(sentences)
                continue
            groups.append(current)
        parts = _balanced(sentences, chunk_chars, max_chars)
        groups.extend(parts[:-1])
        current = list(parts[-1])
    if current:
        groups.append(current)
    return groups


def _balanced(
    sentences: list[tuple[int, int]], chunk_chars: int, max_chars: int
) -> list[list[tuple[int, int]]]:
    """Split one unit's sentences into the fewest groups of about equal size under the limits."""
    total = sentences[-1][1] - sentences[0][0]
    target = total / max(1, -(-total // chunk_chars))
    groups: list[list[tuple[int, int]]] = [[sentences[0]]]
    for span in sentences[1:]:
        size = groups[-1][-1][1] - groups[-1][0][0]
        if size >= target or span[1] - groups[-1][0][0] > max_chars:
            groups.append([span])
        else:
            groups[-1].append(span)
    return groups
