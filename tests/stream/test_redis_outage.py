"""Redis stops for 30 s under a live phone (the real engine with tiny random models, keyframe
detection on a worker through a real redis-server): the returned video never stops, `/readyz`
says "degraded", stale jobs are dropped and counted, and detection resumes within 5 s of Redis
coming back, without a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import aiohttp
import pytest
import redis
import torch

from inference.detection_worker import DetectionWorker
from inference.engine import Engine, EngineSettings
from inference.lighting import LightingSettings
from inference.models import Models
from inference.redis_broker import RedisBroker
from stream.app import ServerConfig, create_app
from tests.redis_server import RedisServer
from tests.stream.rtc_client import Client, photo, serving

OUTAGE_S = 30.0


@pytest.fixture(scope="module")
def models() -> Iterator[Models]:
    from inference.detector import build_random_detector
    from inference.segmenter import build_random_segmenter

    cpu = torch.device("cpu")
    yield Models(build_random_detector(cpu, tiny=True), build_random_segmenter(cpu, 512))


def test_video_goes_on_through_a_redis_outage_and_labels_resume(models: Models) -> None:
    server = RedisServer()
    server.start()
    broker = RedisBroker(server.url, retry_s=0.2)
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
        report = asyncio.run(asyncio.wait_for(_outage(engine, broker, server), 150))
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    print(report)
    assert report["frames_during_outage"] >= 0.7 * 15 * OUTAGE_S, report
    assert report["readyz_during_outage"]["status"] == "degraded", report
    assert "redis unreachable" in report["readyz_during_outage"]["reason"]
    assert report["resumed_after_s"] <= 5.0, report
    assert report["dropped_stale"] >= 1, report
    assert report["readyz_after"]["status"] == "ready", report


async def _outage(engine: Engine, broker: RedisBroker, server: RedisServer) -> dict[str, object]:
    app = create_app(ServerConfig(), engine=engine)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        client = Client(photo("coffee", 320, 240), fps=15)
        try:
            await client.connect(http, base)
            await client.wait_for("objects", lambda m: bool(m["objects"]), timeout=60)
            assert broker.counters.detections >= 1

            server.stop()
            down_at, received = time.monotonic(), client.received
            await asyncio.sleep(OUTAGE_S / 2)
            async with http.get(f"{base}/readyz") as response:
                during = await response.json()
                assert response.status == 200
            await asyncio.sleep(OUTAGE_S / 2)
            frames = client.received - received
            print(f"outage of {time.monotonic() - down_at:.1f} s: {frames} frames came back")

            detections = broker.counters.detections
            server.start()
            up_at = time.monotonic()
            while broker.counters.detections == detections and time.monotonic() - up_at < 20:
                await asyncio.sleep(0.05)
            resumed = time.monotonic() - up_at
            for _ in range(30):  # heartbeats are counted every 2 s
                async with http.get(f"{base}/readyz") as response:
                    after = await response.json()
                if after["status"] == "ready":
                    break
                await asyncio.sleep(0.25)
            return {
                "frames_during_outage": frames,
                "readyz_during_outage": during,
                "resumed_after_s": round(resumed, 2),
                "dropped_stale": broker.stats()["dropped_stale"],
                "readyz_after": after,
            }
        finally:
            await client.close()
