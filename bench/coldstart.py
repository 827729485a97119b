"""Cold start: from `python app.py` to a 200 from /api/health, beside a bare import of the stack
(the libraries the app is built on, imported and nothing else), alternated, median of three."""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any

from bench.common import table, timed
from bench.server import serve
from index.settings import PROJECT_ROOT

STACK = (
    "torch",
    "sentence_transformers",
    "chromadb",
    "llama_index.core",
    "llama_index.embeddings.huggingface",
    "gradio",
    "fastapi",
    "uvicorn",
)
RUNS = 3


def bare_imports() -> float:
    code = f"import {', '.join(STACK)}"
    _, seconds = timed(
        lambda: subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)
    )
    return seconds


def app_ready() -> float:
    with serve() as server:
        return server.ready_seconds


def run(runs: int = RUNS) -> dict[str, Any]:
    with serve():  # once, so that a first-ever start (model export, index load) is not timed
        pass
    imports, ready = [], []
    for _ in range(runs):
        imports.append(bare_imports())
        ready.append(app_ready())
    median_imports, median_ready = statistics.median(imports), statistics.median(ready)
    return {
        "stack": list(STACK),
        "bare_imports_s": [round(s, 2) for s in imports],
        "app_ready_s": [round(s, 2) for s in ready],
        "median_bare_imports_s": round(median_imports, 2),
        "median_app_ready_s": round(median_ready, 2),
        "ratio": round(median_ready / median_imports, 2),
    }


def format_table(result: dict[str, Any]) -> str:
    rows = [
        [
            "bare imports of the stack",
            result["median_bare_imports_s"],
            " ".join(map(str, result["bare_imports_s"])),
        ],
        [
            "python app.py until /api/health is 200",
            result["median_app_ready_s"],
            " ".join(map(str, result["app_ready_s"])),
        ],
    ]
    return (
        table(["cold start", "median s", "runs"], rows)
        + f"\nready / bare imports: {result['ratio']}x (target <= 1.3x)"
    )
