"""The phone's "Find it!" game in real Chromium (Debian's, headless, Playwright) under the
server's CSP, against the real server with the scripted fake engine (`show` what every frame
holds, `flash` a one-result flicker) and the fake camera. The page's speech synthesiser is a
stand-in that writes down every utterance (text, language, rate).

The prompt is said and the word shown big with its first letter; a flicker is not a find; a
thing seen steadily is: "You found a cat!" said, a sticker, the next prompt; Skip moves on;
Stop ends the game and shows the words found today."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import (
    SHOTS,
    deliver,
    open_phone,
    phone_browser,
    said,
    wait_for,
    wait_said,
)
from tests.support.fake_engine import FakeEngine


def hunt_messages(state: str) -> str:
    return f"window.vaDebug.events.filter(e => e.type === 'hunt' && e.state === '{state}').length"


def test_a_phone_hunt_prompts_waits_for_a_steady_find_skips_and_stops(
    camera_clip: Path,
) -> None:
    engine = FakeEngine(delay_s=0.15)
    engine.show()  # an empty scene: nothing found before the game starts
    result = asyncio.run(asyncio.wait_for(_hunt(engine, camera_clip), 150))
    assert result["errors"] == [], result["errors"]


async def _hunt(engine: FakeEngine, clip: Path) -> dict[str, Any]:
    async with phone_browser(engine, clip) as (browser, base):
        errors: list[str] = []
        page = await open_phone(browser, base, errors)
        assert await page.is_visible("#hunt-start")
        assert await page.is_hidden("#hunt")
        # three words of the child's own, then Find it!
        await page.fill("#find", "cat, cup, dog")
        await page.click("#find-form button")
        await page.click("#hunt-start")
        prompt = await wait_said(page, "Can you find a cat?")
        assert prompt["lang"] == "en"
        await page.wait_for_selector("#hunt", state="visible")
        assert (await page.text_content("#hunt-word") or "").strip() == "cat"
        assert "It starts with C" in (await page.text_content("#hunt-hint") or "")
        assert (await page.text_content("#hunt-letter") or "").strip() == "C"
        assert (await page.text_content("#hunt-count") or "").strip() == "1/3"
        size = await page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('#hunt-word')).fontSize)"
        )
        assert size >= 32, f"the word is shown big ({size}px)"
        assert await page.is_visible("#hunt-skip") and await page.is_visible("#hunt-stop")
        assert await page.is_hidden("#hunt-start")  # the game is on: no second start

        # a one-result flicker is not a find
        engine.flash("cat")
        await asyncio.sleep(2.5)
        assert await page.evaluate(hunt_messages("found")) == 0
        assert not any("found" in u["text"] for u in await said(page))
        assert (await page.text_content("#hunt-word") or "").strip() == "cat"

        # a cat seen steadily is: cheered, a sticker, the next prompt
        engine.show("cat")
        await wait_said(page, "You found a cat!")
        await wait_said(page, "Can you find a cup?")
        texts = [u["text"] for u in await said(page)]
        assert texts.index("You found a cat!") < texts.index("Can you find a cup?")
        assert await page.is_visible("#cheer")
        assert await page.is_visible("#found-ring")  # the ring on the cat
        ring = await page.evaluate(
            "(() => { const r = document.querySelector('#found-ring').getBoundingClientRect();"
            " return [r.width, r.height]; })()"
        )
        assert ring[0] > 20 and ring[1] > 20, ring
        assert await page.evaluate(
            "[...document.querySelectorAll('#stickers .sticker')].map(s => s.textContent)"
        ) == ["cat"]
        await wait_for(page, "document.querySelector('#hunt-word').textContent === 'cup'")
        assert (await page.text_content("#hunt-count") or "").strip() == "2/3"
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "hunt-phone.png"))
        engine.show()

        # Skip: on to the next word
        await page.click("#hunt-skip")
        await wait_said(page, "Can you find a dog?")
        await wait_for(page, "document.querySelector('#hunt-word').textContent === 'dog'")

        # Stop: the game ends with the words found today, each big and tappable
        await page.click("#hunt-stop")
        await page.wait_for_selector("#today", state="visible")
        assert await page.is_hidden("#hunt")
        heading = (await page.text_content("#today-title") or "").strip()
        assert heading == "Words I found today"
        words = await page.evaluate(
            "[...document.querySelectorAll('#today-list .today-word')].map(s => s.textContent)"
        )
        assert words == ["cat"], words
        before = len(await said(page))
        await page.click("#today-list .today-word")
        await wait_for(page, f"window.__said.length > {before}")
        again = (await said(page))[before]
        assert again["text"] == "cat" and again["rate"] == pytest.approx(0.6, abs=0.01)
        await page.wait_for_selector("#spell", state="visible")
        await page.click("#spell")
        await page.click("#today-done")
        await page.wait_for_selector("#today", state="hidden")
        assert await page.is_visible("#hunt-start")  # ready to play again

        # a class's hunt (the teacher's): shown with Skip, without Stop; a refusal in words
        await deliver(
            page,
            {
                "type": "hunt",
                "state": "looking",
                "room": "h1",
                "word": "dog",
                "name": "dog",
                "prompt": "Can you find a dog?",
                "hint": "It starts with D.",
                "colour_hint": "It is brown.",
                "letter": "D",
                "position": 0,
                "total": 1,
                "found": [],
                "skipped": [],
            },
        )
        await page.wait_for_selector("#hunt", state="visible")
        assert await page.is_visible("#hunt-skip") and await page.is_hidden("#hunt-stop")
        assert await page.is_visible(".hunt-class")
        hint = await page.text_content("#hunt-hint") or ""
        assert hint == "It starts with D. It is brown.", "the colour hint follows the letter"
        await deliver(page, {"type": "error", "code": "room_hunt", "message": "in a class…"})
        assert "Ask your teacher" in (await page.text_content("#toast") or "")
        return {"errors": errors}
