"""The classroom in real Chromium (Debian's, headless, Playwright): a teacher logs in and makes a
room, a projector opens the class screen, two fake-camera phones join with the code. The screen
must show decoded video from the presenting phone and a label and caption, and switching the
presenter on the teacher's page must switch the screen. The fake engine stands in for the
models (one "cat" per frame), so the test is about the pages and the fan-out, not the models."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.async_api import Browser, Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.loadtest.clip import write_clip
from stream.teachers import TeacherStore
from tests.stream.fake_engine import FakeEngine
from tests.stream.rtc_client import serving
from tests.web.browser import create_room, wait_for, wait_for_more
from tests.web.test_phone_page import CHROMIUM, WEB_DIR, _chromium_args


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "clip.y4m"
    write_clip(path, seconds=3, fps=15, size=(320, 240), seed=2)
    return path


async def _screen_frames(page: Page) -> int:
    frames: int = await page.evaluate(
        """async () => {
            if (!window.vaScreen.pc) return 0;
            const stats = await window.vaScreen.pc.getStats();
            let frames = 0;
            stats.forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video")
                frames += r.framesDecoded || 0; });
            return frames;
        }"""
    )
    return frames


def test_projector_shows_the_presenter_and_follows_the_teacher(
    tmp_path: Path, camera_clip: Path
) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), "apt-get install -y chromium"
    store = TeacherStore(tmp_path / "teachers.json", hasher=PasswordHasher(1, 1024, 1))
    store.add("lee", "correct horse")
    config = ServerConfig(web_dir=WEB_DIR, teachers_file=tmp_path / "teachers.json")
    result = asyncio.run(asyncio.wait_for(_lesson(config, camera_clip), 150))
    assert result["errors"] == [], result["errors"]


async def _lesson(config: ServerConfig, clip: Path) -> dict[str, Any]:
    app = create_app(config, engine=FakeEngine(delay_s=0.15))
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=_chromium_args(clip)
        )
        errors: list[str] = []
        try:
            teacher = await _page(browser, errors)
            await teacher.goto(f"{base}/teacher")
            await teacher.wait_for_selector("#login-form", state="visible")
            await teacher.fill("#name", "lee")
            await teacher.fill("#password", "wrong password")
            await teacher.click("#login-form button")
            await wait_for(
                teacher, "document.querySelector('#login-error').textContent.includes('Wrong')"
            )
            await teacher.fill("#password", "correct horse")
            await teacher.click("#login-form button")
            code = await create_room(teacher)
            assert len(code) == 6

            screen = await _page(browser, errors)
            await screen.goto(f"{base}/room/{code}/screen")
            await wait_for(screen, "document.body.dataset.state === 'waiting'")
            assert await screen.evaluate("document.querySelector('#qr').naturalWidth") > 0

            phones = []
            for _ in range(2):
                phone = await _page(browser, errors, (390, 844))
                await phone.goto(f"{base}/?room={code}")
                await phone.click("#start")
                await wait_for(phone, "window.vaDebug.state === 'live'", timeout=30_000)
                phones.append(phone)
            sessions = [await p.evaluate("window.vaDebug.session") for p in phones]

            # the first phone presents: decoded video, a label and a caption on the screen
            await wait_for(screen, "document.body.dataset.state === 'live'")
            await wait_for(
                screen,
                f"window.vaScreen.room && window.vaScreen.room.presenting === '{sessions[0]}'",
            )
            await wait_for(
                screen, "document.querySelector('#label').textContent.length > 0", timeout=20_000
            )
            await wait_for(
                screen, "document.querySelector('#caption').textContent.length > 0", timeout=30_000
            )
            assert "cat" in (await screen.text_content("#label") or "")
            on_screen = "document.querySelector('#room').dataset.presenting === 'true'"
            await wait_for(phones[0], on_screen)
            first = await wait_for_more(lambda: _screen_frames(screen), 0)
            await wait_for_more(lambda: _screen_frames(screen), first)  # the screen decodes video

            # the teacher switches to the second phone
            await teacher.wait_for_selector(f"li[data-session='{sessions[1]}'] button")
            await teacher.click(f"li[data-session='{sessions[1]}'] button")
            await wait_for(screen, f"window.vaScreen.room.presenting === '{sessions[1]}'")
            await teacher.wait_for_selector(
                f"li[data-session='{sessions[1]}'][data-presenting=true]"
            )
            await wait_for(phones[1], on_screen)
            assert await phones[0].evaluate(on_screen) is False
            before = await _screen_frames(screen)
            await wait_for_more(lambda: _screen_frames(screen), before)  # video goes on after it
            return {"errors": errors}
        finally:
            await browser.close()


async def _page(
    browser: Browser, errors: list[str], viewport: tuple[int, int] = (1280, 720)
) -> Page:
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page
