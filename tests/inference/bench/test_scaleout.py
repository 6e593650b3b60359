"""The worker-scaling benchmark for real, small: one `visionanything worker` process (random
weights, detector at 256 px) behind a real redis-server, measured for 3 s."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data

from inference.bench.scaleout import markdown, measure
from tests.support.redis_server import RedisServer


def test_one_worker_answers_keyframes_and_the_table_shows_it() -> None:
    server = RedisServer()
    server.start()
    lines: list[str] = []
    try:
        frame = np.ascontiguousarray(cv2.resize(np.asarray(data.coffee()), (320, 240)), np.uint8)
        # 3 s, or until two jobs are answered: one job took over 3 s beside a running bench
        row = measure(
            server.url, 1, frame, seconds=3.0, detector_size=256, progress=lines.append, min_jobs=2
        )
    finally:
        server.stop()
    assert row.workers == 1 and row.jobs >= 2 and row.dropped == 0 and row.errors == 0
    assert row.seconds >= 3.0 and row.jobs_per_s == pytest.approx(row.jobs / row.seconds, rel=0.05)
    assert row.jobs_per_s > 0 and math.isfinite(row.latency_p50_ms)
    assert row.latency_p95_ms >= row.latency_p50_ms > 0
    assert any("ready in" in line for line in lines), lines
    table = markdown([row], "header")
    assert f"| 1 | {row.torch_threads} | {row.jobs_per_s:.2f} |" in table
