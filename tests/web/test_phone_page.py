"""The phone page in a real browser: Debian's Chromium, headless, driven by Playwright, with a
fake camera playing a clip made from real photos, against the real server and engine (tiny
random models on the CPU). It presses Start and reads the outcome from the page itself."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from inference.labels import AnnouncerSettings
from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.models import Models
from stream.app import ServerConfig, create_app
from tests.support.browser import (
    CHROMIUM,
    WEB_DIR,
    chromium_args,
    frames_decoded,
    wait_for,
    wait_for_more,
)
from tests.support.camera import write_camera_clip
from tests.support.rtc_client import serving


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A longer clip (4 s) than the suite's: the real engine's first results take a while."""
    return write_camera_clip(tmp_path_factory.mktemp("camera"), seconds=4, seed=1)


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
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(clip)
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
            first = await frames_decoded(page)
            later = await wait_for_more(lambda: frames_decoded(page), first)
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
