"""The phone page through a real TURN relay (issue 19): Chromium, headless, with a fake camera,
against the real server told `--ice-relay-only` and a real coturn on loopback
(tests/support/coturn.py).

(a) Relay over TURN UDP and over TURN TCP: the page goes live, decodes the returned annotated
video, and both ends say the session is relayed and over which transport: the page from its
own getStats (`relayProtocol` of its local candidate, PeerLink.connectionPath()), the server
in its `stats` message and on `/metrics`.
(b) A server whose TURN secret is not coturn's: the page shows the "network" error in words a
child and a teacher can act on, within a bounded time, instead of reconnecting forever.

Loopback TURN in Chromium needs nothing special: Chromium sends TURN requests to 127.0.0.1 and
accepts relayed candidates on it (coturn needs `--allow-loopback-peers` to relay between two
loopback addresses, which tests/support/coturn.py passes). What would hide them is the mDNS
obfuscation of host candidates, switched off for all page tests by
`--disable-features=WebRtcHideLocalIpsWithMdns` in `chromium_args` (tests/support/browser.py);
a relay-only page has no host candidates anyway.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import async_playwright

from stream.app import ServerConfig, create_app
from stream.webrtc.ice import IceSettings
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.browser import (
    CHROMIUM,
    WEB_DIR,
    chromium_args,
    frames_decoded,
    wait_for,
    wait_for_more,
)
from tests.support.camera import write_camera_clip
from tests.support.coturn import SECRET, free_port, running_coturn
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving

NETWORK_ERROR_WITHIN_S = 15
"""A refused TURN login is known within milliseconds on loopback; gathering waits at most 3 s
(peer.js), so the page must say so well within this."""


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shorter clip (2 s) than the suite's: each relay test only needs the video flowing."""
    return write_camera_clip(tmp_path_factory.mktemp("camera"), seconds=2, seed=1)


async def _relay_session(turn_port: int, transport: str, secret: str, clip: Path) -> Any:
    """Serve relay-only through coturn with `secret`; drive the phone page; the page's and the
    server's view of the session (or of the failure)."""
    url = f"turn:127.0.0.1:{turn_port}?transport={transport}"
    settings = IceSettings(urls=(url,), secret=secret, relay_only=True)
    app = create_app(ServerConfig(web_dir=WEB_DIR, ice=settings), engine=FakeEngine())
    async with serving(app) as base, async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(clip)
        )
        try:
            page = await (
                await browser.new_context(viewport={"width": 390, "height": 844})
            ).new_page()
            await page.goto(f"{base}/")
            await page.click("#start")
            if secret != SECRET:
                started = asyncio.get_running_loop().time()
                await wait_for(
                    page,
                    "window.vaDebug.state === 'error' || window.vaDebug.state === 'live'",
                    timeout=NETWORK_ERROR_WITHIN_S * 1000,
                )
                return {
                    "after_s": asyncio.get_running_loop().time() - started,
                    "state": await page.evaluate("window.vaDebug.state"),
                    "detail": await page.evaluate("window.vaDebug.detail"),
                    "status": await page.text_content("#status"),
                    "help": await page.text_content("#help"),
                    "button": await page.is_visible("#start"),
                }
            await wait_for(page, "window.vaDebug.state === 'live'", timeout=30_000)
            first = await wait_for_more(lambda: frames_decoded(page), 0)
            later = await wait_for_more(lambda: frames_decoded(page), first)
            server_stats = await wait_for(
                page,
                "window.vaDebug.events.findLast(e => e.type === 'stats' && e.path !== 'pending')",
            )
            page_path = await wait_for(page, "window.vaDebug.path")
            line = "document.querySelector('#stats').textContent.includes('relay')"
            await wait_for(page, line, timeout=5_000)
            local_types = await page.evaluate(
                """async () => {
                    const types = [];
                    (await window.vaDebug.pc.getStats()).forEach(r => {
                        if (r.type === "local-candidate") types.push(r.candidateType);
                    });
                    return types;
                }"""
            )
            registry = app[SESSIONS_KEY]
            [session] = list(registry)
            return {
                "decoded": (first, later),
                "server_stats": await server_stats.json_value(),
                "page_path": await page_path.json_value(),
                "local_types": local_types,
                "stats_line": await page.text_content("#stats"),
                "server_path": session.connection_path().as_fields(),
            }
        finally:
            await browser.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_the_page_goes_live_through_a_turn_relay(
    coturn: int, transport: str, camera_clip: Path
) -> None:
    result = asyncio.run(
        asyncio.wait_for(_relay_session(coturn, transport, SECRET, camera_clip), 120)
    )
    first, later = result["decoded"]
    assert later > first > 0, "the annotated video comes back through the relay"
    assert set(result["local_types"]) == {"relay"}, result["local_types"]  # relay only
    assert result["page_path"]["path"] == "relay"
    assert result["page_path"]["protocol"] == transport  # the page's leg to coturn
    stats = result["server_stats"]
    assert (stats["path"], stats["transport"]) == ("relay", transport)
    assert stats["codec"] in ("VP8", "H264")  # the server's choice (stream/webrtc/video_codecs.py)
    assert result["server_path"] == {
        "path": "relay",
        "transport": transport,
        "codec": stats["codec"],
    }
    assert f"relay {transport}" in (result["stats_line"] or "")


def test_a_refused_turn_login_says_so_on_the_page(tmp_path: Path, camera_clip: Path) -> None:
    with running_coturn(tmp_path) as turn:
        result = asyncio.run(
            asyncio.wait_for(_relay_session(turn.port, "udp", "not-" + SECRET, camera_clip), 60)
        )
        # coturn did refuse the login (its 401 to the Allocate carrying the wrong password)
        assert "Cannot find credentials of user" in turn.log.read_text()
    assert result["state"] == "error", result
    assert result["detail"]["reason"] == "network"
    assert result["detail"]["turn"] == "refused"
    assert result["after_s"] < NETWORK_ERROR_WITHIN_S
    assert "can't reach the server from this network" in (result["status"] or "")
    help_text = result["help"] or ""
    assert "Ask your teacher" in help_text and "check the TURN secret" in help_text
    assert result["button"], "Try again stays (the teacher may fix the secret)"


def test_an_unreachable_turn_server_says_so_on_the_page(camera_clip: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)  # nothing listens there: no relay at all
    result = asyncio.run(
        asyncio.wait_for(_relay_session(port, "udp", "not-" + SECRET, camera_clip), 60)
    )
    assert result["state"] == "error", result
    assert (result["detail"]["reason"], result["detail"]["turn"]) == ("network", "unreachable")
    assert "could not be reached" in (result["help"] or "")
