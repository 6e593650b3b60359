"""The server with the real engine (tiny random models on the CPU) and an aiortc phone over
loopback: video returns at the camera's rate while MobileSAM (512, ~0.3 s a frame here) is far
slower, objects and stats arrive, and the overlay is drawn exactly where the result's masks are."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiohttp
import cv2
import numpy as np
import pytest
import torch

from inference.engine import Engine, EngineSettings
from inference.lighting import LightingSettings
from inference.models import Models
from inference.overlay import OverlayRenderer
from stream.app import SESSIONS_KEY, ServerConfig, create_app
from stream.sessions import SessionSettings
from stream.tracks import fit_detections
from tests.stream.rtc_client import Client, mean_abs_diff, photo, serving

STEADY_S = 5.0


@pytest.fixture(scope="module")
def models() -> Iterator[Models]:
    from inference.detector import build_random_detector
    from inference.segmenter import build_random_segmenter

    cpu = torch.device("cpu")
    yield Models(build_random_detector(cpu, tiny=True), build_random_segmenter(cpu, 512))


@pytest.mark.parametrize("follow", [False, True], ids=["masks-as-made", "masks-followed"])
def test_real_engine_end_to_end(models: Models, follow: bool) -> None:
    engine = Engine(
        models,
        # random weights score low: pin the thresholds so the tiny detector finds things
        EngineSettings(
            max_side=320, lighting=LightingSettings(box_threshold=0.0, text_threshold=0.0)
        ),
    )
    asyncio.run(asyncio.wait_for(_session(engine, follow), 90))


async def _session(engine: Engine, follow: bool) -> None:
    config = ServerConfig(session=SessionSettings(follow_masks=follow))
    app = create_app(config, engine=engine)
    image = photo("coffee", 320, 240)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        client = Client(image, fps=15)
        try:
            answer = await client.connect(http, base)
            hello = await client.wait_for("hello")
            assert "fruit" in hello["themes"] and hello["vocabulary"]
            objects = await client.wait_for("objects", lambda m: bool(m["objects"]), timeout=30)
            for obj in objects["objects"]:
                assert obj["label"] in hello["vocabulary"]
                assert all(0.0 <= v <= 1.0 for v in obj["box"])

            sent0, received0 = client.track.sent, client.received
            started = time.monotonic()
            await asyncio.sleep(STEADY_S)
            elapsed = time.monotonic() - started
            sent, received = client.track.sent - sent0, client.received - received0
            print(f"follow={follow}: sent {sent}, got back {received} in {elapsed:.1f} s")
            assert abs(received - sent) <= 0.1 * sent, f"sent {sent}, got back {received}"
            stats = await client.wait_for(
                "stats", lambda m: m["frames_processed"] > 0 and m["masks_fps"] > 0
            )
            if follow:  # every frame carries the newest masks, moved to it
                assert stats["masks_fps"] > 0.5 * 15, stats
            assert stats["lighting"]["state"] in ("dark", "dim", "normal", "bright", "backlit")
            # the models are slower than the camera: the engine drops frames, the video does not
            assert stats["dropped"] > 0
            assert received >= 0.7 * 15 * elapsed
            # the announcer speaks once an object has stayed a moment
            say = await client.wait_for("say", timeout=30)
            assert say["text"] and say["ids"], say

            # freeze the overlay, then compare what comes back with what we sent (as made: a
            # followed mask is moved by the flow between decoded frames, which shifts
            # random-weight speckle by a pixel here and there)
            client.send({"type": "mode", "mode": "pause"})
            session = app[SESSIONS_KEY].get(answer["session"])
            assert session is not None
            await client.wait_until(lambda: session.paused, timeout=5)
            frozen = session.latest
            assert frozen is not None and len(frozen.detections) > 0
            mark = client.received
            await client.wait_until(lambda: client.received >= mark + 10, timeout=10)
            assert session.latest is frozen
            assert client.last_frame is not None
            returned = client.last_frame.to_ndarray(format="rgb24")
            fitted = fit_detections(frozen.detections, frozen.frame_size, image.shape[:2])
            assert fitted.masks is not None
            masks = np.asarray(fitted.masks.any(axis=0))
            assert masks.sum() > 100, "random weights should still give some mask pixels"
            # the overlay the server should have drawn on our photo, drawn here on the original;
            # random-weight masks are pixel-level speckle that VP8 smears, so compare blurred
            expected = OverlayRenderer().annotate(image, fitted, frozen.texts)
            everywhere = np.ones(masks.shape, bool)
            codec_loss = mean_abs_diff(_blur(returned), _blur(expected), everywhere)
            overlay_change = mean_abs_diff(_blur(returned), _blur(image), masks)
            if not follow:
                assert codec_loss < 8, codec_loss
                assert overlay_change > 3 * codec_loss, (codec_loss, overlay_change)
            else:  # the followed overlay still sits on the masks, give or take a pixel
                coarse_loss = mean_abs_diff(_blur(returned, 31), _blur(expected, 31), everywhere)
                coarse_change = mean_abs_diff(_blur(returned, 31), _blur(image, 31), masks)
                print(f"followed: coarse loss {coarse_loss:.2f}, change {coarse_change:.2f}")
                # measured 1.9-12.6 (loss) against 18-26 (change) on loaded 2-core runs: a
                # following step that fails on VP8-decoded speckle fades the overlay for a frame
                assert coarse_change > 1.5 * coarse_loss, (coarse_loss, coarse_change)
                assert session.out_track is not None
                assert session.out_track.painter.masks_drawn > 0

            # words too long for the detector's text encoder: an error, and the old words stay
            client.send({"type": "mode", "mode": "live"})
            too_long = ", ".join("qzxv" * 9 + chr(97 + i) for i in range(20))
            client.send({"type": "vocabulary", "words": too_long})
            error = await client.wait_for(
                "error", lambda m: m["code"] == "vocabulary_too_long", timeout=20
            )
            assert "tokens" in error["message"] and "still finding" in error["message"]
            await client.wait_for(
                "stats", lambda m: m["vocabulary"] == hello["vocabulary"], timeout=10
            )
        finally:
            await client.close()
    assert not engine.ready, "graceful shutdown stops the engine"


def _blur(image: np.ndarray, size: int = 9) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(image, (size, size), 0))
