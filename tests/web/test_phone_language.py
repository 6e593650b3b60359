"""The child's language on the phone, in real Chromium against the real server and the fake
engine (its names follow the session's language): the "Language" sheet lists each language in
itself; French, then Spanish: the chips, the page's own words, the theme titles and the speech
(the utterance's text and `lang`) follow. A typed word the language does not know is said as
typed, and the page says so once. The choice is remembered and sent again after a reload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.browser import (
    choose_language,
    open_phone,
    phone_browser,
    wait_for,
    wait_said,
)
from tests.support.fake_engine import FakeEngine

CHIPS = "[...document.querySelectorAll('#chips .chip-label')].map(c => c.textContent)"
OPTIONS = "[...document.querySelector('#theme').options].map(o => o.textContent)"


def test_the_phone_speaks_and_shows_the_childs_language(camera_clip: Path) -> None:
    engine = FakeEngine(delay_s=0.15)
    result = asyncio.run(asyncio.wait_for(_languages(engine, camera_clip), 150))
    assert result["errors"] == [], result["errors"]


async def _languages(engine: FakeEngine, clip: Path) -> dict[str, Any]:
    async with phone_browser(engine, clip) as (browser, base):
        errors: list[str] = []
        page = await open_phone(browser, base, errors)
        await wait_for(page, f"{CHIPS}.includes('cat')")
        await page.click("#language-button")
        names = await page.evaluate(
            "[...document.querySelectorAll('#language-list button')].map(b => b.textContent)"
        )
        # the server's languages (GET /api/choices), each named in itself
        assert names == ["English", "Español", "Français"], names
        assert "Language" in (await page.text_content("#language-title") or "")
        await page.click("#language-close")

        # French: chips, the page's words, the themes' titles and the speech
        await choose_language(page, "fr")
        await wait_for(page, f"{CHIPS}.includes('chat')")
        said = await wait_said(page, "chat")
        assert said["lang"] == "fr", said
        assert "Cherche et trouve" in (await page.text_content("#hunt-start") or "")
        assert (await page.text_content("#speech .word") or "").strip() == "Son"
        assert any("Animaux" in option for option in await page.evaluate(OPTIONS))
        assert (await page.text_content("#language-button .word") or "").strip() == "Langue"
        stored = await page.evaluate("localStorage.getItem('visionanything.language')")
        assert stored == '"fr"'

        # Spanish
        await choose_language(page, "es")
        await wait_for(page, f"{CHIPS}.includes('gato')")
        said = await wait_said(page, "gato")
        assert said["lang"] == "es", said
        assert "Encuéntralo" in (await page.text_content("#hunt-start") or "")
        assert any("Animales" in option for option in await page.evaluate(OPTIONS))

        # a word Spanish does not know: said as typed, and the page says so once
        await page.fill("#find", "zorblat")
        await page.click("#find-form button")
        notice = await wait_for(
            page,
            "(() => { const t = document.querySelector('#toast');"
            " return !t.hidden && t.textContent.includes('zorblat') && t.textContent; })()",
        )
        text = await notice.json_value()
        assert "Español" in text, text
        await page.click("#hunt-start")
        prompt = await wait_said(page, "zorblat")
        assert prompt["lang"] == "es", prompt
        await page.click("#hunt-stop")
        await page.wait_for_selector("#today", state="visible")
        await page.click("#today-done")
        await page.fill("#find", "zorblat")
        await page.click("#find-form button")
        await asyncio.sleep(0.3)
        again = await page.text_content("#toast") or ""
        assert "Español" not in again, f"told twice: {again}"

        # a word Spanish knows, typed in Spanish: the detector gets its English word
        await page.fill("#find", "taza")
        await page.click("#find-form button")
        await wait_for(
            page, "window.vaDebug.sent.some(m => m.type === 'vocabulary' && m.words === 'cup')"
        )

        # the choice is remembered: the next visit is in Spanish at once, and says so again
        await page.reload()
        assert "Encuéntralo" in (await page.text_content("#hunt-start") or "")
        await page.click("#start")
        await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
        await wait_for(
            page, "window.vaDebug.sent.some(m => m.type === 'language' && m.language === 'es')"
        )
        await wait_for(page, f"{CHIPS}.includes('gato')")
        return {"errors": errors}
