"""The server keeps answering while `python -m index build` rebuilds its index in another process,
and switches to the new version when the build completes."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import NILC, app_environment, build_index, copy_knowledge, wait_until_up

from index.settings import PROJECT_ROOT

QUESTION = "When did ICE start its own gang database?"


@pytest.mark.slow
def test_answers_continue_through_a_rebuild(tmp_path: Path, start_app: Any) -> None:
    corpus = copy_knowledge(tmp_path / "knowledge")
    env = app_environment(
        ASSISTANT_DATA_DIR=str(tmp_path / "data"),
        ASSISTANT_KNOWLEDGE_DIR=str(corpus),
        ASSISTANT_RATE_LIMIT="0",
    )
    build_index(env)
    url, server = start_app(env)
    wait_until_up(f"{url}/api/health", server, 120)

    def year(response: httpx.Response) -> str:
        body = response.json()
        found = re.search(r"gang database in (\d{4})", body.get("answer", ""))
        if response.status_code == 200 and found:
            return found.group(1)
        return f"{response.status_code} {body.get('answer', body)!s:.60}"

    with _asking(url, year, pause=0.1) as answers:
        _change_and_rebuild(corpus, env)
    counts = Counter(answers)
    print(f"\n{len(answers)} answers during the rebuild: {dict(counts)}")
    assert set(counts) <= {"2010", "2016"}, counts  # every answer whole: old or new, nothing else
    assert answers[-1] == "2016"
    first_new = answers.index("2016")
    assert all(a == "2016" for a in answers[first_new:])  # no flapping back
    documents = httpx.get(f"{url}/api/documents", timeout=30).json()["documents"]
    assert len(documents) == 3


@contextlib.contextmanager
def _asking(url: str, record: Callable[[httpx.Response], Any], pause: float) -> Iterator[list[Any]]:
    """Asks QUESTION again and again in a thread while the block runs; yields what `record`
    made of each answer, in order."""
    answers: list[Any] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                answers.append(record(client.post("/api/ask", json={"question": QUESTION})))
                time.sleep(pause)

    asker = threading.Thread(target=ask)
    asker.start()
    try:
        yield answers
    finally:
        stop.set()
        asker.join()


def _change_and_rebuild(corpus: Path, env: dict[str, str]) -> None:
    """Edit a document, add one, and run an incremental build while the server answers."""
    nilc = corpus / NILC
    nilc.write_text(nilc.read_text().replace("gang database in 2010", "gang database in 2016"))
    (corpus / "added.txt").write_text(
        "Notes: a county jail shares booking lists with ICE every night.\n"
    )
    rebuilt = subprocess.run(
        [sys.executable, "-m", "index", "build", "--quiet"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    time.sleep(5)  # long enough for the server to notice the new revision
    assert rebuilt.returncode == 0, rebuilt.stderr


def _collections(env: dict[str, str]) -> list[str]:
    """The names of the index's collections in the app's store, as another client reads them."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False)
    if "ASSISTANT_CHROMA_URL" in env:
        port = int(env["ASSISTANT_CHROMA_URL"].rsplit(":", 1)[1])
        client: Any = chromadb.HttpClient(host="127.0.0.1", port=port, settings=settings)
    else:
        client = chromadb.PersistentClient(path=env["ASSISTANT_DATA_DIR"], settings=settings)
    try:
        names = (c.name for c in client.list_collections())
        return sorted(n for n in names if n.startswith(env["ASSISTANT_COLLECTION"]))
    finally:
        if "ASSISTANT_CHROMA_URL" not in env:
            client.close()


def _index(*arguments: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "index", *arguments, "--quiet"],
        env=env,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["embedded", "server"])
def test_a_rebuild_never_interrupts_answers(
    mode: str, tmp_path: Path, start_app: Any, request: pytest.FixtureRequest
) -> None:
    """`build --rebuild` builds beside the live index and switches when complete: every answer
    before, during and after it (and during a rebuild killed half way) is the same. The killed
    rebuild's collections are gone after the next build, the replaced ones after the switch."""
    name = f"rebuild-{mode}"
    settings = {
        "ASSISTANT_KNOWLEDGE_DIR": str(copy_knowledge(tmp_path / "knowledge")),
        "ASSISTANT_RATE_LIMIT": "0",
        "ASSISTANT_COLLECTION": name,
        "ASSISTANT_DATA_DIR": str(tmp_path / "data"),
    }
    if mode == "server":
        settings["ASSISTANT_CHROMA_URL"] = request.getfixturevalue("chroma_url")
    env = app_environment(**settings)
    build_index(env)
    live = _collections(env)
    url, server = start_app(env)
    wait_until_up(f"{url}/api/health", server, 120)
    with httpx.Client(base_url=url, timeout=60) as client:
        first = client.post("/api/ask", json={"question": QUESTION}).json()
    source = first["citations"][0]["passage"]["id"]
    assert first["answered"] and "2010" in first["answer"]

    def outcome(response: httpx.Response) -> tuple[int, bool, str | None]:
        body = response.json()
        citations = body.get("citations") or [{"passage": {"id": None}}]
        return response.status_code, bool(body.get("answered")), citations[0]["passage"]["id"]

    with _asking(url, outcome, pause=0.05) as answers:
        # A rebuild killed as soon as its new generation exists leaves the live index alone.
        killed = _index("build", "--rebuild", env=env)
        deadline = time.monotonic() + 120
        while len(_collections(env)) <= len(live) and killed.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        killed.kill()
        killed.wait(timeout=30)
        left = _collections(env)
        finished = _index("build", env=env)
        assert finished.wait(timeout=300) == 0, finished.communicate()
        assert _collections(env) == live, left  # what the killed rebuild wrote is gone
        during_kill = len(answers)

        rebuilt = _index("build", "--rebuild", env=env)
        assert rebuilt.wait(timeout=300) == 0, rebuilt.communicate()
        during_rebuild = len(answers) - during_kill
        time.sleep(3)  # more answers from the new generation, the old one now deleted
    after = _collections(env)
    print(f"\n{mode}: {during_kill} answers around a killed rebuild (it left {left}),")
    print(f"{during_rebuild} during a rebuild, {len(answers)} in all; now {after}")
    assert during_rebuild >= 10 and len(answers) > during_kill + during_rebuild
    assert Counter(answers) == Counter({(200, True, source): len(answers)})
    generations = [n for n in after if n != f"{name}-live"]  # the pointer to the live one
    assert len(generations) == len(live) and not set(generations) & set(live)  # only the new
