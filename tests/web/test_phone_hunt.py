"""The phone's "Find it!" game in real Chromium (Debian's, headless, Playwright) under the
server's CSP, against the real server with the scripted fake engine (`show` what every frame
holds, `flash` a one-result flicker) and the fake camera. The page's speech synthesiser is a
stand-in that writes down every utterance (text, language, rate).

The prompt is said and the word shown big with its first letter; a flicker is not a find; a
thing seen steadily is: "You found a cat!" said, a sticker, the next prompt; Skip moves on;
Stop ends the game and shows the words found today. The helpers here serve the other phone
tests too (test_phone_language.py, test_phone_controls.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.loadtest.clip_files import write_clip
from tests.support.browser import wait_for
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from tests.web.test_phone_page import CHROMIUM, WEB_DIR, _chromium_args

# screenshots for a person to look at (docs/hunt-phone.png is a copy of the hunt one)
SHOTS = Path(__file__).parents[2] / "build" / "screenshots"

# Before the page's own scripts: a speech synthesiser that writes down every utterance.
SPEECH = """(() => {
  window.__said = [];
  const synth = {
    pending: false, paused: false, speaking: false,
    speak(u) {
      if (u.text.trim()) window.__said.push({ text: u.text, lang: u.lang, rate: u.rate });
    },
    cancel() {}, resume() {}, getVoices() { return []; }, addEventListener() {},
  };
  Object.defineProperty(window, "speechSynthesis", { configurable: true, get: () => synth });
  window.__channels = [];
  const create = RTCPeerConnection.prototype.createDataChannel;
  RTCPeerConnection.prototype.createDataChannel = function (...args) {
    const channel = create.apply(this, args);
    window.__channels.push(channel);
    return channel;
  };
})();"""


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "clip.y4m"
    write_clip(path, seconds=3, fps=15, size=(320, 240), seed=3)
    return path


@contextlib.asynccontextmanager
async def phone_browser(engine: FakeEngine, clip: Path) -> AsyncIterator[tuple[Browser, str]]:
    """The real server with `engine`, and Chromium with the fake camera playing `clip`."""
    app = create_app(ServerConfig(web_dir=WEB_DIR), engine=engine)
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=_chromium_args(clip)
        )
        try:
            yield browser, base
        finally:
            await browser.close()


async def open_phone(
    browser: Browser, base: str, errors: list[str], size: tuple[int, int] = (390, 844)
) -> Page:
    """A phone page with the speech stand-in, live (Start pressed, the channel open)."""
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.add_init_script(SPEECH)
    await page.goto(f"{base}/")
    await page.click("#start")
    await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
    await wait_for(page, "window.vaDebug.events.some(e => e.type === 'hello')")
    await wait_for(page, "document.querySelector('#remote').videoWidth > 0", timeout=30_000)
    return page


async def said(page: Page) -> list[dict[str, Any]]:
    spoken: list[dict[str, Any]] = await page.evaluate("window.__said")
    return spoken


async def wait_said(page: Page, text: str, timeout: float = 15_000) -> dict[str, Any]:
    """The first utterance containing `text` (waits for it)."""
    found = await wait_for(
        page, f"window.__said.find(u => u.text.includes({json.dumps(text)}))", timeout=timeout
    )
    utterance: dict[str, Any] = await found.json_value()
    return utterance


async def deliver(page: Page, message: dict[str, Any]) -> None:
    """Hand the page's newest data channel a message, as the server would send it."""
    await page.evaluate(
        """(text) => window.__channels[window.__channels.length - 1]
            .dispatchEvent(new MessageEvent("message", { data: text }))""",
        json.dumps({"v": 1, **message}),
    )


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
