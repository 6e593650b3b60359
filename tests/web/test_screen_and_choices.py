"""The class screen on the shared page modules, and the pages' themes and limits from the server,
in real Chromium (Debian's, headless, Playwright) under the server's CSP.

The class screen connects through js/peer.js (a watch-only PeerLink), retries through
js/backoff.js after a failed offer, and speaks through js/speech.js (projector speech on, "Sound
on" pressed, never the same phrase twice in a row). Its speech synthesiser is a stand-in that
writes down what it was asked to say, and `say` messages are handed to its data channel as the
server's would be; the room's state (projector speech on and off) comes from the real server.

The themes a page offers are the server's (`GET /api/choices`, `hello`): an engine with a theme
the pages have never heard of ("space") shows it on the teacher's, the phone's and the photo
page; the boxes take the server's limits. Without that answer a page still works, offering
what needs no list."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.live_room import MAX_NAME_CHARS
from stream.classroom.room_store import CODE_LENGTH
from stream.webrtc.protocol import MAX_WORDS_CHARS
from tests.support.browser import (
    CHROMIUM,
    SPEECH_AND_CHANNELS,
    WEB_DIR,
    create_room,
    deliver,
    open_page,
    teacher_post,
    wait_for,
)
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from tests.support.teachers import teacher_store

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]

SAID = "window.__said.map(u => u.text.trim()).filter(Boolean)"
LAST_SPOKEN = "window.vaScreen.spoken[window.vaScreen.spoken.length - 1]"


class SpaceEngine(FakeEngine):
    """The fake engine with a theme no page knows."""

    @property
    def themes(self) -> tuple[str, ...]:
        return ("animals", "space")


def _config(tmp_path: Path) -> ServerConfig:
    store = teacher_store(tmp_path / "teachers.json", lee="correct horse")
    return ServerConfig(web_dir=WEB_DIR, classroom=ClassroomSettings(teachers_file=store.path))


async def _log_in(teacher: Page, base: str) -> str:
    await teacher.goto(f"{base}/teacher")
    await teacher.fill("#name", "lee")
    await teacher.fill("#password", "correct horse")
    await teacher.click("#login-form button")
    return await create_room(teacher)


def test_the_class_screen_retries_and_speaks_through_the_shared_modules(tmp_path: Path) -> None:
    result = asyncio.run(asyncio.wait_for(_screen(_config(tmp_path)), 120))
    assert result["errors"] == [], result["errors"]


async def _screen(config: ServerConfig) -> dict[str, Any]:
    app = create_app(config, engine=SpaceEngine(delay_s=0.15))
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        errors: list[str] = []
        try:
            teacher = await open_page(browser, errors)
            code = await _log_in(teacher, base)
            await teacher.click("#projector")  # the class screen speaks
            answer = await teacher_post(teacher, f"/api/rooms/{code}/screens")
            path = re.sub(r"^https?://[^/]+", "", answer["screen_url"])

            screen = await open_page(browser, errors, (1280, 800))
            await screen.add_init_script(SPEECH_AND_CHANNELS)
            offers: list[int] = []

            async def first_fails(route: Any) -> None:
                offers.append(1)
                if len(offers) == 1:
                    await route.fulfill(status=500, json={"error": "not now"})
                else:
                    await route.continue_()

            await screen.route("**/api/offer", first_fails)
            await screen.goto(f"{base}{path}")
            # the failed offer: "Reconnecting…", then the back-off's next try gets in
            await wait_for(screen, "window.vaScreen.state === 'offline'")
            assert await screen.text_content("#waiting-title") == "Reconnecting…"
            await wait_for(screen, "window.vaScreen.state === 'waiting'", timeout=15_000)
            assert len(offers) == 2
            assert await screen.evaluate("window.vaScreen.pc instanceof RTCPeerConnection")
            await wait_for(screen, "window.vaScreen.room.projector_speech === true")
            assert await screen.is_visible("#sound")

            # not a word before someone presses "Sound on" (browsers need the click)
            await deliver(screen, {"type": "say", "text": "a cat", "ids": [1]})
            assert await screen.evaluate(f"{LAST_SPOKEN}.reason") == "off"
            assert await screen.text_content("#caption") == "a cat"
            await screen.click("#sound")
            assert await screen.is_hidden("#sound")
            for text in ("a cat", "a cat", "a cup"):  # the same phrase is not said twice
                await deliver(screen, {"type": "say", "text": text, "ids": [1]})
            assert await screen.evaluate(SAID) == ["a cat", "a cup"]
            assert await screen.evaluate("window.vaScreen.spoken.map(r => r.reason)") == [
                "off",
                "",
                "repeat",
                "",
            ]
            assert await screen.text_content("#caption") == "a cup"

            # the found things' names, big, each once
            objects = [{"label": "cat"}, {"label": "cup"}, {"label": "cat"}]
            await deliver(screen, {"type": "objects", "objects": objects})
            assert await screen.text_content("#label") == "cat · cup"
            assert await screen.evaluate("window.vaScreen.chips()") == ["cat", "cup"]

            # the teacher turns projector speech off: the screen falls silent
            await teacher.click("#projector")
            await wait_for(screen, "window.vaScreen.room.projector_speech === false")
            await deliver(screen, {"type": "say", "text": "a dog", "ids": [2]})
            assert await screen.evaluate(f"{LAST_SPOKEN}.reason") == "off"
            assert await screen.evaluate(SAID) == ["a cat", "a cup"]
            return {"errors": errors}
        finally:
            await browser.close()


def test_the_pages_offer_the_servers_themes_and_keep_its_limits(tmp_path: Path) -> None:
    result = asyncio.run(asyncio.wait_for(_choices(_config(tmp_path)), 120))
    assert result["errors"] == [], result["errors"]


OPTIONS = "[...document.querySelector('#theme').options].map(o => o.value)"
LABELS = "[...document.querySelector('#theme').options].map(o => o.textContent)"


async def _choices(config: ServerConfig) -> dict[str, Any]:
    app = create_app(config, engine=SpaceEngine(delay_s=0.15))
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        errors: list[str] = []
        try:
            # the teacher's room: the server's themes after "… or a theme", its words limit
            teacher = await open_page(browser, errors)
            await _log_in(teacher, base)
            await wait_for(teacher, f"{OPTIONS}.includes('space')")
            assert await teacher.evaluate(OPTIONS) == ["", "animals", "space"]
            assert await teacher.evaluate("document.querySelector('#words').maxLength") == (
                MAX_WORDS_CHARS
            )

            # the phone, before it connects: the themes, the name's and the code's lengths
            phone = await open_page(browser, errors, (390, 844))
            await phone.goto(f"{base}/")
            await wait_for(phone, f"{OPTIONS}.includes('space')")
            labels = await phone.evaluate(LABELS)
            assert "🐾 Animals" in labels and "🎨 Space" in labels, labels
            assert "🍳 Kitchen" not in labels  # not this server's
            assert await phone.evaluate("document.querySelector('#phone-name').maxLength") == (
                MAX_NAME_CHARS
            )
            assert await phone.evaluate("document.querySelector('#room-code').maxLength") == (
                CODE_LENGTH
            )
            await phone.fill("#room-code", "AB")
            await phone.click("#code-form button")
            error = await phone.text_content("#code-error") or ""
            assert f"has {CODE_LENGTH} letters" in error, error

            # the photo page
            photo = await open_page(browser, errors, (390, 844))
            await photo.goto(f"{base}/photo")
            await wait_for(photo, f"{OPTIONS}.includes('space')")
            assert await photo.evaluate(OPTIONS) == ["", "animals", "space"]

            # no answer at all: the pages still work, with what needs no list
            lonely = await open_page(browser, errors, (390, 844))
            await lonely.route("**/api/choices", lambda route: route.abort())
            await lonely.goto(f"{base}/")
            await wait_for(lonely, "document.querySelector('#start') !== null")
            assert await lonely.evaluate(OPTIONS) == ["", "__words__"]  # Everything, own words
            assert await lonely.is_visible("#start")
            assert await lonely.evaluate("document.querySelector('#phone-name').maxLength") == -1
            return {"errors": errors}
        finally:
            await browser.close()
