"""A live session whose outgoing frames count as late (thresholds set below any real delay)
steps its returned video down to the small size, says so in `stats`, and keeps the video
flowing: the load levels are wired from the track to the painter."""

from __future__ import annotations

import asyncio

import aiohttp

from stream.app import ServerConfig, create_app
from stream.webrtc.outgoing_load import MAX_LEVEL, SMALL_VIDEO_ROWS, LoadSettings
from stream.webrtc.session_settings import SessionSettings
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, photo, serving

DEADLINE_S = 60.0


def test_a_late_outgoing_video_gets_smaller_and_goes_on() -> None:
    asyncio.run(asyncio.wait_for(_late_session(), 120))


async def _late_session() -> None:
    every_frame_is_late = LoadSettings(busy_delay_s=2e-9, calm_delay_s=1e-9, min_step_s=0.0)
    settings = SessionSettings(idle_timeout_s=60, load=every_frame_is_late)
    app = create_app(ServerConfig(session=settings), engine=FakeEngine(delay_s=0.05))
    image = photo("coffee", 640, 480)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        client = Client(image, fps=15)
        heights: list[int] = []
        client.on_frame = lambda frame: heights.append(frame.height)
        try:
            await client.connect(http, base)
            stats = await client.wait_for(
                "stats", lambda m: m["load_level"] == MAX_LEVEL, timeout=DEADLINE_S
            )
            assert stats["frames_out"] > 0
            seen = len(heights)
            deadline = asyncio.get_running_loop().time() + DEADLINE_S
            while SMALL_VIDEO_ROWS not in heights[seen:]:
                assert asyncio.get_running_loop().time() < deadline, set(heights)
                await asyncio.sleep(0.1)
        finally:
            await client.close()
    assert heights[0] == 480, "full size while on time"
    assert heights[-1] == SMALL_VIDEO_ROWS
