"""A class "Find it!" in real Chromium (Debian's, headless, Playwright) under the server's CSP,
against the real server with the scripted fake engine (every table empty, then a cup on one
phone's table only) and the fake camera: a teacher page, two phones (each its own browser
context, joining the room by name) and the class screen.

The teacher starts the game from the page (a missing word list is explained first); the phones
show the prompt, the teacher's page lists both phones, the screen lists the words. Table 1
finds the cup: its page shows the find, the teacher's page shows it with "📺 Show on screen",
the screen shows (and says) the news banner, nothing on it overlapping at 1280×720 or
1920×1080. One tap puts Table 1 on the screen; the CSV has a row per phone and word; Stop ends
the game: the phones show "Words I found today", the screen "Well done!", the teacher's page
keeps the results; the "Class language" menu switches the room to French. A 30-word theme and a
class of 30 still fit the screen's board. With VA_SCREENSHOTS=docs the screen and the teacher's
page are saved as docs/hunt-screen.png and docs/hunt-teacher.png (else build/screenshots/)."""

from __future__ import annotations

import asyncio
import csv
import os
import re
import shutil
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from tests.support.browser import (
    CHROMIUM,
    SHOTS,
    SPEECH_AND_CHANNELS,
    WEB_DIR,
    chromium_args,
    create_room,
    deliver,
    open_page,
    teacher_post,
    wait_for,
)
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from tests.support.teachers import teacher_store

ROOT = Path(__file__).parents[2]
WORDS = ["cup", "banana"]

# Every visible thing on the class screen must stand clear of every other (and inside the
# window): the board, the banner, the join code, the buttons, the waiting words, the names.
OVERLAPS = """() => {
  const ids = ["hunt-board", "hunt-title", "hunt-words", "hunt-sum", "hunt-tables",
               "hunt-news-text", "join", "sound", "snap", "waiting-icon", "waiting-title",
               "waiting-help", "label", "caption"];
  // the board's parts lie on it, and so do the buttons at its foot (below its parts)
  const parts = ["hunt-title", "hunt-words", "hunt-sum", "hunt-tables", "sound", "snap"];
  const on = (a, b) => a === "hunt-board" && parts.includes(b);
  const shown = ids.map(id => document.getElementById(id)).filter(e => e &&
      e.checkVisibility({ visibilityProperty: true, opacityProperty: true }) &&
      e.getBoundingClientRect().width * e.getBoundingClientRect().height > 0);
  const problems = [];
  for (const e of shown) {
    const r = e.getBoundingClientRect();
    if (r.left < -1 || r.top < -1 || r.right > innerWidth + 1 || r.bottom > innerHeight + 1)
      problems.push(`${e.id} outside the window`);
  }
  for (let i = 0; i < shown.length; i++) for (let j = i + 1; j < shown.length; j++) {
    if (on(shown[i].id, shown[j].id) || on(shown[j].id, shown[i].id)) continue;
    const a = shown[i].getBoundingClientRect(), b = shown[j].getBoundingClientRect();
    if (a.right > b.left + 1 && b.right > a.left + 1 &&
        a.bottom > b.top + 1 && b.bottom > a.top + 1)
      problems.push(`${shown[i].id} overlaps ${shown[j].id}`);
  }
  const board = document.getElementById("hunt-board");
  if (board.scrollHeight > board.clientHeight + 1) problems.push("the board overflows");
  for (const word of document.querySelectorAll("#hunt-words .hw-name"))
    if (word.scrollWidth > word.clientWidth + 1) problems.push(`${word.textContent} is cut`);
  return problems;
}"""


def test_a_class_plays_find_it_from_the_teachers_page(tmp_path: Path, camera_clip: Path) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), "apt-get install -y chromium"
    teacher_store(tmp_path / "teachers.json", lee="correct horse")
    config = ServerConfig(
        web_dir=WEB_DIR, classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json")
    )
    result = asyncio.run(asyncio.wait_for(_lesson(config, camera_clip, tmp_path), 200))
    assert result["errors"] == [], result["errors"]


def _shots_dir() -> Path:
    """Where hunt-screen.png and hunt-teacher.png go: VA_SCREENSHOTS (e.g. docs), else build/."""
    wanted = os.environ.get("VA_SCREENSHOTS")
    return (ROOT / wanted) if wanted else SHOTS


async def _text(page: Page, selector: str) -> str:
    return (await page.text_content(selector) or "").strip()


async def _join(
    browser: Browser, base: str, code: str, name: str, clip: Path, errors: list[str]
) -> Page:
    """A phone with the fake camera, in its own context, joining the room by name."""
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    phone = await context.new_page()
    phone.on("pageerror", lambda error: errors.append(str(error)))
    await phone.goto(f"{base}/?room={code}")
    await phone.fill("#phone-name", name)
    await phone.click("#start")
    await wait_for(phone, "window.vaDebug.state === 'live'", timeout=30_000)
    return phone


async def _lesson(config: ServerConfig, clip: Path, tmp_path: Path) -> dict[str, Any]:
    engine = FakeEngine(delay_s=0.1)
    engine.show()  # every table empty until the test puts a cup on one
    app = create_app(config, engine=engine)
    shots = _shots_dir()
    for folder in (shots, SHOTS):
        folder.mkdir(parents=True, exist_ok=True)
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(clip)
        )
        errors: list[str] = []
        try:
            teacher = await open_page(browser, errors, (1280, 900))
            await teacher.goto(f"{base}/teacher")
            await teacher.fill("#name", "lee")
            await teacher.fill("#password", "correct horse")
            await teacher.click("#login-form button")
            code = await create_room(teacher)
            await teacher.wait_for_selector("#hunt-panel[data-hunt='none']")
            assert await teacher.is_hidden("#hunt-csv")  # nothing to download yet
            assert await teacher.is_visible("#hunt-no-phones")
            await teacher.click("#projector")  # the class screen speaks

            # the class screen (on the teacher's browser: its 📸 Photo button shows too), with
            # a speech synthesiser that writes down what it says
            answer = await teacher_post(teacher, f"/api/rooms/{code}/screens")
            screen = await teacher.context.new_page()
            screen.on("pageerror", lambda error: errors.append(str(error)))
            await screen.set_viewport_size({"width": 1280, "height": 720})
            await screen.add_init_script(SPEECH_AND_CHANNELS)
            await screen.goto(f"{base}{re.sub(r'^https?://[^/]+', '', answer['screen_url'])}")
            await wait_for(screen, "window.vaScreen.state === 'waiting'")
            await wait_for(screen, "window.vaScreen.room.projector_speech === true")
            await screen.click("#sound")

            # two tables join
            phones = [await _join(browser, base, code, f"Table {n}", clip, errors) for n in (1, 2)]
            sessions = [await p.evaluate("window.vaDebug.session") for p in phones]
            for session in sessions:
                await teacher.wait_for_selector(f"#phones li[data-session='{session}']")
            assert await teacher.is_hidden("#hunt-no-phones")

            # Start with no words: said in plain words; then the words, in order
            await teacher.click("#hunt-start")
            assert "Type some words" in await _text(teacher, "#hunt-error")
            await teacher.fill("#hunt-words", ", ".join(WORDS))
            await teacher.check("input[name='hunt-order'][value='list']")
            await teacher.click("#hunt-start")
            await teacher.wait_for_selector("#hunt-panel[data-hunt='on']")
            assert await _text(teacher, "#hunt-error") == ""
            assert await teacher.is_visible("#hunt-stop") and await teacher.is_hidden("#hunt-form")
            assert await teacher.is_visible("#hunt-csv")

            # the phones show the prompt; the teacher's page lists both; the screen the words
            for phone in phones:
                await phone.wait_for_selector("#hunt", state="visible")
                await wait_for(phone, "document.querySelector('#hunt-word').textContent === 'cup'")
            for session, name in zip(sessions, ("Table 1", "Table 2"), strict=True):
                row = f"#hunt-phones li[data-session='{session}']"
                await wait_for(
                    teacher,
                    f"document.querySelector(\"{row} .hp-now\")?.textContent.includes('cup')",
                )
                assert await _text(teacher, f"{row} .hp-name") == name
                assert await _text(teacher, f"{row} .hp-count") == "0 of 2"
            await wait_for(screen, "document.body.dataset.hunt === 'on'")
            words = "[...document.querySelectorAll('#hunt-words .hw-name')].map(e => e.textContent)"
            await wait_for(screen, f"{words}.length === 2")
            assert await screen.evaluate(words) == WORDS
            assert await _text(screen, "#waiting-title") == "Find these things!"
            assert await screen.evaluate(OVERLAPS) == []
            await screen.screenshot(path=str(SHOTS / "hunt-screen-waiting.png"))

            # Table 1 finds the cup (Table 2's table stays empty)
            engine.show_to(sessions[0], "cup")
            # the screen's banner first: it stays a few seconds
            await wait_for(screen, "window.vaScreen.hunt.news.includes('Table 1 found a cup!')")
            assert await screen.is_visible("#hunt-news")
            assert "Table 1 found a cup!" in await _text(screen, "#hunt-news-text")
            await wait_for(screen, "window.__said.some(u => u.text === 'Table 1 found a cup!')")
            tick = "document.querySelector('#hunt-words .hunt-word[data-found=\"true\"] .hw-name')"
            assert await screen.evaluate(f"{tick}?.textContent") == "cup"
            assert await screen.evaluate(OVERLAPS) == []
            await screen.screenshot(path=str(shots / "hunt-screen.png"), animations="disabled")
            await screen.set_viewport_size({"width": 1920, "height": 1080})
            assert await screen.evaluate(OVERLAPS) == []
            await screen.set_viewport_size({"width": 1280, "height": 720})

            # its page shows the find; the teacher's page too, with "Show on screen"
            await wait_for(
                phones[0],
                "[...document.querySelectorAll('#stickers .sticker')]"
                ".some(s => s.textContent === 'cup')",
            )
            await wait_for(
                phones[0], "document.querySelector('#hunt-word').textContent === 'banana'"
            )
            engine.show_to(sessions[0])
            find = "#hunt-finds li.hunt-find"
            await teacher.wait_for_selector(find)
            assert (await _text(teacher, f"{find} .hf-text")).startswith("⭐ Table 1 found cup")
            assert await _text(teacher, f"{find} .show-find") == "📺 Show on screen"
            row1 = f"#hunt-phones li[data-session='{sessions[0]}']"
            await wait_for(
                teacher, f"document.querySelector(\"{row1} .hp-count\").textContent === '1 of 2'"
            )
            assert await _text(teacher, f"{row1} .hunt-sticker") == "✓ cup"

            # one tap: Table 1 on the class screen
            await teacher.click(f"{find} .show-find")
            await wait_for(teacher, f"document.querySelector('{find} .show-find').disabled")
            described = await teacher.evaluate(
                f"fetch('/api/rooms/{code}', {{cache: 'no-store'}}).then(r => r.json())"
            )
            assert described["presenting"] == sessions[0]
            await wait_for(screen, "document.body.dataset.state === 'live'")
            await wait_for(screen, "document.querySelector('#hunt-news').hidden", timeout=15_000)
            assert await screen.evaluate(OVERLAPS) == []
            await screen.screenshot(path=str(SHOTS / "hunt-screen-live.png"))
            await teacher.screenshot(path=str(shots / "hunt-teacher.png"), full_page=True)

            # the results, as a spreadsheet
            async with teacher.expect_download() as download_info:
                await teacher.click("#hunt-csv")
            download = await download_info.value
            saved = tmp_path / "hunt.csv"
            await download.save_as(saved)
            rows = list(csv.DictReader(saved.read_text(encoding="utf-8").splitlines()))
            results = {(r["phone"], r["word"]): r["result"] for r in rows}
            assert results == {
                ("Table 1", "cup"): "found",
                ("Table 1", "banana"): "not_yet",
                ("Table 2", "cup"): "not_yet",
                ("Table 2", "banana"): "not_yet",
            }, rows

            # Stop: the phones show the words found today, the screen "Well done!"
            await teacher.click("#hunt-stop")
            await teacher.wait_for_selector("#hunt-panel[data-hunt='over']")
            assert "Game over" in await _text(teacher, "#hunt-status")
            assert await teacher.is_visible("#hunt-csv") and await teacher.is_visible("#hunt-form")
            assert await _text(teacher, "#hunt-start") == "▶️ Start a new game"
            assert await teacher.locator(find).count() == 1  # the results stay
            await teacher.screenshot(path=str(SHOTS / "hunt-teacher-over.png"), full_page=True)
            for phone in phones:
                await phone.wait_for_selector("#today", state="visible")
                assert await _text(phone, "#today-title") == "Words I found today"
            today = (
                "[...document.querySelectorAll('#today-list .today-word')].map(e => e.textContent)"
            )
            assert await phones[0].evaluate(today) == ["cup"]
            # the class language: the menu lists the server's languages; French for everyone
            # (the phones then show and say their words in French)
            await teacher.select_option("#room-language", "fr")
            await wait_for(screen, "window.vaScreen.room.language === 'fr'")
            assert await teacher.input_value("#room-language") == "fr"
            assert await _text(teacher, "#language-error") == ""
            await wait_for(screen, "document.body.dataset.hunt === 'over'")
            assert await _text(screen, "#hunt-title") == "🎉 Well done!"
            assert await _text(screen, "#hunt-sum") == "We found 1 thing!"
            assert await screen.evaluate(OVERLAPS) == []
            await screen.screenshot(path=str(SHOTS / "hunt-screen-over.png"))

            # a whole theme and a big class still fit the board (rows that do not: "+ N more")
            many = [f"word{n}" for n in range(30)]
            crowd = [
                {"id": f"p{n}", "name": f"Table {n}", "found": many[:n], "skipped": [],
                 "current": None, "finished": False}
                for n in range(30)
            ]  # fmt: skip
            await deliver(
                screen,
                {"type": "class_hunt", "id": "big", "words": many, "ended": False,
                 "phones": crowd, "finds": []},
            )  # fmt: skip
            await wait_for(screen, "document.querySelectorAll('#hunt-words li').length === 30")
            for width, height in ((1280, 720), (1920, 1080)):
                await screen.set_viewport_size({"width": width, "height": height})
                await wait_for(screen, "!document.querySelector('.hunt-table.more').hidden")
                assert await screen.evaluate(OVERLAPS) == []
            await screen.screenshot(path=str(SHOTS / "hunt-screen-crowd.png"))
            return {"errors": errors}
        finally:
            await browser.close()
