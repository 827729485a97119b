"""Shared fixtures: offline guard, clean settings, one index of the corpus built per session,
and the real servers (the app, a Chroma server) that tests talk to over loopback."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from index.settings import OFFLINE_ENVIRONMENT, PROJECT_ROOT

os.environ.update(OFFLINE_ENVIRONMENT)

KNOWLEDGE = PROJECT_ROOT / "knowledge"
NILC = "nilc-untangling-the-immigration-enforcement-web-2017.txt"
FACTUALLY = "factually-local-police-ice-identity-checks-2025.txt"

# -- nothing may leave the machine: every outbound connection attempt is recorded and refused --

OUTBOUND: list[str] = []
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _local(host: object) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", "", "0.0.0.0", "::"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(sock: socket.socket, address: object) -> object:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):  # type: ignore[index]
        OUTBOUND.append(repr(address))
        raise ConnectionRefusedError(f"test guard: connection to {address!r} refused (offline)")
    return _connect(sock, address)


def _guarded_connect_ex(sock: socket.socket, address: object) -> int:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):  # type: ignore[index]
        OUTBOUND.append(repr(address))
        return 111
    return _connect_ex(sock, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
    if isinstance(host, bytes):
        host = host.decode()
    if not _local(host):
        OUTBOUND.append(f"lookup {host}")
        raise socket.gaierror(f"test guard: lookup of {host!r} refused (offline)")
    return _getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]


@pytest.fixture(autouse=True)
def _no_outbound_requests() -> Iterator[None]:
    before = len(OUTBOUND)
    yield
    attempts = OUTBOUND[before:]
    assert not attempts, f"something tried to reach the network: {attempts}"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each test starts from default settings with its data in its own folder."""
    for name in list(os.environ):
        if name.startswith("ASSISTANT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ASSISTANT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASSISTANT_KNOWLEDGE_DIR", str(tmp_path / "knowledge"))


# -- the corpus and its index, built once --------------------------------------------------


def copy_knowledge(target: Path) -> Path:
    """A copy of the shipped corpus (texts and sources.json) in `target`."""
    shutil.copytree(KNOWLEDGE, target, dirs_exist_ok=True)
    return target


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_knowledge(tmp_path_factory.mktemp("knowledge", numbered=False))


@pytest.fixture(scope="session")
def index_settings(tmp_path_factory: pytest.TempPathFactory, corpus: Path):  # type: ignore[no-untyped-def]
    """Settings of an index of the corpus, built once for the session (read-only for tests)."""
    from index.build import build
    from index.settings import Settings
    from index.store import open_store

    settings = Settings(data_dir=tmp_path_factory.mktemp("index"), knowledge_dir=corpus)
    store = open_store(settings.data_dir, settings.collection, None, create=True)
    report = build([corpus], store)
    assert report.ok and report.chunks > 0
    return settings


@pytest.fixture(scope="session")
def assistant(index_settings):  # type: ignore[no-untyped-def]
    from assistant import Assistant

    return Assistant.load(index_settings)


@pytest.fixture(scope="session")
def embed_model():  # type: ignore[no-untyped-def]
    """The English model as the build runs it (full precision, whatever encodes questions)."""
    from index.embed import english_model

    return english_model(passages=True)


def make_pdf(path: Path, lines: list[str]) -> Path:
    """A one-page PDF with the given lines of text (Helvetica), written without any library."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    stream = "BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({t}) Tj T*" for t in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        " /Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    path.write_bytes(out)
    return path


# -- one real server, shared by the HTTP, gradio_client and browser tests ---------------------


def wait_until_up(url: str, process: Any, seconds: float, log: Path | None = None) -> None:
    """Poll `url` until it answers 200; fail if the process exits first or time runs out."""
    import time

    import httpx

    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, log.read_text() if log else f"{url}: the process exited"
        assert time.monotonic() < deadline, f"{url} did not answer 200 within {seconds} s"
        time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_environment(**settings: str) -> dict[str, str]:
    """This process's environment without any ASSISTANT_* variable, plus these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(settings)
    return env


def build_index(env: dict[str, str]) -> None:
    """`python -m index build` with this environment, as an operator would run it."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "index", "build", "--quiet"]
    subprocess.run(command, env=env, check=True, cwd=PROJECT_ROOT)


@contextlib.contextmanager
def app_process(env: dict[str, str], log: Path | None = None) -> Iterator[tuple[str, Any]]:
    """`python app.py` on a free port with this environment (output to `log`, or dropped);
    yields its URL and process, and stops it afterwards."""
    import subprocess
    import sys

    port = free_port()
    with log.open("w") if log else contextlib.nullcontext() as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if out else subprocess.DEVNULL,
        )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def start_app() -> Iterator[Any]:
    """Starts `python app.py` processes for one test (see app_process); stops them after it."""
    with contextlib.ExitStack() as stack:
        yield lambda env, log=None: stack.enter_context(app_process(env, log))


@pytest.fixture(scope="session")
def server(index_settings, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """`python app.py` on a free port over the session index; yields (url, log file)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = app_environment(
        ASSISTANT_DATA_DIR=str(index_settings.data_dir),
        ASSISTANT_CHAT_RATE_LIMIT="1000/minute",  # the tests ask many questions quickly
        ASSISTANT_RATE_LIMIT="100000/minute",
    )
    with app_process(env, log) as (url, process):
        wait_until_up(f"{url}/api/health", process, 120, log)
        yield url, log


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (`chroma run`) on a free loopback port, for the tests of one module."""
    import subprocess
    import sys

    chroma = shutil.which("chroma", path=str(Path(sys.executable).parent))
    assert chroma, "the chroma command comes with the chromadb package"
    port = free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(folder), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/api/v2/heartbeat", process, 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
