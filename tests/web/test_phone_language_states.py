"""The phone's status panel, messages and screen-reader labels follow the child's language, in
real Chromium against the real server and the fake engine: Spanish, then French, while live
(the "Live" pill and its help line change at once, without a new state); a reconnection is
told in French; the short messages (toasts) from the server's `error` and `snapshot_saved`,
the class badge and the class's end are French; every visible control's aria-label is French.
After a reload the remembered language greets the child before Start. The words are the
language files' (inference/labels/data/<code>.json "page"); js/english.js mirrors the English."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from inference.labels.languages import load_language
from tests.support.browser import (
    choose_language,
    deliver,
    open_phone,
    phone_browser,
    wait_for,
)
from tests.support.fake_engine import FakeEngine

EN = dict(load_language("en").page_words)
FR = dict(load_language("fr").page_words)
ES = dict(load_language("es").page_words)

# every visible element with an aria-label (the chips name what the camera sees: not page words)
LABELS = """[...document.querySelectorAll("[aria-label]")].filter(el => {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"
    && !el.classList.contains("chip");
}).map(el => ({ id: el.id || el.tagName, label: el.getAttribute("aria-label") }))"""

# every title and help line the panel shows from now on
WATCH = """(() => {
  window.__panel = [];
  const note = () => window.__panel.push([
    document.querySelector("#status").textContent, document.querySelector("#help").textContent]);
  new MutationObserver(note).observe(document.querySelector("#panel"),
    { subtree: true, childList: true, characterData: true });
})()"""


def test_the_phones_states_messages_and_labels_follow_the_childs_language(
    camera_clip: Path,
) -> None:
    engine = FakeEngine(delay_s=0.15)
    result = asyncio.run(asyncio.wait_for(_states(engine, camera_clip), 150))
    assert result["errors"] == [], result["errors"]


async def _text(page: Page, selector: str) -> str:
    return (await page.text_content(selector) or "").strip()


async def _wait_text(page: Page, selector: str, text: str) -> None:
    shown = f"document.querySelector({json.dumps(selector)}).textContent.trim()"
    await wait_for(page, f"{shown} === {json.dumps(text)}")


async def _toast(page: Page, message: dict[str, Any], text: str) -> None:
    """Deliver `message` as the server would; the toast then reads `text`."""
    await page.evaluate("document.querySelector('#toast').hidden = true")
    await deliver(page, message)
    shown = "(t => !t.hidden && t.textContent)(document.querySelector('#toast'))"
    assert (await (await wait_for(page, shown)).json_value()) == text


async def _labels_in(page: Page, words: dict[str, str]) -> list[dict[str, str]]:
    """The visible aria-labels; each starts with one of `words` and is no English page word."""
    labels: list[dict[str, str]] = await page.evaluate(LABELS)
    english = {text for key, text in EN.items() if text != words[key]}
    for item in labels:
        label = item["label"]
        assert label not in english, item
        assert any(label.startswith(text) for text in words.values()), item
    return labels


async def _states(engine: FakeEngine, clip: Path) -> dict[str, Any]:
    async with phone_browser(engine, clip) as (browser, base):
        errors: list[str] = []
        page = await open_phone(browser, base, errors)

        # the page's English is the English language file's
        english = await page.evaluate("import('/js/english.js').then(m => ({ ...m.ENGLISH }))")
        assert english == EN
        assert await _text(page, "#status") == EN["live"]
        assert await _text(page, "#stats-toggle .word") == EN["info"]

        # Spanish: the live pill changes at once (no new state), the controls' labels too
        await choose_language(page, "es")
        await _wait_text(page, "#status", ES["live"])
        assert await _text(page, "#help") == ES["live_help"]
        assert await page.get_attribute("#speech", "aria-label") == ES["speech_label"]
        assert await _text(page, "#stats-toggle .word") == ES["info"]
        await _labels_in(page, ES)

        # French
        await choose_language(page, "fr")
        await _wait_text(page, "#status", FR["live"])
        assert await _text(page, "#help") == FR["live_help"]
        assert await _text(page, "#stats-toggle .word") == FR["info"]
        assert await page.get_attribute("#speech", "title") == FR["speech_on"]
        labels = await _labels_in(page, FR)
        ids = {item["id"] for item in labels}
        assert {"speech", "pause", "everything", "snapshot", "stats-toggle", "theme", "find"} <= ids
        assert {"language-button", "chips", "remote"} <= ids, ids
        assert await page.get_attribute("#snapshot", "aria-label") == FR["photo_phone"]

        # the server's short messages, in French
        room_words = {"type": "error", "code": "room_words", "message": "room words"}
        await _toast(page, room_words, f"🏫 {FR['teacher_words']}")
        internal = {"type": "error", "code": "internal", "message": "engine failed"}
        await _toast(page, internal, f"😕 {FR['went_wrong']}")
        await _toast(page, {"type": "snapshot_saved"}, f"📸 {FR['photo_saved']}")

        # a lost connection: "Reconnecting…" and its countdown in French, then French again
        await page.evaluate(WATCH)
        await page.evaluate("window.__channels[window.__channels.length - 1].close()")
        await wait_for(page, "window.vaDebug.state === 'reconnecting'")
        await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
        shown = await page.evaluate("window.__panel")
        reconnecting = [help for title, help in shown if title == FR["reconnecting"]]
        assert reconnecting and all(help.startswith(FR["lost"]) for help in reconnecting), shown
        await wait_for(page, "window.vaDebug.sent.filter(m => m.type === 'language').length >= 3")
        await _wait_text(page, "#status", FR["live"])

        # the class badge, then the class's end
        await deliver(page, {"type": "room", "you": {"name": "Ana", "state": "waiting"}})
        await _wait_text(page, "#room", f"🙂 Ana · ⏳ {FR['room_waiting']}")
        assert await page.get_attribute("#room", "aria-label") == FR["room"]
        await deliver(page, {"type": "room", "ended": True})
        await _wait_text(page, "#status", FR["class_ended"])
        assert await _text(page, "#help") == FR["class_ended_help"]
        assert await page.is_hidden("#start")  # nothing a child can try again
        await _labels_in(page, FR)

        # a reload: French before Start, from the remembered catalogue
        await page.reload()
        await _wait_text(page, "#status", FR["idle_title"])
        assert await _text(page, "#help") == FR["idle_help"]
        assert await _text(page, "#start") == f"▶️ {FR['start']}"
        assert await page.get_attribute("#start", "aria-label") == FR["start_label"]
        await _labels_in(page, FR)
        return {"errors": errors}
