"""A damaged index is found and said so: `index status` checks that the store reads back whole,
`index build` refuses to build on it, and the server answers 503 with a message that points to
the README's recovery steps (never a 500, never a path or the library's text)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import app_environment, build_index, copy_knowledge, wait_until_up

from index.settings import PROJECT_ROOT

QUESTION = "When did ICE start its own gang database?"
RECOVERY = "Recovering a damaged index"


def index(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "index", *arguments]
    return subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )


def garble(database: Path) -> None:
    """Overwrite 8 KB at a quarter, half and three quarters of the file, as a bad disk might."""
    size = database.stat().st_size
    with database.open("r+b") as file:
        for share in (0.25, 0.5, 0.75):
            file.seek(int(size * share))
            file.write(bytes(range(256)) * 32)


def test_status_and_build_find_a_garbled_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = app_environment(
        ASSISTANT_DATA_DIR=str(data),
        ASSISTANT_KNOWLEDGE_DIR=str(copy_knowledge(tmp_path / "knowledge")),
    )
    build_index(env)
    assert index("status", env=env).returncode == 0
    garble(data / "chroma.sqlite3")

    status = index("status", "--json", env=env)
    assert status.returncode == 1
    report = json.loads(status.stdout)
    assert report["ready"] is False and report["damaged"] is True
    assert RECOVERY in report["error"] and "mv " in report["recover"]
    for arguments in (("build",), ("build", "--rebuild")):
        built = index(*arguments, "--quiet", env=env)
        assert built.returncode == 1, (arguments, built.stdout)
        assert built.stderr.startswith("error: the index is damaged"), built.stderr
        assert RECOVERY in built.stderr and "Traceback" not in built.stderr

    # The recovery the README gives: move the data folder aside and build again.
    shutil.move(data, tmp_path / "data.damaged")
    build_index(env)
    assert index("status", env=env).returncode == 0


@pytest.mark.slow
def test_the_server_answers_503_for_a_damaged_store(tmp_path: Path, start_app: Any) -> None:
    data = tmp_path / "data"
    env = app_environment(
        ASSISTANT_DATA_DIR=str(data),
        ASSISTANT_KNOWLEDGE_DIR=str(copy_knowledge(tmp_path / "knowledge")),
        ASSISTANT_RATE_LIMIT="0",
    )

    def unavailable(url: str, damaged: bool) -> None:
        for response in (
            httpx.get(f"{url}/api/health", timeout=30),
            httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60),
        ):
            assert response.status_code == 503, response.text
            detail = response.json()["detail"]
            assert (RECOVERY in detail) == damaged, detail
            # what reaches a client names no server path and carries no library text
            for leak in (str(tmp_path), "chroma", "sqlite3", "database disk image", "Error"):
                assert leak not in detail, detail

    url, first = start_app(env)  # before there is any index
    wait_until_up(url, first, 120)
    unavailable(url, damaged=False)
    build_index(env)
    wait_until_up(f"{url}/api/health", first, 60)
    assert httpx.post(f"{url}/api/ask", json={"question": QUESTION}, timeout=60).json()["answered"]

    database = data / "chroma.sqlite3"
    os.truncate(database, database.stat().st_size // 2)
    unavailable(url, damaged=True)  # damaged under a running server

    url, second = start_app(env)  # a server started on the damaged store
    wait_until_up(url, second, 120)
    unavailable(url, damaged=True)
