"""Eval: a question file -> retrieval, answer, citation and latency metrics (eval/README.md)."""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.core import Assistant
from assistant.types import Answer
from index.errors import InvalidInputError

_CITATION = re.compile(r"\[(\d+)\]")
_DASHES = re.compile(r"[\u2010-\u2015\u2212\u00ad\ufe58\ufe63\uff0d]")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'", "´": "'"})
RETRIEVE_K = 10


def normalise(text: str) -> str:
    """NFKC, straight quotes, one kind of dash, single spaces, lower case (eval/README.md)."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _DASHES.sub("-", text)
    return re.sub(r"\s+", " ", text).strip().lower()


def contains_any(text: str, phrases: Iterable[str]) -> bool:
    haystack = normalise(text)
    return any(normalise(phrase) in haystack for phrase in phrases if phrase)


@dataclass
class Question:
    id: str
    question: str
    kind: str
    lang: str
    answerable: bool
    gold: list[str]
    facts: list[str]
    history: list[dict[str, str]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Question:
        return cls(
            id=str(record["id"]),
            question=str(record["question"]),
            kind=str(record.get("kind", "")),
            lang=str(record.get("lang", "en")),
            answerable=bool(record.get("answerable", True)),
            gold=list(record.get("gold") or []),
            facts=list(record.get("facts") or []),
            history=list(record.get("history") or []),
        )


def read_questions(path: Path) -> list[Question]:
    """Questions of a JSONL file in the format of eval/dev.jsonl."""
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(Question.from_dict(json.loads(line)))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise InvalidInputError(f"{path}:{number}: not a question record ({error})") from None
    return questions


def citation_problems(assistant: Assistant, answer: Answer) -> list[str]:
    """What is wrong with an answer's citations: unmatched markers, passages not in their source."""
    problems = []
    numbers = {citation.n for citation in answer.citations}
    for marker in sorted({int(n) for n in _CITATION.findall(answer.answer)}):
        if marker not in numbers:
            problems.append(f"[{marker}] has no citation")
    for citation in answer.citations:
        passage = citation.passage
        source = assistant.store.document_text(passage.document.id)
        if source is None or source[passage.start : passage.end] != passage.text:
            problems.append(
                f"[{citation.n}] is not verbatim at {passage.start}-{passage.end} of its source"
            )
    return problems


def evaluate(assistant: Assistant, questions: list[Question]) -> dict[str, Any]:
    """Run every question through retrieval and answering; return metrics and per-question rows."""
    rows = []
    for q in questions:
        passages = assistant.retrieve(q.question, RETRIEVE_K, history=q.history)
        rank = next((i + 1 for i, p in enumerate(passages) if contains_any(p.text, q.gold)), None)
        started = time.perf_counter()
        answer = assistant.ask(q.question, q.history)
        latency = time.perf_counter() - started
        first = answer.citations[0].passage.text if answer.citations else ""
        found = [fact for fact in q.facts if normalise(fact) in normalise(answer.answer)]
        rows.append(
            {
                "id": q.id,
                "kind": q.kind,
                "lang": q.lang,
                "answerable": q.answerable,
                "rank": rank,
                "answered": answer.answered,
                "evidence": bool(answer.answered and q.gold and contains_any(first, q.gold)),
                "facts": len(found) / len(q.facts) if q.facts else None,
                "citation_problems": citation_problems(assistant, answer),
                "latency_ms": round(latency * 1000, 1),
                "answer": answer.answer,
            }
        )
    return {"metrics": summarise(rows), "questions": rows}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    spanish = [r for r in answerable if r["lang"] == "es"]

    def hit(group: list[dict[str, Any]], k: int) -> float | None:
        return _mean([1.0 if r["rank"] and r["rank"] <= k else 0.0 for r in group])

    latencies = sorted(r["latency_ms"] for r in rows)
    return {
        "questions": len(rows),
        "answerable": len(answerable),
        "hit@1": hit(answerable, 1),
        "hit@3": hit(answerable, 3),
        "hit@5": hit(answerable, 5),
        "mrr": _mean([1.0 / r["rank"] if r["rank"] else 0.0 for r in answerable]),
        "spanish_hit@3": hit(spanish, 3),
        "answered_accuracy": _mean(
            [1.0 if r["answered"] == r["answerable"] else 0.0 for r in rows]
        ),
        "evidence@1": _mean([1.0 if r["evidence"] else 0.0 for r in answerable]),
        "facts": _mean([r["facts"] for r in answerable if r["facts"] is not None]),
        "refused_unanswerable": f"{sum(not r['answered'] for r in unanswerable)}"
        f"/{len(unanswerable)}",
        "false_refusals": sum(not r["answered"] for r in answerable),
        "citation_validity": _mean([0.0 if r["citation_problems"] else 1.0 for r in rows]),
        "invalid_citations": sum(len(r["citation_problems"]) for r in rows),
        "latency_p50_ms": _percentile(latencies, 50),
        "latency_p95_ms": _percentile(latencies, 95),
    }


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _percentile(values: list[float], pct: int) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(pct / 100 * len(values) + 0.5) - 1))
    return values[index]


def format_report(result: dict[str, Any]) -> str:
    """The metrics as aligned lines, then the questions that missed."""
    lines = [f"{name:>22}  {value}" for name, value in result["metrics"].items()]
    misses = [
        r
        for r in result["questions"]
        if r["answered"] != r["answerable"]
        or (r["answerable"] and (r["rank"] != 1 or not r["evidence"]))
        or r["citation_problems"]
    ]
    if misses:
        lines.append("")
        lines.append("questions to look at (rank of first gold passage, answered, evidence):")
        for r in misses:
            lines.append(
                f"  {r['id']:<8} {r['kind']:<14} rank={r['rank'] or '-'} answered={r['answered']}"
                f" evidence={r['evidence']} {'; '.join(r['citation_problems'])}"
            )
    return "\n".join(lines)
