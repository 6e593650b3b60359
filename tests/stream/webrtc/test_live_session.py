"""One phone over loopback against a deliberately slow engine: the video comes back at the
camera's rate (even while the engine is stuck) with the overlay drawn where the objects are, the
data channel carries hello, objects, say and stats, and /healthz answers while the engine is
stuck."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from stream.app import ServerConfig, create_app
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from tests.support.fake_engine import BOX, FakeEngine
from tests.support.rtc_client import Client, mean_abs_diff, photo, serving

DEADLINE_S = 60.0  # generous: only a broken server waits this long


def test_video_returns_at_camera_rate_with_overlays_while_the_engine_is_slow() -> None:
    asyncio.run(asyncio.wait_for(_live_session(), 180))


def _overlay_inside(returned: np.ndarray, image: np.ndarray) -> float:
    """How much the returned picture differs from the photo inside the cat's box."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = BOX
    inside = (slice(int((y1 + 0.05) * h), int((y2 - 0.05) * h)),
              slice(int((x1 + 0.05) * w), int((x2 - 0.05) * w)))  # fmt: skip
    return float(np.abs(returned[inside].astype(np.int16) - image[inside]).mean())


async def _live_session() -> None:
    # 300 ms of CPU work per result (5x slower than the 15 fps camera), on frames scaled to half
    # the camera's size (so the server must scale masks back up); held at first: stuck in its
    # first frame for as long as the test likes, whatever the machine
    engine = FakeEngine(delay_s=0.3, busy=True, process_size=120)
    engine.hold()
    app = create_app(ServerConfig(session=SessionSettings(idle_timeout_s=60)), engine=engine)
    image = photo("chelsea", 320, 240)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        client = Client(image, fps=15)
        # per returned frame, in order: does it carry the overlay? (the mask's colour changes
        # the box's pixels by far more than VP8 does: > 20 against < 10 grey levels)
        overlaid: list[bool] = []
        client.on_frame = lambda frame: overlaid.append(
            _overlay_inside(frame.to_ndarray(format="rgb24"), image) > 20
        )
        try:
            answer = await client.connect(http, base)
            hello = await client.wait_for("hello", timeout=DEADLINE_S)
            assert hello["v"] == 1
            assert hello["session"] == answer["session"]
            assert hello["themes"] == ["animals", "fruit"]
            assert hello["vocabulary"] == ["cat", "cup"]
            assert hello["limits"]["max_message_bytes"] == 16 * 1024
            session = app[SESSIONS_KEY].get(answer["session"])
            assert session is not None

            # the engine is stuck on a frame: the video comes back all the same, and /healthz
            # answers (neither waits for the models)
            await client.wait_until(
                lambda: engine.stuck.is_set() and client.received >= 30, timeout=DEADLINE_S
            )
            t0 = time.perf_counter()
            async with http.get(f"{base}/healthz") as response:
                assert response.status == 200
            print(f"/healthz with the engine stuck: {(time.perf_counter() - t0) * 1000:.1f} ms")
            assert session.results == 0 and engine.stuck.is_set()
            assert not any(overlaid), "no result yet, so no overlay"

            # the engine works again: the overlay appears, then stays on every later frame
            sent0, received0, started = client.track.sent, client.received, time.monotonic()
            engine.release()
            await client.wait_until(lambda: any(overlaid), timeout=DEADLINE_S)
            first = overlaid.index(True)
            await client.wait_until(lambda: len(overlaid) >= first + 30, timeout=DEADLINE_S)
            assert all(overlaid[first:]), "a frame after the first result lost the overlay"
            assert client.out_of_order == 0, "frames came back out of order"

            sent, received = client.track.sent - sent0, client.received - received0
            results = session.results
            elapsed = time.monotonic() - started
            print(
                f"{elapsed:.1f} s: sent {sent / elapsed:.1f} fps, got back "
                f"{received / elapsed:.1f} fps, {results / elapsed:.1f} results/s"
            )
            assert results > 0
            # a wide sanity bound only: even a slow, busy machine returns most frames
            assert received >= sent / 3, f"sent {sent}, got back {received}"
            # every camera frame went out, or was dropped for a newer one before the encoder:
            # at most one is being drawn, the rest wait in the mailbox
            assert session.out_track is not None
            unaccounted = (
                session.frames_in
                - session.out_track.frames_out
                - session.mailbox.dropped
                - len(session.mailbox)
            )
            assert unaccounted in (0, 1), unaccounted

            # every returned frame records the server's share of the latency (before encoding)
            low = session.out_track.frames_out
            async with http.get(f"{base}/metrics") as response:
                scraped = {
                    sample.name: sample.value
                    for family in text_string_to_metric_families(await response.text())
                    for sample in family.samples
                    if sample.name.startswith("visionanything_server_delay_seconds_")
                    and "bucket" not in sample.name
                }
            count = scraped["visionanything_server_delay_seconds_count"]
            total = scraped["visionanything_server_delay_seconds_sum"]
            assert low <= count <= session.out_track.frames_out and total > 0, (count, total)
            print(f"server delay before the encoder: mean {1000 * total / count:.1f} ms")

            objects = await client.wait_for("objects", timeout=DEADLINE_S)
            assert objects["objects"][0]["label"] == "cat"
            assert set(objects["objects"][0]) == {"id", "label", "say", "score", "box", "colour"}
            say = await client.wait_for("say", timeout=DEADLINE_S)
            assert say["text"] == "That's a cat!" and say["ids"] == [1]
            stats = await client.wait_for(
                "stats", lambda m: m["frames_out"] > 0 and m["masks_fps"] > 0, timeout=DEADLINE_S
            )
            print(f"stats: fps_in {stats['fps_in']}, masks_fps {stats['masks_fps']}")
            assert 0 < stats["frames_out"] <= stats["frames_in"] <= client.track.sent, stats
            assert stats["fps_in"] > 0
            assert stats["lighting"]["state"] == "normal"
            assert stats["vocabulary"] == ["cat", "cup"]
            assert stats["session"] == answer["session"]

            # the returned picture is the photo, changed only where the cat's mask is
            assert client.last_frame is not None
            returned = client.last_frame.to_ndarray(format="rgb24")
            assert returned.shape == image.shape
            h, w = image.shape[:2]
            ys, xs = np.mgrid[0:h, 0:w]
            x1, y1, x2, y2 = BOX
            inside = (
                (xs > (x1 + 0.05) * w)
                & (xs < (x2 - 0.05) * w)
                & (ys > (y1 + 0.05) * h)
                & (ys < (y2 - 0.05) * h)
            )
            outside = (xs < (x1 - 0.05) * w) | (ys > (y2 + 0.05) * h)  # clear of the label badge
            diff_in = mean_abs_diff(returned, image, inside)
            diff_out = mean_abs_diff(returned, image, outside)
            assert diff_in > 20 and diff_in > 4 * diff_out, (diff_in, diff_out)
            assert diff_out < 10, diff_out
        finally:
            engine.release()
            await client.close()
    assert engine.stopped, "graceful shutdown stops the engine"
    assert engine.open_sessions == []
