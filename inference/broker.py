"""Keyframe detection off the per-frame path: the `DetectionBroker` interface and its
in-process implementation (a worker thread that owns the detector).

Detection is slow (seconds on a CPU), so the engine never waits for it: it submits a job and
picks the outcome up on a later cycle. One pending job per session; a newer job replaces an
older one that has not started (newest frame wins), and sessions are served round-robin.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from inference.detections import Detections
from inference.detector import Detector

log = logging.getLogger(__name__)

JobPurpose = Literal["keyframe", "tap"]


@dataclass(frozen=True)
class DetectionJob:
    """frame: RGB uint8 (H, W, 3), already preprocessed for the lighting; boxes come back in
    its pixels. `track_id` ties a tap job to the track it should name."""

    session_id: str
    frame_index: int
    frame: npt.NDArray[np.uint8]
    vocabulary: tuple[str, ...]
    box_threshold: float
    text_threshold: float
    purpose: JobPurpose = "keyframe"
    track_id: int | None = None
    generation: int = 0  # the session's vocabulary generation: stale answers are ignored
    submitted_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class DetectionOutcome:
    job: DetectionJob
    detections: Detections | None
    error: str | None
    elapsed_ms: float


class DetectionBroker(Protocol):
    """Where keyframe detections run: in this process (default) or on workers via Redis."""

    def submit(self, job: DetectionJob) -> None:
        """Queue `job`, replacing the session's pending one; never blocks."""

    def collect(self) -> list[DetectionOutcome]:
        """Outcomes finished since the last call (never blocks)."""

    def pending(self, session_id: str) -> bool:
        """A job of this session is queued or running."""

    def forget(self, session_id: str) -> None:
        """Drop the session's queued job and any outcome not yet collected."""

    def set_listener(self, listener: Callable[[], None]) -> None:
        """Called (from any thread) when an outcome is ready, so the engine can wake up."""

    def close(self) -> None: ...

    @property
    def healthy(self) -> bool: ...


class InProcessBroker:
    """A daemon thread running `detector.detect` on one job at a time."""

    def __init__(self, detector: Detector, *, max_age_s: float = 10.0) -> None:
        self.detector = detector
        self.max_age_s = max_age_s
        self._queue: OrderedDict[str, DetectionJob] = OrderedDict()
        self._running: str | None = None
        self._outcomes: list[DetectionOutcome] = []
        self._forgotten: set[str] = set()
        self._lock = threading.Condition()
        self._listener: Callable[[], None] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="detector", daemon=True)
        self._thread.start()

    @property
    def healthy(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def set_listener(self, listener: Callable[[], None]) -> None:
        self._listener = listener

    def submit(self, job: DetectionJob) -> None:
        with self._lock:
            self._forgotten.discard(job.session_id)
            self._queue.pop(job.session_id, None)  # re-queue at the back: round-robin
            self._queue[job.session_id] = job
            self._lock.notify()

    def pending(self, session_id: str) -> bool:
        with self._lock:
            return session_id in self._queue or self._running == session_id

    def collect(self) -> list[DetectionOutcome]:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def forget(self, session_id: str) -> None:
        with self._lock:
            self._queue.pop(session_id, None)
            self._outcomes = [o for o in self._outcomes if o.job.session_id != session_id]
            if self._running == session_id:
                self._forgotten.add(session_id)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._lock.notify_all()
        self._thread.join(timeout=30)

    def _next_job(self) -> DetectionJob | None:
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            _, job = self._queue.popitem(last=False)
            self._running = job.session_id
            return job

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            outcome = self._run(job)
            with self._lock:
                self._running = None
                if job.session_id in self._forgotten:
                    self._forgotten.discard(job.session_id)
                    continue
                self._outcomes.append(outcome)
            if self._listener is not None:
                self._listener()

    def _run(self, job: DetectionJob) -> DetectionOutcome:
        age = time.monotonic() - job.submitted_at
        if age > self.max_age_s:
            return DetectionOutcome(job, None, f"dropped: job {age:.1f} s old", 0.0)
        started = time.perf_counter()
        try:
            (found,) = self.detector.detect(
                [job.frame],
                job.vocabulary,
                box_threshold=job.box_threshold,
                text_threshold=job.text_threshold,
            )
        except Exception as exc:  # one bad job must not kill the detector thread
            log.exception("detection failed for session %s", job.session_id)
            elapsed = (time.perf_counter() - started) * 1000
            return DetectionOutcome(job, None, f"{type(exc).__name__}: {exc}", elapsed)
        return DetectionOutcome(job, found, None, (time.perf_counter() - started) * 1000)
