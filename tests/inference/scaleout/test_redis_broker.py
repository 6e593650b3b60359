"""`RedisBroker` and `DetectionWorker` against a real redis-server on loopback: jobs flow from a
server to two workers and back, a worker killed mid-job (SIGKILL) has its job redone by the
other, stale jobs are dropped and counted, bad jobs get errors and the workers go on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import torch

from inference.core.detections import Detections
from inference.live.broker import DetectionJob, DetectionOutcome
from inference.scaleout.messages import GROUP, jobs_key
from inference.scaleout.redis_broker import RedisBroker
from inference.scaleout.worker import DetectionWorker
from tests.support.engine_results import DEADLINE_S, wait_until
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).parents[3]


@pytest.fixture
def server() -> Iterator[RedisServer]:
    instance = RedisServer()
    instance.start()
    yield instance
    instance.stop()


class FakeDetector:
    """Finds one box per frame whose x1 is the frame's mean red value; remembers who did what.
    With a `barrier`, its first call waits there, so it cannot finish its first job before
    the other detectors sharing the barrier have each started one. With a `gate`, every call
    waits for it (`started` says one has begun)."""

    def __init__(
        self,
        name: str,
        barrier: threading.Barrier | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.name, self.barrier, self.gate, self.calls = name, barrier, gate, 0
        self.started = threading.Event()

    def __call__(self, frames: list[Any], vocabulary: list[str], **_: Any) -> list[Detections]:
        self.calls += 1
        self.started.set()
        if self.barrier is not None and self.calls == 1:
            self.barrier.wait(DEADLINE_S)
        if self.gate is not None:
            assert self.gate.wait(DEADLINE_S), "the test never opened the gate"
        return [
            Detections(
                np.array([[float(f[..., 0].mean()), 1, 300, 20]], np.float32),
                np.array([0.9], np.float32),
                (f"{vocabulary[0]}@{self.name}",),
            )
            for f in frames
        ]


def _job(session: str, red: int, **changes: Any) -> DetectionJob:
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[..., 0] = red
    fields: dict[str, Any] = {
        "session_id": session, "frame_index": red, "frame": frame, "vocabulary": ("cat",),
        "box_threshold": 0.3, "text_threshold": 0.25,
    }  # fmt: skip
    fields.update(changes)
    return DetectionJob(**fields)


def _workers(server: RedisServer, detectors: list[Any], **options: Any) -> Iterator[Any]:
    stop = threading.Event()
    threads = []
    workers = []
    for i, detect in enumerate(detectors):
        worker = DetectionWorker(redis.Redis.from_url(server.url), detect, name=f"w{i}", **options)
        workers.append(worker)
        thread = threading.Thread(target=worker.run, args=(stop, 0.2), daemon=True)
        thread.start()
        threads.append(thread)
    yield workers
    stop.set()
    for thread in threads:
        thread.join(timeout=10)


def _collect(
    broker: RedisBroker, count: int, timeout: float = DEADLINE_S
) -> list[DetectionOutcome]:
    outcomes: list[DetectionOutcome] = []

    def enough() -> bool:
        outcomes.extend(broker.collect())
        return len(outcomes) >= count

    wait_until(enough, f"{count} outcomes", timeout, poll_s=0.02)
    return outcomes


def test_jobs_flow_to_two_workers_and_back(server: RedisServer) -> None:
    broker = RedisBroker(server.url)
    # each worker's first job waits until the other has one too: both must take jobs, however
    # the threads happen to be scheduled
    barrier = threading.Barrier(2)
    detectors = [FakeDetector("a", barrier), FakeDetector("b", barrier)]
    for workers in _workers(server, detectors):
        for i in range(12):
            broker.submit(_job(f"s{i}", 10 * i))
        assert broker.pending("s3") and not broker.pending("s3", "tap")
        outcomes = _collect(broker, 12)
        assert len(outcomes) == 12
        assert sorted(o.job.session_id for o in outcomes) == sorted(f"s{i}" for i in range(12))
        for outcome in outcomes:
            assert outcome.error is None and outcome.detections is not None
            # each answer belongs to its own job: the box's x1 is the frame's red level
            assert outcome.detections.boxes[0, 0] == pytest.approx(outcome.job.frame_index, abs=2)
        assert not barrier.broken and {d.calls > 0 for d in detectors} == {True}
        assert sum(w.done for w in workers) == 12, "every job was answered exactly once"
        assert not broker.pending("s3")
        # the broker counts the workers' heartbeats every 2 s
        wait_until(lambda: broker.stats()["workers"] == 2, "both workers' heartbeats")
        assert broker.degraded is None
    broker.close()


def test_the_real_detector_answers_through_redis(server: RedisServer) -> None:
    from inference.detection.random_weights import build_random_detector

    detector = build_random_detector(torch.device("cpu"), tiny=True)
    broker = RedisBroker(server.url)
    for _ in _workers(server, [detector.detect], batch=2):
        rng = np.random.default_rng(0)
        frame = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        broker.submit(_job("s1", 0, frame=frame, box_threshold=0.0, text_threshold=0.0))
        (outcome,) = _collect(broker, 1)
        assert outcome.error is None and outcome.detections is not None
        assert len(outcome.detections) > 0  # thresholds 0: the random model finds things
        assert set(outcome.detections.labels) <= {"cat"}
        assert (outcome.detections.boxes[:, 2] <= 128 + 1).all()
    broker.close()


def test_a_worker_killed_mid_job_has_its_job_redone_by_another(server: RedisServer) -> None:
    broker = RedisBroker(server.url, max_age_s=DEADLINE_S)  # no expiry while the test runs
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    slow = subprocess.Popen(
        [sys.executable, str(ROOT / "tests/support/slow_worker_process.py"), server.url, "slow"],
        env=env,
        cwd=ROOT,
    )
    try:
        client = redis.Redis.from_url(server.url)

        def group_exists() -> bool:
            try:
                client.xinfo_groups(jobs_key("va"))
            except redis.ResponseError:
                return False
            return True

        wait_until(group_exists, "the slow worker to start", poll_s=0.1)
        broker.submit(_job("s1", 42))
        # ...and it is mid-job when it holds the job
        wait_until(
            lambda: client.xpending(jobs_key("va"), GROUP)["pending"] == 1,
            "the slow worker to take the job",
            poll_s=0.05,
        )
        summary: Any = client.xpending(jobs_key("va"), GROUP)
        assert summary["consumers"][0]["name"] == b"slow"
        os.kill(slow.pid, signal.SIGKILL)
        slow.wait(timeout=10)
        started = time.monotonic()
        rescuer = FakeDetector("rescuer")
        for _ in _workers(server, [rescuer], claim_idle_s=1.0):
            (outcome,) = _collect(broker, 1)
            assert outcome.error is None and outcome.detections is not None
            assert outcome.detections.labels == ("cat@rescuer",)
            print(f"redone {time.monotonic() - started:.1f} s after the kill")
        assert client.xpending(jobs_key("va"), GROUP)["pending"] == 0
    finally:
        if slow.poll() is None:
            slow.kill()
        broker.close()


def test_stale_jobs_are_dropped_and_counted(server: RedisServer) -> None:
    broker = RedisBroker(server.url, max_age_s=0.5, grace_s=0.5)
    broker.submit(_job("s1", 1))  # no worker yet: it waits in the stream past its deadline
    (outcome,) = _collect(broker, 1)  # the broker gives up on it once deadline + grace pass
    assert outcome.error_code == "dropped" and outcome.detections is None
    assert broker.stats()["dropped_stale"] == 1 and broker.stats()["in_flight"] == 0
    detector = FakeDetector("late")
    for workers in _workers(server, [detector]):
        # the worker finds the job past its deadline: it answers "dropped" without detecting
        def dropped(worker: DetectionWorker = workers[0]) -> bool:
            return worker.dropped == 1

        wait_until(dropped, "the worker to drop the stale job")
        assert detector.calls == 0, "a stale job never reaches the detector"
        assert broker.collect() == [], "an answer the broker gave up on is not delivered twice"
        assert broker.stats()["dropped_stale"] == 1
    broker.close()


def test_a_bad_job_gets_an_error_and_the_worker_goes_on(server: RedisServer) -> None:
    def picky(frames: list[Any], vocabulary: list[str], **_: Any) -> list[Detections]:
        if "boom" in vocabulary:
            raise RuntimeError("the detector broke")
        return FakeDetector("ok")(frames, vocabulary)

    broker = RedisBroker(server.url)
    for workers in _workers(server, [picky]):
        broker.submit(_job("s1", 1, vocabulary=("boom",)))
        (failed,) = _collect(broker, 1)
        assert failed.error_code == "detector_failed" and "broke" in (failed.error or "")
        broker.submit(_job("s2", 2))
        (fine,) = _collect(broker, 1)
        assert fine.error is None and workers[0].failed == 1 and workers[0].done == 1
    broker.close()


def test_forgotten_sessions_get_no_answers(server: RedisServer) -> None:
    broker = RedisBroker(server.url)
    gate = threading.Event()
    detector = FakeDetector("a", gate=gate)
    try:
        for workers in _workers(server, [detector]):
            broker.submit(_job("gone", 1))
            broker.submit(_job("kept", 2))
            assert detector.started.wait(DEADLINE_S)  # "gone" is being detected (sent first)
            broker.forget("gone")
            assert not broker.pending("gone") and broker.pending("kept")
            gate.set()
            # one worker answers in order, so "gone"'s answer arrives (and is thrown away)
            # before "kept"'s
            outcomes = _collect(broker, 1)

            def both(worker: DetectionWorker = workers[0]) -> bool:
                return worker.done == 2

            wait_until(both, "both answers")
            assert [o.job.session_id for o in outcomes + broker.collect()] == ["kept"]
            assert broker.stats()["answered"] == 1
    finally:
        gate.set()
        broker.close()
