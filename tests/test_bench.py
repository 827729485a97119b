"""Measurement code: the metrics the eval and the SciFact benchmark report."""

from __future__ import annotations

import math

import pytest

from assistant.eval import contains_any, normalise, summarise
from bench.scifact import documents_in_order, ndcg_at, recall_at


def test_ndcg_rewards_relevant_documents_ranked_first() -> None:
    assert ndcg_at(["a", "b", "c"], {"a"}) == 1.0
    assert ndcg_at(["b", "a", "c"], {"a"}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(["b", "c"], {"a"}) == 0.0
    assert ndcg_at(["a", "x", "b"], {"a", "b"}) == pytest.approx(
        (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    )


def test_recall_counts_relevant_documents_within_k() -> None:
    assert recall_at(["a", "b", "c"], {"a", "c", "z"}, k=2) == pytest.approx(1 / 3)
    assert recall_at(["a", "b", "c"], {"a", "c", "z"}, k=100) == pytest.approx(2 / 3)


def test_a_document_counts_once_at_its_best_passage() -> None:
    assert documents_in_order(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]


def test_normalisation_matches_the_eval_readme() -> None:
    assert normalise("ICE’s  “run”\u2011checks\n") == 'ice\'s "run"-checks'
    assert contains_any("The agency’s  lists", ["agency's lists"])


def test_summary_counts_refusals_and_hits() -> None:
    rows = [
        {
            "answerable": True,
            "lang": "en",
            "rank": 1,
            "answered": True,
            "evidence": True,
            "facts": 1.0,
            "citation_problems": [],
            "latency_ms": 10.0,
        },
        {
            "answerable": True,
            "lang": "es",
            "rank": 3,
            "answered": True,
            "evidence": False,
            "facts": 0.5,
            "citation_problems": [],
            "latency_ms": 20.0,
        },
        {
            "answerable": False,
            "lang": "en",
            "rank": None,
            "answered": False,
            "evidence": False,
            "facts": None,
            "citation_problems": ["[2] has no citation"],
            "latency_ms": 30.0,
        },
    ]
    metrics = summarise(rows)
    assert (
        metrics["hit@1"] == 0.5
        and metrics["hit@3"] == 1.0
        and metrics["mrr"] == pytest.approx(0.667, abs=1e-3)
    )
    assert metrics["spanish_hit@3"] == 1.0 and metrics["answered_accuracy"] == 1.0
    assert metrics["refused_unanswerable"] == "1/1" and metrics["false_refusals"] == 0
    assert metrics["invalid_citations"] == 1 and metrics["facts"] == 0.75


def test_bench_command_runs_every_benchmark_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make bench` runs `python -m bench` with no arguments: that must mean all of them."""
    import bench.__main__ as command

    ran: list[str] = []

    class Benchmark:
        def __init__(self, name: str) -> None:
            self.name, self.__doc__ = name, f"{name} benchmark"

        def run(self, **options: object) -> dict[str, object]:
            ran.append(self.name)
            return {}

        def format_table(self, result: dict[str, object]) -> str:
            return ""

    monkeypatch.setattr(command.importlib, "import_module", lambda name: Benchmark(name))
    monkeypatch.setattr(command, "save", lambda name, result: command.PROJECT_ROOT / name)
    assert command.main([]) == 0
    assert ran == [f"bench.{name}" for name in command.BENCHMARKS]
    ran.clear()
    assert command.main(["scale", "versus"]) == 0
    assert ran == ["bench.scale", "bench.versus"]
