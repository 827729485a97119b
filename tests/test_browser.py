"""The web chat in a real browser: Debian's Chromium driven by Playwright, against a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

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
    page.goto(url, wait_until="networkidle", timeout=90_000)
    # Gradio renders after its scripts load: an idle network is not yet a drawn page
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
