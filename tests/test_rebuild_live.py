"""The server keeps answering while `python -m index build` rebuilds its index in another process,
and switches to the new version when the build completes."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections import Counter
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

    answers: list[str] = []
    stop = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while not stop.is_set():
                response = client.post("/api/ask", json={"question": QUESTION})
                body = response.json()
                found = re.search(r"gang database in (\d{4})", body.get("answer", ""))
                answers.append(
                    found.group(1)
                    if response.status_code == 200 and found
                    else f"{response.status_code} {body.get('answer', body)!s:.60}"
                )
                time.sleep(0.1)

    asker = threading.Thread(target=ask)
    asker.start()
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
    stop.set()
    asker.join()
    assert rebuilt.returncode == 0, rebuilt.stderr
    counts = Counter(answers)
    print(f"\n{len(answers)} answers during the rebuild: {dict(counts)}")
    assert set(counts) <= {"2010", "2016"}, counts  # every answer whole: old or new, nothing else
    assert answers[-1] == "2016"
    first_new = answers.index("2016")
    assert all(a == "2016" for a in answers[first_new:])  # no flapping back
    documents = httpx.get(f"{url}/api/documents", timeout=30).json()["documents"]
    assert len(documents) == 3
