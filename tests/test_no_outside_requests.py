"""Nothing leaves the machine: the index build and the running app, traced by strace in every
process and thread under a fresh empty HOME, connect to nothing but loopback and local sockets,
send no DNS query, and write nothing under HOME (ONNX Runtime's telemetry did all three)."""

from __future__ import annotations

import codecs
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import app_environment, free_port, wait_until_up

from index.settings import OFFLINE_ENVIRONMENT, PROJECT_ROOT

pytestmark = pytest.mark.slow

STRACE = shutil.which("strace")
# Every call that can reach another host: glibc's resolver uses sendmmsg for A and AAAA at once.
TRACED = "trace=connect,sendto,sendmsg,sendmmsg"
# Families that stay on this machine: local sockets, the kernel's routing tables, a disconnect.
LOCAL_FAMILIES = {"AF_UNIX", "AF_NETLINK", "AF_UNSPEC"}
ENGLISH = "When did ICE start its own gang database?"
SPANISH = "¿Cuándo empezó ICE su propia base de datos de pandillas?"


def fresh_environment(home: Path, **settings: str) -> dict[str, str]:
    """An operator's environment with an empty HOME and none of the tests' offline variables."""
    # The code must set the offline variables itself; XDG folders would move caches out of HOME.
    env = {
        name: value
        for name, value in app_environment(**settings).items()
        if name not in OFFLINE_ENVIRONMENT and not name.startswith(("XDG_", "ORT_"))
    }
    env["HOME"] = str(home)
    return env


def traced(command: list[str], trace: Path) -> list[str]:
    """`command` under strace, following every process and thread, its calls written to `trace`."""
    assert STRACE, "strace is missing: `apt-get install strace` (make test installs it)"
    options = ["-f", "--seccomp-bpf", "-qq", "-s", "256", "-e", TRACED, "-o", str(trace)]
    return [STRACE, *options, *command]


def outside_requests(trace: Path) -> list[str]:
    """The traced calls to anything but loopback or a local socket, and every DNS query."""
    found = []
    for line in trace.read_text().splitlines():
        for family, fields in re.findall(r"sa_family=(AF_\w+)([^}]*)", line):
            if family in LOCAL_FAMILIES:
                continue
            port = re.search(r"port=htons\((\d+)\)", fields)
            host = re.search(r'inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', fields)
            # port 53 at any address, loopback resolvers included: a lookup names a host
            if not (port and host) or port[1] == "53" or not _loopback(host[1]):
                found.append(line)
    return found


def _loopback(host: str) -> bool:
    address = ipaddress.ip_address(host)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_loopback


def looked_up(trace: Path) -> set[str]:
    """The host names in the DNS queries the traced processes sent (for the failure message)."""
    names = set()
    for packet in re.findall(
        r'send(?:to|msg|mmsg)\(\d+, .*?"((?:[^"\\]|\\.)*)"', trace.read_text()
    ):
        data, position, labels = codecs.escape_decode(packet)[0], 12, []
        while position < len(data) and 0 < data[position] < 64:
            label = data[position + 1 : position + 1 + data[position]]
            labels.append(label.decode("ascii", "replace"))
            position += 1 + data[position]
        if labels:
            names.add(".".join(labels))
    return names


def written_under(home: Path) -> list[str]:
    """Every file and folder the traced processes left under HOME."""
    return sorted(str(path.relative_to(home)) for path in home.rglob("*"))


def check(trace: Path, home: Path) -> None:
    """No outside request in `trace`, nothing under `home`; what there is, listed."""
    problems = []
    if requests := outside_requests(trace):
        problems.append(
            f"{len(requests)} calls beyond loopback or to DNS, looking up {looked_up(trace)}:\n"
            + "\n".join(requests[:20])
        )
    if (home / ".cache" / "Microsoft").exists():
        problems.append("ONNX Runtime telemetry wrote under HOME/.cache/Microsoft")
    if written := written_under(home):
        problems.append(f"written under a fresh HOME: {written}")
    assert not problems, "\n".join(problems)


def test_trace_sees_every_thread_and_process(tmp_path: Path) -> None:
    """The check can fail: connections from a thread and from a child process are found."""
    # UDP sockets only connect (no packet is sent): to a documentation address, to a DNS port.
    program = tmp_path / "reach.py"
    program.write_text(
        "import socket, subprocess, sys, threading\n"
        "def reach(family, host, port):\n"
        "    socket.socket(family, socket.SOCK_DGRAM).connect((host, port))\n"
        "if sys.argv[1:] == ['child']:\n"
        "    reach(socket.AF_INET6, '::1', 53)\n"
        "else:\n"
        "    threading.Thread(target=reach, args=(socket.AF_INET, '192.0.2.1', 9)).start()\n"
        "    subprocess.run([sys.executable, __file__, 'child'])\n"
        "    reach(socket.AF_INET, '127.0.0.1', 9)\n"
    )
    trace = tmp_path / "strace.log"
    subprocess.run(traced([sys.executable, str(program)], trace), check=True, timeout=60)
    found = "\n".join(outside_requests(trace))
    assert found.count("connect(") == 2, found
    assert '"192.0.2.1"' in found and '"::1"' in found, found


@dataclass(frozen=True)
class Build:
    """A traced `python -m index build`: the settings it ran with, its trace and its HOME."""

    settings: dict[str, str]
    trace: Path
    home: Path


# The embedded store with the default encoder (ONNX Runtime), and a Chroma server with the
# PyTorch encoder (sentence-transformers, transformers and llama-index's HuggingFace embedding).
@pytest.fixture(scope="module", params=["embedded", "chroma-server-torch"])
def traced_build(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, corpus: Path
) -> Build:
    """`python -m index build` of the corpus under strace and a fresh HOME, as on a new machine."""
    # a fresh model folder: the ONNX export (torch) and, as the app starts, the quantiser are traced
    folder = tmp_path_factory.mktemp(f"traced-build-{request.param}")
    home = folder / "home"
    home.mkdir()
    settings = {
        "ASSISTANT_DATA_DIR": str(folder / "data"),
        "ASSISTANT_KNOWLEDGE_DIR": str(corpus),
        "ASSISTANT_MODEL_DIR": str(folder / "models"),
    }
    if request.param == "chroma-server-torch":
        settings["ASSISTANT_CHROMA_URL"] = request.getfixturevalue("chroma_url")
        settings["ASSISTANT_ENCODER"] = "torch"
    trace = folder / "strace.log"
    command = traced([sys.executable, "-m", "index", "build", "--quiet"], trace)
    env = fresh_environment(home, **settings)
    build = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600
    )
    assert build.returncode == 0, build.stdout + build.stderr
    return Build(settings, trace, home)


def test_index_build_reaches_nothing_outside(traced_build: Build) -> None:
    check(traced_build.trace, traced_build.home)


def test_server_reaches_nothing_outside(traced_build: Build, tmp_path: Path) -> None:
    """Questions in English and Spanish over the JSON API and one through the web chat's queue."""
    home = tmp_path / "home"
    home.mkdir()
    trace, log = tmp_path / "strace.log", tmp_path / "server.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = traced([sys.executable, "app.py", "--port", str(port)], trace)
    with log.open("w") as out:
        strace = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=fresh_environment(home, **traced_build.settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_up(f"{url}/api/health", strace, 180, log)
        with httpx.Client(base_url=url, timeout=120) as client:
            for question in (ENGLISH, SPANISH):
                answer = client.post("/api/ask", json={"question": question})
                assert answer.status_code == 200, answer.text
                assert answer.json()["citations"], answer.text
            passages = client.post("/api/retrieve", json={"query": ENGLISH, "k": 3})
            assert passages.status_code == 200, passages.text
            assert ask_in_chat(client, ENGLISH)["success"]
    finally:
        stop_traced(strace)
    # uvicorn ends a graceful shutdown by re-raising the signal, and strace exits as its child did
    assert strace.returncode in (0, -signal.SIGTERM), log.read_text()
    check(trace, home)


def ask_in_chat(client: httpx.Client, question: str) -> dict[str, Any]:
    """One question through the web chat's queue, as the page sends it; the final message."""
    page = client.get("/").text  # the page carries its config, as the browser reads it
    start = page.index("gradio_config = ") + len("gradio_config = ")
    config, _ = json.JSONDecoder().raw_decode(page, start)
    box = next(c["id"] for c in config["components"] if c["props"].get("elem_id") == "question")
    asked = next(d for d in config["dependencies"] if [box, "submit"] in d["targets"])
    # what pressing Enter in the question box sends: every other input as the page first shows it
    shown = {c["id"]: c["props"].get("value") for c in config["components"]}
    data = [question if i == box else shown.get(i) for i in asked["inputs"]]
    body = {"data": data, "fn_index": asked["id"], "session_hash": "abc"}
    joined = client.post("/gradio_api/queue/join", json=body)
    assert joined.status_code == 200, joined.text
    with client.stream("GET", "/gradio_api/queue/data", params={"session_hash": "abc"}) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                message: dict[str, Any] = json.loads(line.removeprefix("data:"))
                if message.get("msg") == "process_completed":
                    return message
    raise AssertionError("the chat's queue closed before the answer was complete")


def stop_traced(strace: subprocess.Popen[bytes]) -> None:
    """Stop the traced app with SIGTERM, as `make run` is stopped; strace exits with it."""
    # The signal goes to the app, not to strace, so that its shutdown is traced too.
    children = Path(f"/proc/{strace.pid}/task/{strace.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    for pid in pids:
        os.kill(int(pid), signal.SIGTERM)
    if not pids:
        strace.terminate()
    strace.wait(timeout=60)
