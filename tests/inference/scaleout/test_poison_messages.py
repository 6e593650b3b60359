"""Poison messages through a real redis-server: malformed jobs on the jobs stream and malformed
entries on a media server's results stream are logged, acknowledged (or read past) and
counted, and the worker and the receive thread go on answering good ones. The parsers
themselves are fuzzed in tests/fuzz/test_redis_messages.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis

from inference.core.detections import Detections
from inference.live.broker import DetectionJob
from inference.scaleout.messages import GROUP, encode_frame, jobs_key, results_key
from inference.scaleout.redis_broker import RedisBroker
from inference.scaleout.worker import DetectionWorker, WorkerMetrics
from tests.support.engine_results import DEADLINE_S, wait_until
from tests.support.redis_server import RedisServer

JPEG = encode_frame(np.full((48, 64, 3), 90, np.uint8))
GOOD: dict[str, Any] = {
    "id": "poison-good",
    "server": "nobody",
    "session": "s1",
    "vocabulary": '["cat"]',
    "box_threshold": 0.3,
    "text_threshold": 0.25,
    "deadline": 4e9,
    "sent_at": 1.0,
    "jpeg": JPEG,
}
POISON_JOBS: list[tuple[str, dict[Any, Any]]] = [
    ("jpeg", {**GOOD, "id": "empty-image", "jpeg": b""}),
    ("jpeg", {**GOOD, "id": "not-an-image", "jpeg": b"\xff\xd8 nope"}),
    ("vocabulary", {**GOOD, "id": "not-json", "vocabulary": "cat, cup"}),
    ("vocabulary", {**GOOD, "id": "not-words", "vocabulary": "[1, 2]"}),
    ("id", {**GOOD, "id": b"\xff\xfe\xfd"}),
    ("id", {k: v for k, v in GOOD.items() if k != "id"}),
    ("deadline", {k: v for k, v in GOOD.items() if k != "deadline"}),
    ("box_threshold", {**GOOD, "id": "wrong-type", "box_threshold": "high"}),
    ("text_threshold", {**GOOD, "id": "out-of-range", "text_threshold": 7}),
]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    instance = RedisServer()
    instance.start()
    yield instance
    instance.stop()


def _detect(frames: list[Any], vocabulary: list[str], **_: Any) -> list[Detections]:
    return [
        Detections(np.array([[1, 2, 30, 40]], np.float32), np.array([0.9], np.float32), ("cat",))
        for _ in frames
    ]


def _job(session: str = "s1") -> DetectionJob:
    return DetectionJob(
        session_id=session,
        frame_index=1,
        frame=np.full((48, 64, 3), 120, np.uint8),
        vocabulary=("cat",),
        box_threshold=0.3,
        text_threshold=0.25,
    )


def test_poison_jobs_are_acknowledged_counted_and_the_worker_goes_on(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(server.url)
    metrics = WorkerMetrics()
    worker = DetectionWorker(client, _detect, name="w0", metrics=metrics, batch=4)
    worker.ensure_group()
    for _, fields in POISON_JOBS:
        client.xadd(jobs_key("va"), fields)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop, 0.2), daemon=True)
    broker = RedisBroker(server.url)
    try:
        with caplog.at_level(logging.WARNING, logger="inference.scaleout.worker"):
            thread.start()
            broker.submit(_job())  # a good job after the poison ones: still answered
            outcomes: list[Any] = []

            def answered() -> bool:
                outcomes.extend(broker.collect())
                return bool(outcomes)

            wait_until(answered, "the good job's answer", DEADLINE_S)
        assert outcomes[0].error is None and outcomes[0].detections.labels == ("cat",)
        assert thread.is_alive()
        by_field: dict[str, int] = {}
        for field, _ in POISON_JOBS:
            by_field[field] = by_field.get(field, 0) + 1
        for field, n in by_field.items():
            value = metrics.registry.get_sample_value(
                "va_worker_poison_jobs_total", {"field": field}
            )
            assert value == n, field
        assert len([r for r in caplog.records if "malformed job" in r.getMessage()]) == len(
            POISON_JOBS
        )
        # acknowledged and deleted: nothing pending, nothing left on the stream
        assert client.xpending(jobs_key("va"), GROUP)["pending"] == 0
        assert client.xlen(jobs_key("va")) == 0
        # the poison jobs whose id and server can be read were answered with an error
        answers: Any = client.xrange(results_key("va", "nobody"))  # redis' stubs: bytes or str
        errors = {f[b"id"].decode(): f[b"error_code"] for _, f in answers}
        assert errors["empty-image"] == b"detector_failed" and errors["not-json"]
        assert b"\xff\xfe\xfd".decode(errors="replace") not in errors
    finally:
        stop.set()
        thread.join(timeout=10)
        broker.close()
        client.close()


def test_a_poison_result_is_skipped_and_the_receive_thread_goes_on(
    server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis.Redis.from_url(server.url)
    broker = RedisBroker(server.url)
    stop = threading.Event()
    worker = DetectionWorker(redis.Redis.from_url(server.url), _detect, name="w0")
    thread = threading.Thread(target=worker.run, args=(stop, 0.2), daemon=True)
    poison: list[dict[Any, Any]] = [
        {"id": b"\xff\xfe"},
        {"id": "x", "detections": "{not json"},
        {"id": "x", "detections": json.dumps({"boxes": [[1, 2]], "scores": [], "labels": [3]})},
        {"id": "x", "elapsed_ms": "soon", "detections": "{}"},
        {"nothing": "useful"},
    ]
    try:
        with caplog.at_level(logging.WARNING, logger="inference.scaleout.redis_broker"):
            for fields in poison:
                client.xadd(results_key("va", broker.server), fields)
            wait_until(
                lambda: broker.counters.bad_results == len(poison), "poison counted", DEADLINE_S
            )
            thread.start()
            broker.submit(_job())
            outcomes: list[Any] = []

            def answered() -> bool:
                outcomes.extend(broker.collect())
                return bool(outcomes)

            wait_until(answered, "the good job's answer", DEADLINE_S)
        assert outcomes[0].error is None and outcomes[0].detections.labels == ("cat",)
        assert broker.healthy  # what /readyz asks of the broker: its threads run
        assert broker.stats()["bad_results"] == len(poison)
        skipped = [r for r in caplog.records if "results entry" in r.getMessage()]
        assert len(skipped) == len(poison)
    finally:
        stop.set()
        thread.join(timeout=10)
        broker.close()
        client.close()
