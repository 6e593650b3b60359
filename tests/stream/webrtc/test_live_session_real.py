"""The server with the real engine (tiny random models on the CPU) and an aiortc phone over
loopback: video keeps coming back while MobileSAM is stuck in a call, objects and stats arrive,
the engine keeps only the newest frame, and the overlay is drawn exactly where the result's masks
are."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import aiohttp
import cv2
import numpy as np
import pytest

from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.models import Models
from inference.overlay.renderer import OverlayRenderer
from stream.app import ServerConfig, create_app
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.tracks import fit_detections
from tests.support.rtc_client import Client, mean_abs_diff, photo, serving

DEADLINE_S = 60.0  # generous: only a broken server waits this long


@pytest.mark.parametrize("follow", [False, True], ids=["masks-as-made", "masks-followed"])
def test_real_engine_end_to_end(
    models: Models, follow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(
        models,
        # random weights score low: pin the thresholds so the tiny detector finds things
        EngineSettings(
            max_side=320, lighting=LightingSettings(box_threshold=0.0, text_threshold=0.0)
        ),
    )
    # MobileSAM's encoder, made to stop inside its call when the test says (the engine stuck
    # in its slowest step, on any machine); it goes on as usual while the gate is open
    gate, inside = threading.Event(), threading.Event()
    gate.set()
    embed = models.segmenter.embed

    def gated_embed(*args: Any, **kwargs: Any) -> Any:
        if not gate.is_set():
            inside.set()
            gate.wait()
        return embed(*args, **kwargs)

    monkeypatch.setattr(models.segmenter, "embed", gated_embed)
    try:
        asyncio.run(asyncio.wait_for(_session(engine, follow, gate, inside), 240))
    finally:
        gate.set()


async def _session(
    engine: Engine, follow: bool, gate: threading.Event, inside: threading.Event
) -> None:
    config = ServerConfig(session=SessionSettings(follow_masks=follow, idle_timeout_s=60))
    app = create_app(config, engine=engine)
    image = photo("coffee", 320, 240)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        client = Client(image, fps=15)
        try:
            answer = await client.connect(http, base)
            hello = await client.wait_for("hello", timeout=DEADLINE_S)
            assert "fruit" in hello["themes"] and hello["vocabulary"]
            objects = await client.wait_for(
                "objects", lambda m: bool(m["objects"]), timeout=DEADLINE_S
            )
            for obj in objects["objects"]:
                assert obj["label"] in hello["vocabulary"]
                assert all(0.0 <= v <= 1.0 for v in obj["box"])
            session = app[SESSIONS_KEY].get(answer["session"])
            assert session is not None and session.out_track is not None
            out_track = session.out_track

            # MobileSAM stuck inside its encoder: the video comes back all the same
            gate.clear()
            await client.wait_until(inside.is_set, timeout=DEADLINE_S)
            processed = engine.session_stats(session.id).frames_processed
            mark = client.received
            await client.wait_until(lambda: client.received >= mark + 30, timeout=DEADLINE_S)
            assert engine.session_stats(session.id).frames_processed == processed
            gate.set()

            # working again: count what happens over the next 30 outgoing frames
            painter = out_track.painter
            sent0, received0, started = client.track.sent, client.received, time.monotonic()
            out0, masks0 = out_track.frames_out, painter.masks_drawn
            await client.wait_until(
                lambda: out_track.frames_out >= out0 + 30,
                timeout=DEADLINE_S,
            )
            elapsed = time.monotonic() - started
            out, masked = out_track.frames_out - out0, painter.masks_drawn - masks0
            sent, received = client.track.sent - sent0, client.received - received0
            print(
                f"follow={follow}: {elapsed:.1f} s, sent {sent}, got back {received}, "
                f"{masked} of {out} frames out with masks"
            )
            assert client.out_of_order == 0, "frames came back out of order"
            # a wide sanity bound only: even a slow, busy machine returns most frames
            assert received >= sent / 3, f"sent {sent}, got back {received}"
            if follow:  # every frame carries the newest masks, moved to it (most keep them)
                assert masked >= 0.5 * out, (masked, out)
            else:
                assert masked > 0, "the masks are drawn"
            stats = await client.wait_for(
                "stats", lambda m: m["frames_processed"] > processed, timeout=DEADLINE_S
            )
            assert stats["lighting"]["state"] in ("dark", "dim", "normal", "bright", "backlit")
            # the engine keeps the newest frame only: every frame it was given was processed or
            # dropped for a newer one, except one waiting and one being processed
            numbers = engine.session_stats(session.id)
            assert numbers.errors == 0
            waiting = numbers.frames_submitted - numbers.frames_processed - numbers.dropped
            assert waiting in (0, 1, 2), numbers
            # the announcer speaks once an object has stayed a moment
            say = await client.wait_for("say", timeout=DEADLINE_S)
            assert say["text"] and say["ids"], say

            # freeze the overlay, then compare what comes back with what we sent (as made: a
            # followed mask is moved by the flow between decoded frames, which shifts
            # random-weight speckle by a pixel here and there)
            client.send({"type": "mode", "mode": "pause"})
            paused = app[SESSIONS_KEY].get(answer["session"])
            assert paused is not None
            await client.wait_until(lambda: paused.paused, timeout=DEADLINE_S)
            frozen = session.latest
            assert frozen is not None and len(frozen.detections) > 0
            mark = client.received
            await client.wait_until(lambda: client.received >= mark + 10, timeout=DEADLINE_S)
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
                "error", lambda m: m["code"] == "vocabulary_too_long", timeout=DEADLINE_S
            )
            assert "tokens" in error["message"] and "still finding" in error["message"]
            await client.wait_for(
                "stats", lambda m: m["vocabulary"] == hello["vocabulary"], timeout=DEADLINE_S
            )
        finally:
            await client.close()
    assert not engine.ready, "graceful shutdown stops the engine"


def _blur(image: np.ndarray, size: int = 9) -> np.ndarray:
    return np.asarray(cv2.GaussianBlur(image, (size, size), 0))
