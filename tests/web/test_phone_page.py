"""The phone page in a real browser: Debian's Chromium, headless, driven by Playwright, with a
fake camera playing a clip made from real photos, against the real server and engine (tiny
random models on the CPU). It presses Start and reads the outcome from the page itself."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from inference.labels import AnnouncerSettings
from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.models import Models
from stream.app import ServerConfig, create_app
from stream.loadtest.clip_files import write_clip
from tests.support.browser import wait_for, wait_for_more
from tests.support.rtc_client import serving

CHROMIUM = Path("/usr/bin/chromium")
WEB_DIR = Path(__file__).parents[2] / "web"


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("camera") / "clip.y4m"
    write_clip(path, seconds=4, fps=15, size=(320, 240), seed=1)
    return path


def _chromium_args(clip: Path) -> list[str]:
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
        "--autoplay-policy=no-user-gesture-required",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]


async def _frames_decoded(page: Page) -> int:
    decoded: int = await page.evaluate(
        """async () => {
            const stats = await window.vaDebug.pc.getStats();
            let frames = 0;
            stats.forEach(r => { if (r.type === "inbound-rtp" && r.kind === "video")
                frames += r.framesDecoded || 0; });
            return frames;
        }"""
    )
    return decoded


def test_page_goes_live_shows_chips_and_speaks(models: Models, camera_clip: Path) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), (
        "Debian's chromium is needed for this test: `apt-get install -y chromium` "
        "(make test installs it when run as root)"
    )
    engine = Engine(
        models,
        EngineSettings(
            max_side=320,
            # random weights score low: pin thresholds so the tiny detector finds things
            lighting=LightingSettings(box_threshold=0.0, text_threshold=0.0),
            announcer=AnnouncerSettings(dwell_s=0.3, min_gap_s=1.0),
        ),
    )
    result = asyncio.run(asyncio.wait_for(_drive_page(engine, camera_clip), 150))
    assert result["connection"] == "connected"
    assert result["decoded_later"] > result["decoded_first"] > 0, "returned video is decoded"
    assert result["chips"], "a label chip is shown"
    assert result["spoken"] and result["spoken"][0]["text"], "a say event reached the speech code"
    assert result["events"] >= {"hello", "objects", "say", "stats"}
    assert result["lighting_state"] in {"dark", "dim", "normal", "bright", "backlit"}


async def _drive_page(engine: Engine, clip: Path) -> dict[str, Any]:
    app = create_app(ServerConfig(web_dir=WEB_DIR), engine=engine)
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=_chromium_args(clip)
        )
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{base}/")
            assert await page.evaluate("window.vaDebug.state") == "idle"
            await page.click("#start")
            await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
            await wait_for(
                page,
                "window.vaDebug.pc && window.vaDebug.pc.connectionState === 'connected'",
                timeout=30_000,
            )
            shown = await wait_for(
                page,
                "(() => { const chips = window.vaDebug.chips(); return chips.length && chips; })()",
                timeout=60_000,
            )
            chips = await shown.json_value()
            await wait_for(page, "window.vaDebug.spoken.length > 0", timeout=60_000)
            first = await _frames_decoded(page)
            later = await wait_for_more(lambda: _frames_decoded(page), first)
            stats_seen = "window.vaDebug.events.some(e => e.type === 'stats')"
            await wait_for(page, stats_seen)
            return {
                "connection": await page.evaluate("window.vaDebug.pc.connectionState"),
                "decoded_first": first,
                "decoded_later": later,
                "chips": chips,
                "spoken": await page.evaluate("window.vaDebug.spoken"),
                "events": set(await page.evaluate("window.vaDebug.events.map(e => e.type)")),
                "lighting_state": await page.get_attribute("#lighting", "data-state"),
                "errors": errors,
            }
        finally:
            await browser.close()
