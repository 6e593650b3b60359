"""Keyframe detection off the per-frame path: the `DetectionBroker` interface and its
in-process implementation (a worker thread that owns the detector).

Detection is slow (seconds on a CPU), so the engine never waits for it: it submits a job and
picks the outcome up on a later cycle. One pending job per session and purpose (a keyframe and a
tap each have their own slot, so a tap never pushes out a keyframe); a newer job replaces an
older one of the same slot that has not started (newest frame wins), and sessions are served
round-robin, except that a first look (`DetectionJob.first_look`: a phone that shows nothing yet,
or whose scene just changed) goes before the refreshes of phones that already show objects, and
may run on a smaller, faster detector.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.detection.detector import Detector, VocabularyTooLongError
from inference.labels.vocabulary import VocabularyError
from inference.segmentation.everything import EverythingSettings, segment_everything
from inference.segmentation.segmenter import Segmenter

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
    everything: bool = False  # segment everything and name it (keyframes of "everything" mode)
    # the phone shows nothing for this scene yet: answer soon (before refreshes), at the quick
    # size where the broker has one; a full-size look follows later
    first_look: bool = False
    submitted_at: float = field(default_factory=time.monotonic)


class DetectionError(StrEnum):
    """Why a detection job has no detections (also what a Redis worker answers)."""

    DROPPED = "dropped"  # too old to run
    VOCABULARY_TOO_LONG = "vocabulary_too_long"  # the phone can fix these two
    BAD_VOCABULARY = "bad_vocabulary"
    DETECTOR_FAILED = "detector_failed"


@dataclass(frozen=True)
class DetectionOutcome:
    """`error_code` says what kind of failure `error` describes (`DetectionError`)."""

    job: DetectionJob
    detections: Detections | None
    error: str | None
    elapsed_ms: float
    error_code: DetectionError | None = None


def error_code_for(exc: BaseException) -> DetectionError:
    """The outcome's `error_code` for an exception raised by `Detector.detect`."""
    if isinstance(exc, VocabularyTooLongError):
        return DetectionError.VOCABULARY_TOO_LONG
    if isinstance(exc, VocabularyError):
        return DetectionError.BAD_VOCABULARY
    return DetectionError.DETECTOR_FAILED


class DetectionBroker(Protocol):
    """Where keyframe detections run: in this process (default) or on workers via Redis."""

    def submit(self, job: DetectionJob) -> None:
        """Queue `job`, replacing the pending job of the same session and purpose; never
        blocks."""

    def collect(self) -> list[DetectionOutcome]:
        """Outcomes finished since the last call (never blocks)."""

    def pending(self, session_id: str, purpose: JobPurpose = "keyframe") -> bool:
        """A job of this session and purpose is queued, or running and not forgotten."""

    def forget(self, session_id: str) -> None:
        """Drop the session's queued jobs and any outcome not yet collected; the answer of a
        job already running is thrown away."""

    def set_listener(self, listener: Callable[[], None]) -> None:
        """Called (from any thread) when an outcome is ready, so the engine can wake up."""

    def close(self) -> None: ...

    @property
    def healthy(self) -> bool: ...

    @property
    def degraded(self) -> str | None:
        """Why detection is paused while the engine goes on (e.g. Redis down), or None."""

    def stats(self) -> dict[str, Any] | None:
        """Numbers worth a scrape (a Redis broker's workers and errors), or None."""


class InProcessBroker:
    """A daemon thread running `detector.detect` on one job at a time.

    `quick_detector` (the same model at a smaller input size) answers first looks, and every
    job while others wait behind it (the detector is behind: several phones): on a CPU a
    keyframe costs about the square of the input size (Grounding DINO tiny, one thread: 4.1 s
    at 512, 1.8 s at 320), and a child waiting for a label gains more from seconds saved than
    from the small objects a larger input would find.
    """

    def __init__(
        self,
        detector: Detector,
        *,
        max_age_s: float = 10.0,
        segmenter: Segmenter | None = None,
        everything: EverythingSettings | None = None,
        quick_detector: Detector | None = None,
    ) -> None:
        self.detector = detector
        self.quick_detector = quick_detector
        # "everything" keyframes need the segmenter too: its embed/decode keep no state, so
        # this thread may call them beside the engine's worker
        self.segmenter = segmenter
        self.everything = everything or EverythingSettings(points_per_side=8)
        self.max_age_s = max_age_s
        self._queue: OrderedDict[tuple[str, JobPurpose], DetectionJob] = OrderedDict()
        self._running: DetectionJob | None = None
        self._running_forgotten = False
        self._outcomes: list[DetectionOutcome] = []
        self._lock = threading.Condition()
        self._listener: Callable[[], None] | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="detector", daemon=True)
        self._thread.start()

    @property
    def healthy(self) -> bool:
        return self._thread.is_alive() and not self._closed

    @property
    def degraded(self) -> str | None:
        return None  # the detector thread is ours: alive (healthy) or not

    def stats(self) -> dict[str, Any] | None:
        return None  # nothing beyond what the engine counts

    def set_listener(self, listener: Callable[[], None]) -> None:
        self._listener = listener

    def submit(self, job: DetectionJob) -> None:
        key = (job.session_id, job.purpose)
        with self._lock:
            self._queue.pop(key, None)  # re-queue at the back: round-robin
            self._queue[key] = job
            if job.first_look:  # ahead of every refresh, behind earlier first looks
                for other in [k for k, queued in self._queue.items() if not queued.first_look]:
                    self._queue.move_to_end(other)
            self._lock.notify()

    def pending(self, session_id: str, purpose: JobPurpose = "keyframe") -> bool:
        with self._lock:
            if (session_id, purpose) in self._queue:
                return True
            running = self._running
            return (
                running is not None
                and not self._running_forgotten
                and (running.session_id, running.purpose) == (session_id, purpose)
            )

    def collect(self) -> list[DetectionOutcome]:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def forget(self, session_id: str) -> None:
        with self._lock:
            for key in [key for key in self._queue if key[0] == session_id]:
                del self._queue[key]
            self._outcomes = [o for o in self._outcomes if o.job.session_id != session_id]
            if self._running is not None and self._running.session_id == session_id:
                self._running_forgotten = True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._lock.notify_all()
        self._thread.join(timeout=30)

    def _next_job(self) -> tuple[DetectionJob, bool] | None:
        """The next job, and whether others wait behind it."""
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait()
            if self._closed:
                return None
            _, job = self._queue.popitem(last=False)
            self._running, self._running_forgotten = job, False
            return job, bool(self._queue)

    def _work(self) -> None:
        while (next_job := self._next_job()) is not None:
            job, behind = next_job
            outcome = self._run(job, quick=job.first_look or behind)
            with self._lock:
                forgotten = self._running_forgotten
                self._running, self._running_forgotten = None, False
                if forgotten:
                    continue
                self._outcomes.append(outcome)
            if self._listener is not None:
                self._listener()

    def _run(self, job: DetectionJob, *, quick: bool = False) -> DetectionOutcome:
        age = time.monotonic() - job.submitted_at
        if age > self.max_age_s:
            return DetectionOutcome(
                job, None, f"dropped: job {age:.1f} s old", 0.0, DetectionError.DROPPED
            )
        started = time.perf_counter()
        try:
            if job.everything and self.segmenter is not None:
                everything = segment_everything(
                    self.segmenter,
                    self.detector,
                    job.frame,
                    job.vocabulary,
                    settings=self.everything,
                    box_threshold=job.box_threshold,
                    text_threshold=job.text_threshold,
                )
                # the boxes become tracks; the per-frame segmenter draws their masks
                found = Detections(everything.boxes, everything.scores, everything.labels)
            else:
                detector = self.detector
                if quick and self.quick_detector is not None:
                    detector = self.quick_detector
                (found,) = detector.detect(
                    [job.frame],
                    job.vocabulary,
                    box_threshold=job.box_threshold,
                    text_threshold=job.text_threshold,
                )
        except Exception as exc:  # one bad job must not kill the detector thread
            code = error_code_for(exc)
            text = str(exc)  # the vocabulary errors are meant for the phone as they are
            if code == "detector_failed":
                log.exception("detection failed for session %s", job.session_id)
                text = f"{type(exc).__name__}: {exc}"
            elapsed = (time.perf_counter() - started) * 1000
            return DetectionOutcome(job, None, text, elapsed, code)
        return DetectionOutcome(job, found, None, (time.perf_counter() - started) * 1000)
