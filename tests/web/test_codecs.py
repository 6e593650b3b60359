"""The phone page's video codec in a real browser (issue 19): Debian's Chromium, headless, with
a fake camera, against the real server (a stand-in engine: codecs do not need models).

With `--video-codec auto` the page puts H.264 first (what iPhones encode in hardware) and both
directions of the one sendrecv transceiver run H.264; with `--video-codec vp8` both run VP8.
Read from the page's own `pc.getStats()`: the outbound and inbound video's codec mimeType, and
returned frames being decoded. (This Chromium offers H.264: constrained baseline 42e01f and
baseline 42001f, packetization-mode 0 and 1.)"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from stream.app import ServerConfig, create_app
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.video_codecs import VideoSettings
from tests.support.browser import (
    CHROMIUM,
    WEB_DIR,
    chromium_args,
    frames_decoded,
    wait_for,
    wait_for_more,
)
from tests.support.camera import write_camera_clip
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A longer clip (4 s) than the suite's, as the phone page's own test uses."""
    return write_camera_clip(tmp_path_factory.mktemp("camera"), seconds=4, seed=1)


CODECS_IN_USE = """async () => {
    const stats = await window.vaDebug.pc.getStats();
    const out = {};
    stats.forEach(r => {
        if ((r.type === "outbound-rtp" || r.type === "inbound-rtp") && r.kind === "video") {
            const codec = r.codecId ? stats.get(r.codecId) : null;
            out[r.type] = {
                mimeType: codec ? codec.mimeType : null,
                fmtp: codec ? codec.sdpFmtpLine || "" : "",
                frames: r.type === "inbound-rtp" ? r.framesDecoded || 0 : r.framesEncoded || 0,
            };
        }
    });
    return out;
}"""


async def _drive(codec: str, clip: Path) -> dict[str, Any]:
    video = VideoSettings(codec=codec)
    config = ServerConfig(web_dir=WEB_DIR, session=SessionSettings(video=video))
    app = create_app(config, engine=FakeEngine(delay_s=0.05))
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(clip)
        )
        try:
            page: Page = await (await browser.new_context()).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{base}/")
            await page.click("#start")
            await wait_for(
                page,
                "window.vaDebug.pc && window.vaDebug.pc.connectionState === 'connected'",
                timeout=30_000,
            )
            first = await wait_for_more(lambda: frames_decoded(page), 0)
            later = await wait_for_more(lambda: frames_decoded(page), first)
            # both directions have sent a while: codec stats exist for each
            found = await wait_for(
                page,
                f"""(async () => {{ const c = await ({CODECS_IN_USE})();
                    return c['outbound-rtp'] && c['outbound-rtp'].frames > 5
                        && c['inbound-rtp'] && c['inbound-rtp'].mimeType ? c : null; }})()""",
            )
            offer_sdp = await page.evaluate("window.vaDebug.pc.localDescription.sdp")
            return {
                "codecs": await found.json_value(),
                "decoded": (first, later),
                "offer_first": _first_codec(offer_sdp),
                "errors": errors,
            }
        finally:
            await browser.close()


def _first_codec(sdp: str) -> str:
    """The first codec of the video m-line of `sdp`, with its fmtp ("H264 …42e01f")."""
    section = sdp.split("m=video", 1)[1].split("\nm=", 1)[0]
    payload = section.splitlines()[0].split()[2]
    name = next(
        line.split(" ", 1)[1].split("/")[0]
        for line in section.splitlines()
        if line.startswith(f"a=rtpmap:{payload} ")
    )
    fmtp = next(
        (
            line.split(" ", 1)[1]
            for line in section.splitlines()
            if line.startswith(f"a=fmtp:{payload} ")
        ),
        "",
    )
    return f"{name} {fmtp}".strip()


def _need_chromium() -> None:
    assert CHROMIUM.exists() or shutil.which("chromium"), (
        "Debian's chromium is needed for this test: `apt-get install -y chromium` "
        "(make test installs it when run as root)"
    )


def test_phone_page_prefers_h264_both_ways(camera_clip: Path) -> None:
    _need_chromium()
    result = asyncio.run(asyncio.wait_for(_drive("auto", camera_clip), 120))
    assert result["offer_first"].startswith("H264"), result["offer_first"]
    assert "profile-level-id=42e01f" in result["offer_first"]
    assert "packetization-mode=1" in result["offer_first"]
    codecs = result["codecs"]
    assert codecs["outbound-rtp"]["mimeType"] == "video/H264", codecs  # the camera
    assert codecs["inbound-rtp"]["mimeType"] == "video/H264", codecs  # the annotated video
    first, later = result["decoded"]
    assert later > first > 0, "the returned H.264 video is decoded"
    assert not result["errors"]


def test_vp8_still_works_both_ways(camera_clip: Path) -> None:
    _need_chromium()
    result = asyncio.run(asyncio.wait_for(_drive("vp8", camera_clip), 120))
    assert result["offer_first"] == "VP8", "the page puts the server's choice first"
    codecs = result["codecs"]
    assert codecs["outbound-rtp"]["mimeType"] == "video/VP8", codecs
    assert codecs["inbound-rtp"]["mimeType"] == "video/VP8", codecs
    first, later = result["decoded"]
    assert later > first > 0, "the returned VP8 video is decoded"
    assert not result["errors"]


ORDERS = """async () => {
    const { orderCodecs, preferCodecs } = await import("/js/codecs.js");
    const c = (mimeType, sdpFmtpLine) => (sdpFmtpLine ? { mimeType, sdpFmtpLine } : { mimeType });
    const safari = [  // what an iPhone's Safari lists: H.264 high and baseline, VP8, rtx, red
        c("video/H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f"),
        c("video/rtx"),
        c("video/H264", "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
        c("video/VP8"),
        c("video/red"),
        c("video/ulpfec"),
    ];
    const chrome = RTCRtpReceiver.getCapabilities("video").codecs;
    const names = (list) => list.map(x => `${x.mimeType} ${x.sdpFmtpLine || ""}`.trim());
    const applied = [];
    const fake = { setCodecPreferences: (codecs) => applied.push(codecs.length) };
    return {
        safari_auto: names(orderCodecs(safari, "auto")),
        safari_vp8: names(orderCodecs(safari, "vp8")),
        unknown: names(orderCodecs(safari, "av1")),
        chrome_len: [chrome.length, orderCodecs(chrome, "auto").length],
        chrome_first: names(orderCodecs(chrome, "h264")).slice(0, 2),
        old_safari: preferCodecs({}, "auto"),
        no_caps: preferCodecs(fake, "auto", {}),
        fake: [preferCodecs(fake, "vp8"), applied],
        throws: preferCodecs({ setCodecPreferences: () => { throw new Error("no"); } }, "auto"),
    };
}"""


def test_codec_order_keeps_every_entry_and_puts_the_choice_first(camera_clip: Path) -> None:
    """web/js/codecs.js's pure functions, in the browser that runs them (no build step)."""
    _need_chromium()

    async def scenario() -> dict[str, Any]:
        config = ServerConfig(web_dir=WEB_DIR)
        app = create_app(config, engine=FakeEngine(delay_s=0.05))
        async with serving(app) as base, async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=chromium_args(camera_clip)
            )
            try:
                page = await (await browser.new_context()).new_page()
                await page.goto(f"{base}/")
                result: dict[str, Any] = await page.evaluate(ORDERS)
                return result
            finally:
                await browser.close()

    r = asyncio.run(asyncio.wait_for(scenario(), 60))
    h264 = "video/H264 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id="
    assert r["safari_auto"] == [
        h264 + "42e01f",  # constrained baseline, what iOS encodes in hardware
        h264 + "640c1f",
        "video/VP8",
        "video/rtx",  # nothing dropped: rtx, red and FEC keep their codecs
        "video/red",
        "video/ulpfec",
    ]
    assert r["safari_vp8"][:3] == ["video/VP8", h264 + "42e01f", h264 + "640c1f"]
    assert r["unknown"] == r["safari_auto"], "an unknown choice is auto"
    assert r["chrome_len"][0] == r["chrome_len"][1]
    assert r["chrome_first"] == [h264 + "42e01f", h264 + "42001f"]
    assert r["old_safari"] is False, "no setCodecPreferences: the browser negotiates"
    assert r["no_caps"] is False
    assert r["fake"][0] is True and r["fake"][1][0] == r["chrome_len"][0]
    assert r["throws"] is False, "a refused order is noted, never thrown"
