"""Honest demo mode and links phones can open, in real Chromium (Debian's, headless, Playwright).

With random weights every page (phone, teacher, room controls, class screen, photo, library,
admin) shows the demo badge, big, at the top and above the video, never over it; with real
weights none does. A teacher who opens the teacher page as http://localhost gets a room whose
join link, as the page shows it and as its QR code says (decoded with OpenCV), points at the
server's LAN address. The fake engine stands in for the models: whether the weights are random
is what the server was told (`ServerConfig.random_weights`, as `serve --models` sets it)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.edge.network import NetworkSettings
from stream.photos.library_settings import PhotoLibrarySettings
from tests.support.browser import CHROMIUM, WEB_DIR, create_room, wait_for
from tests.support.fake_engine import FakeEngine
from tests.support.qr_codes import decode_qr
from tests.support.rtc_client import serving
from tests.support.teachers import teacher_store

LAN = "192.168.7.23"  # a LAN address as serve would find it; nothing needs to answer there
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
PHONE, DESK = (390, 844), (1280, 720)
PAGES = ("phone", "photo", "teacher", "room", "screen", "library", "admin")

# What each page's badge must satisfy, read in the page: shown, words, size, and the video (if
# the page has one) wholly below it.
BADGE = """() => {
    const badge = document.getElementById("demo-badge");
    if (!badge) return null;
    const box = badge.getBoundingClientRect();
    const video = document.querySelector("video");
    const picture = video ? video.getBoundingClientRect() : null;
    return {
        text: badge.textContent,
        visible: box.width > 0 && box.height > 0
            && getComputedStyle(badge).visibility === "visible",
        top: box.top,
        bottom: box.bottom,
        width: box.width,
        fontPx: parseFloat(getComputedStyle(badge).fontSize),
        videoTop: picture ? picture.top : null,
        videoBottom: picture ? picture.bottom : null,
        viewportHeight: innerHeight,
    };
}"""


def _config(tmp_path: Path, random_weights: bool) -> ServerConfig:
    teachers = tmp_path / "teachers.json"
    if not teachers.exists():
        teacher_store(teachers, lee="correct horse")
    return ServerConfig(
        web_dir=WEB_DIR,
        random_weights=random_weights,
        network=NetworkSettings(lan_hosts=(LAN,)),
        classroom=ClassroomSettings(teachers_file=teachers),
        photo_library=PhotoLibrarySettings(directory=tmp_path / "snapshots"),
    )


def test_every_page_shows_the_demo_badge_and_rooms_link_to_the_lan(tmp_path: Path) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), "apt-get install -y chromium"
    result = asyncio.run(asyncio.wait_for(_visit(_config(tmp_path, True), demo=True), 150))
    assert result["errors"] == [], result["errors"]
    assert set(result["badges"]) == set(PAGES)
    for page, badge in result["badges"].items():
        assert badge is not None, f"no demo badge on the {page} page"
        assert badge["visible"], page
        assert "Demo" in badge["text"] and "made up" in badge["text"], page
        # big, and at the top (the teacher pages keep their margin)
        assert badge["top"] < 0.1 * badge["viewportHeight"] and badge["fontPx"] >= 17, (page, badge)
        if badge["videoTop"] is not None:  # never over the picture
            assert badge["videoTop"] >= badge["bottom"] - 0.5, (page, badge)
            assert badge["videoBottom"] <= badge["viewportHeight"] + 0.5, (page, badge)
    code, port = result["code"], result["port"]
    join = f"http://{LAN}:{port}/?room={code}"
    assert result["join_text"] == join and result["join_href"] == join
    assert result["qr_says"] == join, "the QR code on the teacher's page opens on a phone"
    assert "https" in result["join_warning"]  # an http:// link: the camera stays off


def test_no_page_shows_the_badge_with_real_weights(tmp_path: Path) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), "apt-get install -y chromium"
    result = asyncio.run(asyncio.wait_for(_visit(_config(tmp_path, False), demo=False), 150))
    assert result["errors"] == [], result["errors"]
    assert set(result["badges"]) == set(PAGES)
    assert all(badge is None for badge in result["badges"].values()), result["badges"]
    assert result["phone_video_top"] == 0


async def _visit(config: ServerConfig, demo: bool) -> dict[str, Any]:
    app = create_app(config, engine=FakeEngine(delay_s=0.1))
    async with serving(app) as base, async_playwright() as playwright:
        port = int(base.rsplit(":", 1)[1])
        local = f"http://localhost:{port}"  # what a teacher types on the server itself
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        errors: list[str] = []
        badges: dict[str, Any] = {}
        said = "document.body.dataset.demo === " + ("'true'" if demo else "'false'")

        async def badge_on(page: Page, name: str) -> None:
            await wait_for(page, said)
            badges[name] = await page.evaluate(BADGE)

        try:
            phone = await _page(browser, errors, PHONE)
            await phone.goto(f"{local}/")
            await badge_on(phone, "phone")
            phone_video_top = await phone.evaluate(
                "document.getElementById('remote').getBoundingClientRect().top"
            )
            photo = await _page(browser, errors, PHONE)
            await photo.goto(f"{local}/photo")
            await badge_on(photo, "photo")

            teacher = await _page(browser, errors, DESK)
            await teacher.goto(f"{local}/teacher")
            await teacher.wait_for_selector("#login-form", state="visible")
            await badge_on(teacher, "teacher")
            await teacher.fill("#name", "lee")
            await teacher.fill("#password", "correct horse")
            await teacher.click("#login-form button")
            code = await create_room(teacher)
            await wait_for(teacher, "document.querySelector('#join-url').textContent.length > 0")
            await badge_on(teacher, "room")
            await wait_for(teacher, "document.querySelector('#room-qr').naturalWidth > 0")
            qr_bytes = await teacher.evaluate(
                """async () => {
                    const response = await fetch(document.querySelector("#room-qr").src);
                    return Array.from(new Uint8Array(await response.arrayBuffer()));
                }"""
            )
            links = {
                "join_text": (await teacher.text_content("#join-url") or "").strip(),
                "join_href": await teacher.get_attribute("#join-url", "href"),
                "join_warning": await teacher.text_content("#join-warning") or "",
                "qr_says": decode_qr(bytes(qr_bytes)),
            }

            screen = await _page(browser, errors, DESK)
            await screen.goto(f"{local}/room/{code}/screen")
            await badge_on(screen, "screen")

            # the library and admin pages with the teacher's login (lee is no admin: denied)
            for name in ("library", "admin"):
                page = await teacher.context.new_page()
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(f"{local}/{name}")
                await badge_on(page, name)
            return {
                "errors": errors,
                "badges": badges,
                "code": code,
                "port": port,
                "phone_video_top": phone_video_top,
                **links,
            }
        finally:
            await browser.close()


async def _page(browser: Browser, errors: list[str], viewport: tuple[int, int]) -> Page:
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page
