"""Redis stops under a live phone (the real engine with tiny random models, keyframe detection
on a worker through a real redis-server): the returned video never stops, `/readyz` says
"degraded", stale jobs are dropped and counted, and detection resumes once Redis is back,
without a restart. Each step waits for the event it expects, with a generous deadline: a slow
or busy machine makes the outage last longer, it does not change what must happen in it."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import redis

from inference.lighting.thresholds import LightingSettings
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.models import Models
from inference.scaleout.redis_broker import RedisBroker
from inference.scaleout.worker import DetectionWorker
from stream.app import ServerConfig, create_app
from tests.support.redis_server import RedisServer
from tests.support.rtc_client import Client, photo, serving

MAX_AGE_S = 5.0  # a keyframe job older than this is dropped (default 10 s): a shorter outage
WAIT_S = 60.0  # deadline for each step; an idle machine needs a few seconds at most
FRAMES_AFTER_STALE = 15  # video that must still come back after a stale job was dropped


def test_video_goes_on_through_a_redis_outage_and_labels_resume(models: Models) -> None:
    server = RedisServer()
    server.start()
    broker = RedisBroker(server.url, retry_s=0.2, max_age_s=MAX_AGE_S)
    stop = threading.Event()
    worker = DetectionWorker(redis.Redis.from_url(server.url), models.detector.detect, name="w")
    thread = threading.Thread(target=worker.run, args=(stop, 0.2), daemon=True)
    thread.start()
    engine = Engine(
        models,
        EngineSettings(
            max_side=320, lighting=LightingSettings(box_threshold=0.0, text_threshold=0.0)
        ),
        broker=broker,
    )
    try:
        report = asyncio.run(asyncio.wait_for(_outage(engine, broker, server), 400))
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    print(report)
    assert report["frames_during_outage"] >= FRAMES_AFTER_STALE, report
    assert report["readyz_during_outage"]["status"] == "degraded", report
    assert "redis unreachable" in report["readyz_during_outage"]["reason"]
    assert report["dropped_stale"] >= 1, report
    assert report["detections_after"] > report["detections_before"], report
    assert report["readyz_after"]["status"] == "ready", report


async def _eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"not within {WAIT_S:g} s: {what}"
        await asyncio.sleep(0.05)


async def _readyz_until(
    http: aiohttp.ClientSession, base: str, status: str, reason: str = ""
) -> tuple[int, dict[str, Any]]:
    """Poll /readyz until its body says `status` (with `reason` in its reason); the HTTP status
    and the body."""
    deadline = time.monotonic() + WAIT_S
    while True:
        async with http.get(f"{base}/readyz") as response:
            body: dict[str, Any] = await response.json()
            if body["status"] == status and reason in str(body.get("reason", "")):
                return response.status, body
        assert time.monotonic() < deadline, f"/readyz never said {status!r} {reason!r}: {body}"
        await asyncio.sleep(0.25)


async def _outage(engine: Engine, broker: RedisBroker, server: RedisServer) -> dict[str, Any]:
    app = create_app(ServerConfig(), engine=engine)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        client = Client(photo("coffee", 320, 240), fps=15)
        try:
            await client.connect(http, base)
            await client.wait_for("objects", lambda m: bool(m["objects"]), timeout=WAIT_S)
            assert broker.counters.detections >= 1

            server.stop()
            down_at, received = time.monotonic(), client.received
            status, during = await _readyz_until(http, base, "degraded", "redis unreachable")
            assert status == 200  # degraded, not down: the video goes on
            # a keyframe job waits out the outage until it is too old, and is dropped
            await _eventually(lambda: broker.stats()["dropped_stale"] >= 1, "a stale job")
            # the video never waited for detection: it still comes back, Redis still down
            after_stale = client.received
            await client.wait_until(
                lambda: client.received >= after_stale + FRAMES_AFTER_STALE, timeout=WAIT_S
            )
            frames = client.received - received
            print(f"outage of {time.monotonic() - down_at:.1f} s: {frames} frames came back")

            detections = broker.counters.detections
            server.start()
            up_at = time.monotonic()
            await _eventually(
                lambda: broker.counters.detections > detections, "a detection after the outage"
            )
            resumed = time.monotonic() - up_at
            _, after = await _readyz_until(http, base, "ready")  # heartbeats: every 2 s
            return {
                "frames_during_outage": frames,
                "readyz_during_outage": during,
                "resumed_after_s": round(resumed, 2),  # reported, not asserted: load decides
                "dropped_stale": broker.stats()["dropped_stale"],
                "detections_before": detections,
                "detections_after": broker.counters.detections,
                "readyz_after": after,
            }
        finally:
            await client.close()
