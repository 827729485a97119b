"""Load: 16 concurrent clients, 400 mixed requests against one real server; it stays healthy."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

QUESTIONS = [
    "When did ICE start its own gang database?",
    "Can ICE use DMV photos to identify people?",
    "¿Puede ICE conseguir mi dirección a través del IRS?",
    "What information can be shared with local police?",
    "What is the capital of France?",
    "¿Qué es un acuerdo 287(g)?",
    "Do jails give ICE lists of the people they are holding?",
    "What does a 287(g) agreement let local officers do?",
]
CLIENTS = 16
REQUESTS = 400


@pytest.mark.slow
def test_sixteen_clients_four_hundred_requests(server: tuple[str, Path]) -> None:
    url, _ = server

    def client(number: int) -> list[tuple[int, bool]]:
        results = []
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(REQUESTS // CLIENTS):
                question = QUESTIONS[(number + i) % len(QUESTIONS)]
                if (number + i) % 2:
                    response = http.post("/api/ask", json={"question": question})
                    ok = response.status_code != 200 or "answered" in response.json()
                else:
                    response = http.post("/api/retrieve", json={"query": question, "k": 5})
                    ok = response.status_code != 200 or len(response.json()["passages"]) == 5
                results.append((response.status_code, ok))
        return results

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [r for batch in pool.map(client, range(CLIENTS)) for r in batch]
    seconds = time.perf_counter() - started
    statuses = Counter(status for status, _ in results)
    print(
        f"\n{len(results)} requests from {CLIENTS} clients in {seconds:.1f} s"
        f" ({len(results) / seconds:.1f}/s): {dict(statuses)}"
    )
    assert len(results) == REQUESTS
    assert set(statuses) <= {200, 429}, statuses
    assert statuses[200] > 0 and all(ok for _, ok in results)
    health = httpx.get(f"{url}/api/health", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    answer = httpx.post(f"{url}/api/ask", json={"question": QUESTIONS[0]}, timeout=60).json()
    assert answer["answered"] and "2010" in answer["answer"]
