"""Crash safety: a build killed with SIGKILL at any point leaves an index that still answers, and
the next build converges to exactly what a clean build produces (no duplicates, no orphans)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import NILC, copy_knowledge

from assistant import Assistant
from index.build import build
from index.chunk import sentence_spans
from index.settings import PROJECT_ROOT, Settings
from index.store import open_store

WORKER = Path(__file__).parent / "helpers" / "build_worker.py"
PER_WRITE = 4  # small groups, so a build has many points to be killed at
QUESTION = "When did ICE start its own gang database?"


def _records(count: int) -> list[dict[str, Any]]:
    """JSONL records made of the shipped texts' sentences (the suite needs no outside data)."""
    sentences = [
        text[start:end]
        for path in sorted((PROJECT_ROOT / "knowledge").glob("*.txt"))
        for text in [path.read_text(encoding="utf-8")]
        for start, end in sentence_spans(text)
        if end - start > 60
    ]
    return [
        {
            "_id": f"record-{i}",
            "title": f"Record {i}",
            "text": " ".join(sentences[(i * 3 + j) % len(sentences)] for j in range(4)),
        }
        for i in range(count)
    ]


RECORDS = _records(46)


def write_version(corpus: Path, version: int) -> None:
    """Version 1 and 2 of a corpus differ in every way a build handles: a changed text file,
    changed, removed and added JSONL records."""
    nilc = corpus / NILC
    text = re.sub(
        r"gang database in 20\d\d", f"gang database in {2009 + version}", nilc.read_text()
    )
    nilc.write_text(text, encoding="utf-8")
    records = [dict(r) for r in RECORDS[:40]]
    if version == 2:
        for record in records[:5]:
            record["text"] += " This abstract was revised."
        records = records[:-3] + RECORDS[40:46]
    lines = "".join(json.dumps(r) + "\n" for r in records)
    (corpus / "scifact.jsonl").write_text(lines, encoding="utf-8")


def state(data_dir: Path) -> dict[str, Any]:
    """Everything a build leaves: manifest, passages with their text, multilingual ids."""
    store = open_store(data_dir, "knowledge", None, create=False)
    try:
        manifest = {doc_id: (r.hash, r.chunks) for doc_id, r in store.manifest().items()}
        passages = {n.node_id: n.get_content() for n in store.passages()}
        keys = store.passage_keys()
        return {
            "manifest": manifest,
            "passages": passages,
            "keys": keys,
            "counts": store.count(),
            "interrupted": store.interrupted(),
        }
    finally:
        store.close()


def clean_build(corpus: Path, data_dir: Path) -> dict[str, Any]:
    store = open_store(data_dir, "knowledge", None, create=True)
    assert build([corpus], store).ok
    store.close()
    return state(data_dir)


class Worker:
    """`build_worker.py` in its own process, watched through its progress bar."""

    def __init__(self, data_dir: Path, corpus: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(data_dir), str(corpus), str(PER_WRITE)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.output = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        while chunk := self.process.stderr.read1(4096):  # type: ignore[attr-defined]
            self.output += chunk.decode("utf-8", "replace")

    def progress(self) -> tuple[int, int] | None:
        found = re.findall(r"(\d+)/(\d+) \[", self.output)
        return (int(found[-1][0]), int(found[-1][1])) if found else None

    def kill_when(self, ready: Any, delay: float = 0.0, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while not ready(self) and self.process.poll() is None:
            assert time.monotonic() < deadline, self.output[-2000:]
            time.sleep(0.01)
        time.sleep(delay)
        finished = "finished" in self.output or self.process.poll() is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        self.reader.join(timeout=10)
        return "after it finished" if finished else "mid-build"


def _started(worker: Worker) -> bool:
    return "started" in worker.output


def _written(share: float):  # type: ignore[no-untyped-def]
    def ready(worker: Worker) -> bool:
        done = worker.progress()
        return (
            done is not None and done[0] >= max(1, share * done[1]) if share else done is not None
        )

    return ready


KILL_POINTS = [
    ("while loading models", _started, 1.0),
    ("as writing starts", _written(0.0), 0.0),
    ("after the first group", _written(0.01), 0.0),
    ("half way through", _written(0.5), 0.0),
    ("after every group, while finishing", _written(1.0), 0.0),
    ("after every group, a moment later", _written(1.0), 0.4),
]


@pytest.mark.slow
def test_killed_builds_keep_answering_and_converge(tmp_path: Path) -> None:
    corpus = copy_knowledge(tmp_path / "corpus")
    references = {}
    for version in (1, 2):
        write_version(corpus, version)
        references[version] = clean_build(corpus, tmp_path / f"clean-{version}")
    assert references[1]["manifest"] != references[2]["manifest"]

    data = tmp_path / "data"
    write_version(corpus, 1)
    assert clean_build(corpus, data)["passages"] == references[1]["passages"]

    outcomes = []
    for attempt, (name, ready, delay) in enumerate(KILL_POINTS):
        target = 2 if attempt % 2 == 0 else 1
        write_version(corpus, target)
        when = Worker(data, corpus).kill_when(ready, delay)

        # The killed index still answers, from what it had or what the build completed.
        killed = state(data)
        assistant = Assistant.load(Settings(data_dir=data))
        answer = assistant.ask(QUESTION)
        assistant.store.close()
        assert answer.answered and re.search(r"gang database in 201[01]", answer.answer), name
        if when == "mid-build":
            assert killed["interrupted"], name

        # The next build converges to the clean build of the same corpus, exactly.
        store = open_store(data, "knowledge", None, create=True)
        report = build([corpus], store)
        store.close()
        assert report.ok, name
        recovered = state(data)
        expected = references[target]
        assert recovered["manifest"] == expected["manifest"], name
        assert recovered["passages"] == expected["passages"], name
        assert recovered["keys"] == expected["keys"], name  # both collections, nothing extra
        assert recovered["counts"] == expected["counts"] and not recovered["interrupted"], name
        outcomes.append((name, when, report.swept))
    print("\nkill points:", outcomes)
    shutil.rmtree(tmp_path / "clean-1", ignore_errors=True)
