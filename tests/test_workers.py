"""Several app workers on one Chroma server: `python app.py --workers 2` against `chroma run`,
and both workers give the same cited answers. The log's process ids show which worker answered."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
from conftest import KNOWLEDGE, NILC, free_port

from index.build import build
from index.settings import PROJECT_ROOT
from index.store import open_store

pytestmark = pytest.mark.slow

QUESTION = "When did ICE start its own gang database?"
COLLECTION = "knowledge-workers"
TRIES = 60  # requests before giving up on reaching both workers
SOURCE = next(s for s in json.loads((KNOWLEDGE / "sources.json").read_text()) if s["file"] == NILC)


def _pids(log: Path, pattern: str) -> list[int]:
    """The process ids of the log lines matching `pattern` (after the pid), in order."""
    return [int(pid) for pid in re.findall(rf"\[(\d+)\] {pattern}", log.read_text())]


@dataclass(frozen=True)
class Workers:
    """`python app.py --workers 2`: its address, its log and the pid of its parent process."""

    url: str
    log: Path
    parent: int

    def call(self, method: str, path: str, body: dict[str, object] | None = None) -> Call:
        """One request on a new connection (so that either worker may accept it), and the pid of
        the worker that served it, read from the access line it writes just after responding."""
        pattern = rf"INFO assistant\.access: {method} {re.escape(path)} \d+ "
        before = len(_pids(self.log, pattern))
        with httpx.Client(base_url=self.url, timeout=120, headers={"Connection": "close"}) as c:
            response = c.request(method, path, json=body)
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 10
        while len(served := _pids(self.log, pattern)) == before:
            assert time.monotonic() < deadline, f"no access line for {method} {path}"
            time.sleep(0.05)
        assert len(served) == before + 1, "requests are sent one at a time"
        return Call(served[-1], response.json())


class Call(NamedTuple):
    pid: int
    body: Any


def _until_both(
    workers: Workers, method: str, path: str, body: dict[str, object] | None = None
) -> Iterator[Call]:
    """Requests, one at a time, until two different workers have answered (at most TRIES)."""
    pids: set[int] = set()
    for _ in range(TRIES):
        call = workers.call(method, path, body)
        pids.add(call.pid)
        yield call
        if len(pids) == 2:
            return
    raise AssertionError(f"{TRIES} requests to {path} all reached worker {pids}")


def _stop(process: subprocess.Popen[bytes]) -> list[int]:
    """Stops the server (its parent passes SIGTERM on to the workers) and waits for its process
    group to empty; kills and returns the pids of whatever is still there after that."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=60)
    group = process.pid  # started with start_new_session, so the group id is the parent's pid
    deadline = time.monotonic() + 15  # multiprocessing's resource tracker exits just after it
    while (left := _members(group)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        os.killpg(group, signal.SIGKILL)
    process.wait(timeout=30)
    return left


def _members(group: int) -> list[int]:
    """The live processes of a process group (zombies, already dead, are not counted)."""
    members = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            # the fields after the command name (which may contain spaces): state, ppid, pgrp, ...
            state, _, pgrp = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue
        if int(pgrp) == group and state != "Z":
            members.append(int(proc.name))
    return members


@pytest.fixture(scope="module")
def workers(
    chroma_url: str, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Workers]:
    """The corpus built into the Chroma server, served by `python app.py --workers 2`, once
    both workers have started."""
    folder = tmp_path_factory.mktemp("workers")
    store = open_store(folder / "unused", COLLECTION, chroma_url, create=True)
    report = build([corpus], store)
    assert report.ok and report.documents == 2 and report.chunks > 0

    port = free_port()
    log = folder / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(
        ASSISTANT_CHROMA_URL=chroma_url,
        ASSISTANT_COLLECTION=COLLECTION,
        ASSISTANT_RATE_LIMIT="100000/minute",
        ASSISTANT_CHAT_RATE_LIMIT="1000/minute",
        HF_HUB_OFFLINE="1",
        GRADIO_ANALYTICS_ENABLED="False",
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port), "--workers", "2"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the workers can be found and killed
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # each worker loads the models
        while len(set(_pids(log, r"INFO uvicorn\.error: Application startup complete"))) < 2:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"two workers did not start:\n{log.read_text()}"
            time.sleep(0.5)
        assert httpx.get(f"{url}/api/health", timeout=30).status_code == 200
        yield Workers(url, log, process.pid)
    finally:
        left = _stop(process)
    assert not left, f"processes outlived the server: {left}\n{log.read_text()}"


def test_each_worker_loads_the_index_at_start(workers: Workers) -> None:
    ready = _pids(
        workers.log, r"INFO assistant\.app: ready: 2 documents, \d+ chunks \(server store\)"
    )
    started = _pids(workers.log, r"INFO uvicorn\.error: Application startup complete")
    assert len(ready) == 2 and set(ready) == set(started) and workers.parent not in ready


def test_both_workers_answer_with_the_same_citation(workers: Workers) -> None:
    calls = list(_until_both(workers, "POST", "/api/ask", {"question": QUESTION}))
    for call in calls:
        answer = call.body
        assert answer["answered"] is True and "2010" in answer["answer"], answer
        documents = [citation["passage"]["document"] for citation in answer["citations"]]
        assert any(
            d["title"] == SOURCE["title"] and d["publisher"] == SOURCE["publisher"]
            for d in documents
        ), documents
    cited = {
        (c.body["answer"], tuple(x["passage"]["id"] for x in c.body["citations"])) for c in calls
    }
    assert len(cited) == 1, cited
    pids = sorted({call.pid for call in calls})
    assert workers.parent not in pids
    print(f"\nanswered by workers {pids} in {len(calls)} requests")


def test_both_workers_retrieve_the_same_passages(workers: Workers) -> None:
    body = {"query": QUESTION, "k": 8}
    calls = list(_until_both(workers, "POST", "/api/retrieve", body))
    found = {tuple(p["id"] for p in call.body["passages"]) for call in calls}
    assert len(found) == 1 and len(found.pop()) == 8


def test_both_workers_report_the_server_store(workers: Workers) -> None:
    for call in _until_both(workers, "GET", "/api/health"):
        health = call.body
        assert health["status"] == "ok" and health["store"] == "server", health
        assert health["documents"] == 2
