"""Real Chromium for the page tests: Debian's browser (`CHROMIUM`, headless, driven by
Playwright) with a fake camera playing a clip, the pages served from `WEB_DIR`, and helpers to
open a page, read its state and hand it the server's messages.

Waiting on a page's state from Python: Playwright's `wait_for_function` evaluates its predicate
with eval() inside the page, which the server's Content-Security-Policy (script-src 'self', no
'unsafe-eval') rightly forbids; `page.evaluate` goes through the DevTools protocol instead, so
the pages are tested under the same policy phones get."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.webrtc.engine_seam import EngineLike
from tests.support.rtc_client import serving

# Debian's Chromium (`apt-get install -y chromium`; make test installs it when run as root)
CHROMIUM = Path("/usr/bin/chromium")
# the pages the server serves
WEB_DIR = Path(__file__).parents[2] / "web"
# screenshots for a person to look at (docs/hunt-phone.png is a copy of the phone hunt's)
SHOTS = Path(__file__).parents[2] / "build" / "screenshots"

# Before a page's own scripts (`page.add_init_script`): a speech synthesiser that writes down
# every utterance that has words, as {text, lang, rate}, in `window.__said`; and every data
# channel the page makes, in `window.__channels`, so a test can hand it the server's messages
# (`deliver`).
SPEECH_AND_CHANNELS = """(() => {
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


# -- the browser -----------------------------------------------------------------------------------


def chromium_args(clip: Path) -> list[str]:
    """Chromium's command line for a phone: the fake camera playing `clip`, media allowed
    without asking, real loopback addresses in ICE (no mDNS), and nothing running besides."""
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


@contextlib.asynccontextmanager
async def phone_browser(engine: EngineLike, clip: Path) -> AsyncIterator[tuple[Browser, str]]:
    """The real server with `engine` (pages from `WEB_DIR`), and Chromium with the fake camera
    playing `clip`: (browser, the server's base URL)."""
    app = create_app(ServerConfig(web_dir=WEB_DIR), engine=engine)
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(clip)
        )
        try:
            yield browser, base
        finally:
            await browser.close()


async def open_page(
    browser: Browser, errors: list[str], viewport: tuple[int, int] = (1280, 720)
) -> Page:
    """A new page in its own context, `viewport` (width, height) big; its script errors and
    Content-Security-Policy violations are added to `errors`."""
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return page


async def open_phone(
    browser: Browser, base: str, errors: list[str], size: tuple[int, int] = (390, 844)
) -> Page:
    """A phone page with `SPEECH_AND_CHANNELS`, live (Start pressed, the channel open, the
    returned video playing); its script errors are added to `errors`."""
    context = await browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.add_init_script(SPEECH_AND_CHANNELS)
    await page.goto(f"{base}/")
    await page.click("#start")
    await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
    await wait_for(page, "window.vaDebug.events.some(e => e.type === 'hello')")
    await wait_for(page, "document.querySelector('#remote').videoWidth > 0", timeout=30_000)
    return page


# -- the page's state ------------------------------------------------------------------------------


class Value:
    """What `wait_for` found (`json_value()` like Playwright's handles)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    async def json_value(self) -> Any:
        return self.value


async def wait_for(page: Page, expression: str, timeout: float = 30_000) -> Value:
    """Poll `expression` (JavaScript, evaluated in the page) until it is truthy; raise
    TimeoutError after `timeout` milliseconds."""
    deadline = time.monotonic() + timeout / 1000
    while True:
        value = await page.evaluate(expression)
        if value:
            return Value(value)
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} ms waiting for: {expression}")
        await asyncio.sleep(0.1)


async def wait_for_more(count: Callable[[], Awaitable[int]], than: int, timeout: float = 30) -> int:
    """Poll `count()` until it exceeds `than` (e.g. frames decoded keep growing); its value,
    or TimeoutError after `timeout` seconds. Waits for an event, not for a fixed time."""
    deadline = time.monotonic() + timeout
    while (value := await count()) <= than:
        if time.monotonic() > deadline:
            raise TimeoutError(f"still {value} after {timeout:.0f} s (wanted more than {than})")
        await asyncio.sleep(0.1)
    return value


async def frames_decoded(page: Page) -> int:
    """How many video frames the phone page (`window.vaDebug.pc`) has decoded so far."""
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


async def said(page: Page) -> list[dict[str, Any]]:
    """Every utterance so far ({text, lang, rate}), on a page with `SPEECH_AND_CHANNELS`."""
    spoken: list[dict[str, Any]] = await page.evaluate("window.__said")
    return spoken


async def wait_said(page: Page, text: str, timeout: float = 15_000) -> dict[str, Any]:
    """The first utterance containing `text` (waits for it), on a page with
    `SPEECH_AND_CHANNELS`."""
    found = await wait_for(
        page, f"window.__said.find(u => u.text.includes({json.dumps(text)}))", timeout=timeout
    )
    utterance: dict[str, Any] = await found.json_value()
    return utterance


async def deliver(page: Page, message: dict[str, Any]) -> None:
    """Hand the page's newest data channel a message, as the server would send it (a page with
    `SPEECH_AND_CHANNELS`)."""
    await page.evaluate(
        """(text) => window.__channels[window.__channels.length - 1]
            .dispatchEvent(new MessageEvent("message", { data: text }))""",
        json.dumps({"v": 1, **message}),
    )


async def choose_language(page: Page, code: str) -> None:
    """On a live phone page: pick the language `code` from the Language sheet; waits until the
    page has told the server and switched its own `lang`."""
    await page.click("#language-button")
    await page.wait_for_selector("#language-sheet", state="visible")
    await page.click(f"#language-list button[data-code='{code}']")
    await page.wait_for_selector("#language-sheet", state="hidden")
    await wait_for(
        page, f"window.vaDebug.events.some(e => e.type === 'language' && e.language === '{code}')"
    )
    assert await page.evaluate("document.documentElement.lang") == code


# -- the teacher's page ----------------------------------------------------------------------------


async def create_room(teacher: Page) -> str:
    """On a logged-in teacher page: press New room, wait for the room's controls; its code."""
    await teacher.wait_for_selector("#new-room", state="visible")
    await teacher.click("#new-room")
    await teacher.wait_for_url("**/room/*/teacher")
    await teacher.wait_for_selector("#controls", state="visible")
    return (await teacher.text_content("#code") or "").strip()


async def teacher_post(teacher: Page, path: str, body: dict[str, Any] | None = None) -> Any:
    """POST JSON to the teacher API from a logged-in teacher page (its cookie, its origin), as
    the page's own buttons do; the answer's JSON."""
    return await teacher.evaluate(
        """async ([path, body]) => {
            const response = await fetch(path, {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify(body),
                credentials: "same-origin",
            });
            return await response.json();
        }""",
        [path, body or {}],
    )
