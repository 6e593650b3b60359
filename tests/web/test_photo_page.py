"""The photo page in a real browser (Debian's Chromium, headless, Playwright) against the real
server and engine (tiny random models on the CPU): choose a photo file, type words, send, see
the overlay, tap a found thing to hear it, download the overlay PNG."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import cv2
from playwright.async_api import async_playwright

from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.models import Models
from stream.app import ServerConfig, create_app
from stream.photos.photo_api import PhotoSettings
from tests.support.browser import CHROMIUM, WEB_DIR, wait_for
from tests.support.rtc_client import photo, serving

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# random weights score low: pin thresholds so the tiny detector finds things
PINNED = LightingSettings(box_threshold=0.0, text_threshold=0.0)


def test_photo_page_uploads_shows_speaks_and_downloads(models: Models, tmp_path: Path) -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), (
        "Debian's chromium is needed for this test: `apt-get install -y chromium`"
    )
    picture = tmp_path / "chelsea.png"
    cv2.imwrite(str(picture), cv2.cvtColor(photo("chelsea", 320, 240), cv2.COLOR_RGB2BGR))
    engine = Engine(models, EngineSettings(max_side=320, lighting=PINNED))
    result = asyncio.run(asyncio.wait_for(_drive_page(engine, picture, tmp_path), 150))
    assert result["errors"] == [] and result["page_errors"] == []
    assert result["overlay_width"] == 320
    assert result["downloaded"].startswith(PNG_MAGIC)
    assert result["suggested"] == "overlay.png"
    assert result["objects"], "the pinned thresholds let the tiny detector find something"
    assert result["tapped"] == result["objects"][0]["id"], "a tap on its mask names it"
    assert any(r["text"] for r in result["spoken"])


async def _drive_page(engine: Engine, picture: Path, tmp_path: Path) -> dict[str, Any]:
    config = ServerConfig(web_dir=WEB_DIR, photo=PhotoSettings(lighting=PINNED))
    app = create_app(config, engine=engine)
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            context = await browser.new_context(
                viewport={"width": 390, "height": 844}, accept_downloads=True
            )
            page = await context.new_page()
            page_errors: list[str] = []
            page.on("pageerror", lambda error: page_errors.append(str(error)))
            await page.goto(f"{base}/photo")
            await wait_for(page, "window.vaPhoto !== undefined")
            await page.set_input_files("#image", str(picture))
            await page.fill("#words", "cat, cup")
            await page.click("#send")
            await wait_for(
                page,
                "(() => { const i = document.getElementById('overlay');"
                " return i.complete && i.naturalWidth > 0; })()",
                timeout=60_000,
            )
            await wait_for(page, "window.vaPhoto.labels !== null", timeout=60_000)
            objects = await page.evaluate("window.vaPhoto.result.objects")
            tapped = None
            if objects:
                # the centre of the first object's mask is usually in it; try its box centre
                tapped = await page.evaluate(
                    """() => {
                        const r = window.vaPhoto.result, labels = window.vaPhoto.labels;
                        for (const o of r.objects) {
                          for (let i = 0; i < labels.length; i++) if (labels[i] === o.mask_value) {
                            const x = i % r.image.width, y = Math.floor(i / r.image.width);
                            const hit = window.vaPhoto.tap(x + 0.5, y + 0.5);
                            return hit && hit.id;
                          }
                        }
                        return null;
                    }"""
                )
            async with page.expect_download() as waiting:
                await page.click("#download-overlay")
            download = await waiting.value
            saved = tmp_path / "downloaded.png"
            await download.save_as(saved)
            return {
                "overlay_width": await page.evaluate(
                    "document.getElementById('overlay').naturalWidth"
                ),
                "objects": objects,
                "tapped": tapped,
                "spoken": await page.evaluate("window.vaPhoto.spoken"),
                "errors": await page.evaluate("window.vaPhoto.errors"),
                "page_errors": page_errors,
                "downloaded": saved.read_bytes(),
                "suggested": download.suggested_filename,
            }
        finally:
            await browser.close()
