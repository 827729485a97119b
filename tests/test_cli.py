"""Command line: `python -m index build|status` and `python -m assistant ask|retrieve|eval`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import NILC, copy_knowledge

from index.settings import PROJECT_ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=os.environ.copy(),
        timeout=300,
    )


def test_build_status_ask_retrieve_and_eval(tmp_path: Path) -> None:
    copy_knowledge(Path(os.environ["ASSISTANT_KNOWLEDGE_DIR"]))

    status = run("index", "status", "--json")
    assert status.returncode == 1 and json.loads(status.stdout)["chunks"] == 0

    built = run("index", "build", "--json")
    assert built.returncode == 0, built.stderr
    report = json.loads(built.stdout)
    assert report["added"] == 2 and report["chunks_added"] == report["chunks"] > 0

    again = run("index", "build", "--json")
    assert json.loads(again.stdout)["chunks_added"] == 0

    status = json.loads(run("index", "status", "--json").stdout)
    assert status["documents"] == 2 and status["chunks"] == report["chunks"]

    asked = run("assistant", "ask", "When did ICE start its own gang database?", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answered"] and "2010" in answer["answer"]
    assert answer["citations"][0]["passage"]["document"]["id"] == NILC

    text = run("assistant", "ask", "When did ICE start its own gang database?")
    assert "2010" in text.stdout and "Sources:" in text.stdout and "[1]" in text.stdout

    retrieved = json.loads(run("assistant", "retrieve", "DMV photos", "-k", "2", "--json").stdout)
    assert len(retrieved["passages"]) == 2

    questions = tmp_path / "questions.jsonl"
    questions.write_text(
        json.dumps(
            {
                "id": "q1",
                "question": "When did ICE start its own gang database?",
                "lang": "en",
                "kind": "fact",
                "answerable": True,
                "gold": ["started its own gang database in 2010"],
                "facts": ["2010"],
            }
        )
        + "\n"
        + json.dumps(
            {"id": "q2", "question": "What is the capital of France?", "answerable": False}
        )
        + "\n"
    )
    evaluated = run("assistant", "eval", str(questions), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    metrics = json.loads(evaluated.stdout)["metrics"]
    assert metrics["questions"] == 2 and metrics["invalid_citations"] == 0
    assert {"hit@1", "hit@3", "hit@5", "mrr", "evidence@1", "facts", "latency_p50_ms"} <= set(
        metrics
    )


def test_build_names_bad_files_and_exits_nonzero(tmp_path: Path) -> None:
    corpus = copy_knowledge(Path(os.environ["ASSISTANT_KNOWLEDGE_DIR"]))
    (corpus / "broken.pdf").write_bytes(b"not a pdf at all")
    built = run("index", "build")
    assert built.returncode == 1
    assert "broken.pdf" in built.stderr and "PDF" in built.stderr
    assert "2 added" in built.stdout


def test_errors_are_messages_not_tracebacks() -> None:
    asked = run("assistant", "ask", "anything")
    assert asked.returncode == 1
    assert "python -m index build" in asked.stderr and "Traceback" not in asked.stderr
    empty = run("assistant", "retrieve", "   ")
    assert empty.returncode == 1 and "Traceback" not in empty.stderr
