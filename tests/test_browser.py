"""The web chat in a real browser: Debian's Chromium driven by Playwright, against a real server."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from conftest import app_environment, build_index, wait_until_up

from index.settings import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags measured to work here (DEPENDENCIES.md); background networking would try outside hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOT = PROJECT_ROOT / "docs" / "chat-answer.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is missing: `make test` installs it (apt chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _open(browser: Any, url: str, hosts: set[str], **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.on("request", lambda request: hosts.add(urlparse(request.url).netloc))
    # as long as an answer may take: the server's start-up warm-up shares the two cores with
    # Chromium, and once in a few suite runs the page took longer than the default 30 s
    # (not "networkidle": the page keeps a heartbeat stream open while it is shown)
    page.goto(url, wait_until="load", timeout=90_000)
    # Gradio renders after its scripts load: a loaded page is not yet a drawn one
    page.wait_for_selector("#question textarea", state="visible", timeout=90_000)
    return page


def _ask(page: Any, question: str) -> None:
    box = page.locator("#question textarea")
    box.click()
    box.fill(question)
    box.press("Enter")  # the keyboard is enough: no mouse needed to ask
    page.wait_for_selector("#sources li", timeout=90_000)


def test_ask_see_cited_answer_open_source_copy_and_switch_language(
    server: tuple[str, Path], browser: Any
) -> None:
    url, _ = server
    hosts: set[str] = set()
    page = _open(browser, url, hosts, locale="en-US", viewport={"width": 1280, "height": 900})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])

    assert page.locator("#notice").is_visible()  # the framing is visible without scrolling
    assert "not legal advice" in page.locator("#notice").inner_text()
    assert page.get_by_label("Your question").is_visible()

    _ask(page, "When did ICE start its own gang database?")
    reply = page.locator("#chat .message").last.inner_text()
    assert "2010" in reply and "[1]" in reply
    source = page.locator("#source-1")
    assert "Untangling the Immigration Enforcement Web" in source.inner_text()
    assert "National Immigration Law Center (NILC)" in source.inner_text()
    assert "2017-09-22" in source.inner_text()

    source.locator("summary").click()
    highlighted = source.locator("mark")
    assert highlighted.is_visible() and "gang database in 2010" in highlighted.inner_text()
    assert len(source.locator(".context").inner_text()) > len(highlighted.inner_text())
    if os.environ.get("UPDATE_SCREENSHOTS"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    page.locator("#copy").click()
    page.wait_for_function("document.querySelector('#copy-status').innerText.includes('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("ICE even started its own gang database in 2010. [1]")
    assert "\nSources:\n[1] Untangling the Immigration Enforcement Web" in copied
    assert "National Immigration Law Center (NILC). 2017-09-22" in copied

    page.get_by_label("Staff view (top passages and scores)").check()
    page.wait_for_selector("#staff-panel tr >> nth=2")
    assert "gang database in 2010" in page.locator("#staff-panel").inner_text()

    page.get_by_role("tab", name="Library").click()
    library = page.locator("#library")
    library.wait_for()
    assert "How do local law enforcement and ICE coordinate" in library.inner_text()
    page.get_by_role("tab", name="Ask").click()

    page.get_by_label("Español").check()
    page.wait_for_function("document.querySelector('#notice').innerText.includes('asesoría legal')")
    assert page.get_by_label("Su pregunta").is_visible()
    assert "¿Qué es un acuerdo 287(g)?" in page.locator("#examples").inner_text()

    assert hosts == {urlparse(url).netloc}, f"requests left the origin: {hosts}"


def test_spanish_browser_gets_spanish_interface_and_fits_a_phone(
    server: tuple[str, Path], browser: Any
) -> None:
    url, _ = server
    hosts: set[str] = set()
    page = _open(browser, url, hosts, locale="es-MX", viewport={"width": 390, "height": 844})
    page.wait_for_function("document.querySelector('#notice').innerText.includes('asesoría legal')")
    assert page.locator("#language input[value='Español']").is_checked()
    _ask(page, "¿Puede ICE usar los registros del DMV para encontrar a una persona?")
    reply = page.locator("#chat .message").last.inner_text()
    assert "Las fuentes están en inglés" in reply and "[1]" in reply
    assert page.locator("#sources").inner_text().startswith("Fuentes")
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
    assert page.locator("#ask").is_visible() and page.locator("#question textarea").is_visible()
    assert hosts == {urlparse(url).netloc}, f"requests left the origin: {hosts}"


# -- what a document, its metadata or a person writes is shown as text, never as markup --------

OUTSIDE = "203.0.113.10"  # TEST-NET-3: never a real host
HOSTILE_TEXT = f"""Secure Communities and fingerprints

Fingerprints taken at a county jail are sent to the FBI and then checked by ICE under Secure
Communities. <img src=http://{OUTSIDE}/quote.png> The fingerprint program began in 2008 and
reached every county by 2013. <video autoplay src=http://{OUTSIDE}/v.mp4></video> ICE then decides
whether to ask the jail to hold the person. <a href=http://{OUTSIDE}/>click here</a> for the
fingerprint program's history.
"""
HOSTILE_SOURCES = [
    {
        "file": "hostile.txt",
        "title": f"Fingerprints <img src=http://{OUTSIDE}/title.png> explained",
        "publisher": f"<a href=http://{OUTSIDE}/>click here</a>",
        "published": f"![x](http://{OUTSIDE}/published.png)",
        "url": f"http://{OUTSIDE}/page",
    }
]


def test_document_metadata_and_question_text_are_shown_as_text(
    browser: Any, tmp_path: Path, start_app: Any
) -> None:
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "hostile.txt").write_text(HOSTILE_TEXT)
    (knowledge / "sources.json").write_text(json.dumps(HOSTILE_SOURCES))
    env = app_environment(
        ASSISTANT_KNOWLEDGE_DIR=str(knowledge), ASSISTANT_DATA_DIR=str(tmp_path / "data")
    )
    build_index(env)
    url, process = start_app(env)
    wait_until_up(f"{url}/api/health", process, 120)

    requested: list[str] = []
    hosts: set[str] = set()
    page = _open(browser, url, hosts, locale="en-US", viewport={"width": 1280, "height": 900})
    try:  # the page holds a stream open: close it before the server is stopped
        _check_shown_as_text(page, url, hosts, requested)
    finally:
        page.context.close()


def _check_shown_as_text(page: Any, url: str, hosts: set[str], requested: list[str]) -> None:
    page.on("request", lambda request: requested.append(request.url))
    question = f"When did the fingerprint program begin? <img src=http://{OUTSIDE}/question.png>"
    _ask(page, question)
    page.locator("#source-1 summary").click()
    page.get_by_label("Staff view (top passages and scores)").check()
    page.wait_for_selector("#staff-panel tr >> nth=1")
    page.get_by_role("tab", name="Library").click()
    page.locator("#library").wait_for()
    page.get_by_role("tab", name="Ask").click()
    page.wait_for_timeout(1000)  # anything that would load has had its chance

    assert not [r for r in requested if OUTSIDE in r], "markup from the material was made live"
    assert hosts == {urlparse(url).netloc}, f"requests left the origin: {hosts}"
    made = page.locator(f"[src*='{OUTSIDE}'], [href*='{OUTSIDE}'], video")
    assert made.count() == 0, "an element was made from text"
    # and the text is there to read, as written
    chat = page.locator("#chat").inner_text()
    assert f"<img src=http://{OUTSIDE}/question.png>" in chat
    assert "<img src=http" in page.locator("#sources").inner_text()
    assert "<" in page.locator("#staff-panel").inner_text()
    assert f"![x](http://{OUTSIDE}/published.png)" in page.locator("#notice").inner_text()
    library = page.locator("#library").inner_text()
    assert f"Fingerprints <img src=http://{OUTSIDE}/title.png> explained" in library


# -- nothing of a conversation outlives the tab ----------------------------------------------------

STORED_JS = """async () => {
  const local = Object.entries(localStorage).map(([k, v]) => k + '=' + v);
  const session = Object.entries(sessionStorage).map(([k, v]) => k + '=' + v);
  const databases = indexedDB.databases ? (await indexedDB.databases()).map(d => d.name) : [];
  const cached = 'caches' in window ? await caches.keys() : [];
  return {local, session, databases, cached, cookie: document.cookie};
}"""


def test_a_conversation_is_not_kept_in_the_browser(server: tuple[str, Path], browser: Any) -> None:
    url, _ = server
    hosts: set[str] = set()
    page = _open(browser, url, hosts, locale="en-US")
    _ask(page, "When did ICE start its own gang database? (asked by Wilhelmina Oyelaran)")
    assert "Oyelaran" in page.locator("#chat").inner_text()
    stored = page.evaluate(STORED_JS)
    assert "Oyelaran" not in json.dumps(stored), stored
    assert not [key for key in stored["local"] if "run-history" in key], stored
    assert stored["databases"] == [] and stored["cached"] == [], stored

    # "New conversation" clears what the page shows ...
    page.locator("#new").click()
    page.wait_for_function("!document.querySelector('#chat').innerText.includes('Oyelaran')")
    assert page.locator("#sources li").count() == 0
    # ... and a tab opened afterwards in the same browser starts empty
    page.close()
    again = _open(browser, url, hosts, locale="en-US")
    assert "Oyelaran" not in again.locator("#chat").inner_text()
    assert "Oyelaran" not in json.dumps(again.evaluate(STORED_JS))
    assert httpx.get(f"{url}/gradio_api/runs", timeout=30).status_code == 404
    # the conversation's own clear button forgets as much as "New conversation": the next
    # question is not read with, nor shown after, the cleared one
    _ask(again, "When did ICE start its own gang database? (asked by Abelardo Quispe)")
    again.locator("#chat button[aria-label='Clear']").click()
    again.wait_for_function("!document.querySelector('#chat').innerText.includes('Quispe')")
    box = again.locator("#question textarea")
    box.fill("Can ICE use DMV photos to find people?")
    box.press("Enter")
    again.wait_for_function("document.querySelector('#chat').innerText.includes('DMV photos')")
    again.wait_for_selector("#sources li", timeout=90_000)
    assert "Quispe" not in again.locator("#chat").inner_text()
    again.context.close()


def test_the_server_forgets_a_conversation_when_its_page_closes(
    browser: Any, assistant: Any, index_settings: Any
) -> None:
    """The app served by a real uvicorn server in this process, so that what Gradio holds for a
    page's session can be looked at once the page is gone."""
    import threading
    import time

    import uvicorn
    from conftest import free_port

    from app import create_app
    from assistant.core import AssistantProvider

    app = create_app(AssistantProvider(index_settings, assistant))
    sessions = app.state.chat.blocks.state_holder.session_data
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/api/health", ThreadAsProcess(thread), 60)
        page = _open(browser, url, set(), locale="en-US")
        _ask(page, "When did ICE start its own gang database? (asked by Ottoline Brackenridge)")
        held = [s for s, state in sessions.items() if "Brackenridge" in repr(state.config_values)]
        assert held, "the conversation should be held while its page is open"
        page.context.close()
        deadline = time.monotonic() + 30
        while any(s in sessions for s in held) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(s in sessions for s in held), "the closed page's conversation was kept"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


class ThreadAsProcess:
    """A thread seen as a process: poll() is None while it runs."""

    def __init__(self, thread: Any) -> None:
        self.thread = thread

    def poll(self) -> int | None:
        return None if self.thread.is_alive() else 0
