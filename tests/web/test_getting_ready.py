"""While the server's models load, a phone that presses Start reads "Getting ready" (not
"Server busy") with how far the load has got ("Getting ready… 2 of 4" and a bar, from
`GET /api/status`), and goes live by itself once the models are ready."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from stream.app import ServerConfig, create_app
from stream.edge.limits import ServerLimits
from stream.edge.loading import LoadProgress
from tests.support.browser import CHROMIUM, WEB_DIR, chromium_args, wait_for
from tests.support.camera import write_camera_clip
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving


def test_a_phone_waits_for_the_models_as_getting_ready(tmp_path: Path) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), "apt-get install -y chromium"
    clip = write_camera_clip(tmp_path, seconds=2, seed=1)
    result = asyncio.run(asyncio.wait_for(_start_while_loading(clip), 150))
    assert result["errors"] == [], result["errors"]
    assert result["state"] == "server-starting"
    assert result["title"] == "Getting ready" and "waking up" in result["help"]
    assert result["line"] == "Getting ready… 2 of 4"
    assert result["bar"] == {"shown": True, "value": 1.5, "max": 4}
    assert result["debug"] == {"step": 2, "steps": 4, "doing": "models"}
    assert result["then"] == "live"
    assert result["bar_after"] is False  # live: the bar is gone


# the getting-ready bar as a child sees it: shown (in the layout, with a size) and its value
BAR = """(() => {
    const box = document.getElementById("ready");
    const bar = box.querySelector("progress");
    const rect = bar.getBoundingClientRect();
    return {
        shown: !box.hidden && rect.width > 100 && rect.height >= 16,
        value: bar.value,
        max: bar.max,
    };
})()"""


async def _start_while_loading(clip: Path) -> dict[str, Any]:
    loaded = threading.Event()
    progress = LoadProgress(("importing", "models", "warming up", "engine"))

    def slow_models() -> FakeEngine:
        progress.begin("importing")
        progress.begin("models")  # step 2 of 4 until the test lets it go on
        assert loaded.wait(120), "the test never let the models load"
        progress.begin("engine")
        return FakeEngine(delay_s=0.05)

    # a long Retry-After: going live soon after the load shows the page asked the status, not
    # that its countdown ran out
    app = create_app(
        ServerConfig(web_dir=WEB_DIR, limits=ServerLimits(retry_after_s=120)),
        engine_factory=slow_models,
        progress=progress,
    )
    try:
        async with serving(app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_args(clip)
            )
            try:
                page = await browser.new_page(viewport={"width": 390, "height": 844})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                await page.goto(f"{base}/")
                await page.click("#start")
                await wait_for(page, "window.vaDebug.state !== 'connecting'")
                state = await page.evaluate("window.vaDebug.state")
                title = await page.text_content("#status")
                help_text = await page.evaluate("document.body.innerText")
                await wait_for(page, "!document.getElementById('ready').hidden")
                bar = await page.evaluate(BAR)
                line = await page.text_content("#ready-line")
                debug = await page.evaluate("window.vaDebug.loading")
                loaded.set()  # the models are ready now: the page sees it and goes live
                await wait_for(page, "window.vaDebug.state === 'live'", timeout=60_000)
                return {
                    "errors": errors,
                    "state": state,
                    "title": title,
                    "help": help_text,
                    "line": line,
                    "bar": bar,
                    "debug": debug,
                    "then": await page.evaluate("window.vaDebug.state"),
                    "bar_after": await page.evaluate(BAR + ".shown"),
                }
            finally:
                await browser.close()
    finally:
        loaded.set()
