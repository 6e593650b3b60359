"""Redis holds no pictures at rest: with no worker running, a submitted keyframe job (the
frame's JPEG) is on the jobs stream, and gone from Redis within its deadline plus the grace,
one trim interval and a margin, trimmed by the media server's broker itself."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import redis

from inference.live.broker import DetectionJob
from inference.scaleout.messages import jobs_key
from inference.scaleout.redis_broker import RedisBroker
from tests.support.engine_results import wait_until
from tests.support.redis_server import RedisServer

MAX_AGE_S, GRACE_S, TRIM_EVERY_S = 1.0, 0.5, 0.2
MARGIN_S = 3.0  # a busy machine's scheduling; a broker that never trims misses it by far


def _jpeg_bytes_in_redis(client: redis.Redis) -> int:
    total = 0
    for key in client.scan_iter(count=100):
        if client.type(key) == b"stream":
            entries: Any = client.xrange(key)  # redis' stubs: bytes or str, maybe None
            for _, fields in entries:
                total += sum(len(v) for k, v in fields.items() if k == b"jpeg")
        elif client.type(key) == b"string":
            value: Any = client.get(key) or b""
            total += len(value) if value.startswith(b"\xff\xd8") else 0
    return total


def test_a_jobs_frame_is_gone_within_its_deadline_without_any_worker() -> None:
    server = RedisServer()
    server.start()
    client = redis.Redis.from_url(server.url)
    broker = RedisBroker(
        server.url, max_age_s=MAX_AGE_S, grace_s=GRACE_S, trim_every_s=TRIM_EVERY_S
    )
    try:
        frame = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
        job = DetectionJob(
            session_id="s1",
            frame_index=1,
            frame=frame,
            vocabulary=("cat",),
            box_threshold=0.3,
            text_threshold=0.25,
        )
        broker.submit(job)
        wait_until(lambda: client.xlen(jobs_key("va")) == 1, "the job on the stream", 30)
        sent = time.monotonic()
        assert _jpeg_bytes_in_redis(client) > 1000  # the frame is there while it may be used
        limit = MAX_AGE_S + GRACE_S + TRIM_EVERY_S + MARGIN_S
        wait_until(lambda: _jpeg_bytes_in_redis(client) == 0, "the frame gone", limit)
        assert time.monotonic() - sent < limit
        assert client.xlen(jobs_key("va")) == 0
    finally:
        broker.close()
        client.close()
        server.stop()
