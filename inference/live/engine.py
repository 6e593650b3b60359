"""The live worker loop: owns the segmenter in its own thread, serves every session's newest
frame round-robin, and keeps object ids, lighting and speech per session.

Per processed frame:  lighting → (keyframe? submit to the detection broker) → segmenter with
box prompts from the tracker (+ tap points) → tracker follows the masks → announcer → result.
Keyframes (first frame, vocabulary change, scene change, refresh interval) are detected
asynchronously: the segmenter never waits for the detector.

Thread model: the worker thread owns every per-session object that changes while it runs
(tracker, announcer, lighting, vocabulary, generation, taps, speech, pause). Callers (the event
loop) only touch the thread-safe methods below: they store a frame, or a request (new words,
a tap, speech on/off, pause) under a lock and wake the worker, which applies the requests at the
top of its next cycle. `on_result` callbacks run in the worker thread; callers hop back to their
own loop themselves.

Failures: every step of a cycle runs inside error handling. An exception in one session's part
of a cycle is logged with its traceback and counted (`errors`), and the worker goes on with the
other sessions and the next frame. Should the worker thread die anyway, `ready` is false and
`problem` says why, and a watchdog starts a new worker thread.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.core.frames import check_frame, fit_within
from inference.core.timing import StageTimer
from inference.labels import (
    Announcer,
    load_language,
    load_theme,
    theme_names,
)
from inference.labels.vocabulary import parse_vocabulary
from inference.lighting.preprocessing import preprocess
from inference.lighting.tracker import LightingReport, LightingTracker
from inference.live.broker import DetectionBroker, DetectionOutcome, InProcessBroker
from inference.live.detection_flow import DetectionFlow
from inference.live.engine_settings import EngineSettings, FrameSource
from inference.live.frame_ops import (
    first_look_detector,
)
from inference.live.masking import segment_session
from inference.live.publishing import build_result
from inference.live.results import FrameResult, SessionNumbers
from inference.live.session_state import (
    MAX_PENDING_TAPS,
    PreparedFrame,
    Requests,
    SessionClosedError,
    SessionState,
)
from inference.live.tracker import BoxTracker
from inference.models import Models

log = logging.getLogger(__name__)


class Engine:
    """Owns the models; serves any number of sessions from one worker thread."""

    def __init__(
        self,
        models: Models,
        settings: EngineSettings | None = None,
        broker: DetectionBroker | None = None,
        *,
        watchdog_interval_s: float = 0.5,
    ) -> None:
        self.models = models
        self.settings = settings or EngineSettings()
        quick = None if broker is not None else first_look_detector(models.detector, self.settings)
        self._refines = quick is not None  # a quick first look is followed by a full-size one
        self.broker: DetectionBroker = broker or InProcessBroker(
            models.detector,
            segmenter=models.segmenter,
            everything=self.settings.everything,
            quick_detector=quick,
        )
        self.broker.set_listener(self._wake_up)
        self._sessions: dict[str, SessionState] = {}
        self._order: deque[str] = deque()  # round-robin order
        self._lock = threading.Lock()
        self.detection = DetectionFlow(
            self.settings, self.broker, self._refines, self._change_vocabulary, self._lock
        )
        self._wake = threading.Event()
        self._running = False
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._watchdog_interval_s = watchdog_interval_s
        self._stopped = threading.Event()
        self._ids = itertools.count(1)
        self._errors = 0
        self._worker_restarts = 0
        self._worker_failure: str | None = None
        self._closed_totals = {"processed": 0, "dropped": 0, "keyframes": 0}
        self._stages_ms: dict[str, float] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._running = True
        self._stopped.clear()
        self._start_worker()
        self._watchdog = threading.Thread(target=self._watch, name="engine-watchdog", daemon=True)
        self._watchdog.start()

    def stop(self) -> None:
        self._running = False
        self._stopped.set()
        self._wake.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
            self._watchdog = None
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.broker.close()

    @property
    def ready(self) -> bool:
        return self.problem is None

    @property
    def problem(self) -> str | None:
        """Why the engine cannot serve right now (for `/readyz`), or None when it can."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            failure = self._worker_failure
            if failure is None:
                return "engine worker is not running"
            return f"engine worker died ({failure}); restarting it"
        if not self.broker.healthy:
            return "detection broker unreachable"
        return None

    @property
    def degraded(self) -> str | None:
        """Serving, but without something (e.g. Redis down: no new labels), or None."""
        return self.broker.degraded

    @property
    def themes(self) -> tuple[str, ...]:
        return tuple(theme_names())

    def _start_worker(self) -> None:
        self._thread = threading.Thread(target=self._run_worker, name="engine", daemon=True)
        self._thread.start()

    def _run_worker(self) -> None:
        try:
            self._work()
        except BaseException as exc:  # recorded for /readyz; the watchdog restarts the worker
            self._worker_failure = f"{type(exc).__name__}: {exc}"
            log.critical("engine worker died; the watchdog restarts it", exc_info=True)

    def _watch(self) -> None:
        """Restart the worker thread if it dies while the engine runs."""
        while not self._stopped.wait(self._watchdog_interval_s):
            thread = self._thread
            if self._running and thread is not None and not thread.is_alive():
                with self._lock:
                    self._worker_restarts += 1
                    restarts = self._worker_restarts
                log.error("engine worker restarted (%d restarts so far)", restarts)
                self._start_worker()

    # -- sessions (thread-safe, never block on the models) ----------------------------------

    def open_session(
        self, on_result: Callable[[FrameResult], None], vocabulary: Sequence[str] | None = None
    ) -> str:
        words = parse_vocabulary(vocabulary) if vocabulary else self.settings.default_vocabulary
        session = SessionState(
            id=f"s{next(self._ids)}",
            on_result=on_result,
            vocabulary=words,
            tracker=BoxTracker(self.settings.tracker),
            lighting=LightingTracker(self.settings.lighting),
            announcer=Announcer(self.settings.announcer),
            language=self.settings.language,
        )
        session.announcer.set_vocabulary(words)  # not shared with the worker yet
        with self._lock:
            self._sessions[session.id] = session
            self._order.append(session.id)
        return session.id

    def close_session(self, session_id: str) -> None:
        with self._lock:
            closed = self._sessions.pop(session_id, None)
            if closed is not None:  # keep the process-wide counters monotonic
                self._closed_totals["processed"] += closed.processed
                self._closed_totals["dropped"] += closed.dropped
                self._closed_totals["keyframes"] += closed.keyframes
            if session_id in self._order:
                self._order.remove(session_id)
        self.broker.forget(session_id)

    def submit(self, session_id: str, frame: FrameSource) -> None:
        """Make `frame` the session's next frame; an unprocessed older one is dropped."""
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return
            if session.frame is not None:
                session.dropped += 1
            session.frame = frame
            session.submitted += 1
        self._wake.set()

    def set_vocabulary(
        self, session_id: str, words: str | None = None, theme: str | None = None
    ) -> tuple[str, ...]:
        """Ask for new words (or a theme's); the worker applies them on its next cycle and
        detects a keyframe for them. Returns the cleaned words.

        Raises VocabularyError or UnknownThemeError with a clear message. A vocabulary
        too long for the detector is found by the detector; the phone hears of it through the
        next result's `notices`, and the session goes back to its previous words.
        """
        vocabulary = load_theme(theme).words if theme is not None else parse_vocabulary(words or "")
        self._request(session_id, vocabulary=tuple(vocabulary))
        return tuple(vocabulary)

    def tap(self, session_id: str, x: float, y: float) -> None:
        with self._lock:
            taps = self._session(session_id).requests.taps
            taps.append((x, y))
            del taps[:-MAX_PENDING_TAPS]
        self._wake.set()

    def set_language(self, session_id: str, code: str) -> str:
        """Badges and speech in another language from the next frame (the detector still gets
        English words). Raises UnknownLanguageError; returns the language's own name."""
        language = load_language(code)
        self._request(session_id, language=language)
        return language.name

    def set_paused(self, session_id: str, paused: bool) -> None:
        self._request(session_id, paused=paused)

    def set_speech(self, session_id: str, on: bool) -> None:
        self._request(session_id, speech=on)

    def set_everything(self, session_id: str, on: bool) -> None:
        """Keyframes segment everything (named by the words where they overlap) or, off, find
        the words; applied by the worker on its next cycle."""
        self._request(session_id, everything=on)

    def _request(self, session_id: str, **changes: Any) -> None:
        with self._lock:
            requests = self._session(session_id).requests
            for name, value in changes.items():
                setattr(requests, name, value)
        self._wake.set()

    def session_stats(self, session_id: str) -> SessionNumbers:
        with self._lock:
            return self._session(session_id).numbers(time.monotonic())

    def broker_stats(self) -> dict[str, Any] | None:
        """The detection broker's own numbers (a Redis broker's workers), or None."""
        return self.broker.stats()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            sessions = list(self._sessions.values())
            totals = self._closed_totals
            return {
                "sessions": len(sessions),
                "processed": sum(s.processed for s in sessions),
                "dropped": sum(s.dropped for s in sessions),
                "keyframes": sum(s.keyframes for s in sessions),
                "processed_total": totals["processed"] + sum(s.processed for s in sessions),
                "dropped_total": totals["dropped"] + sum(s.dropped for s in sessions),
                "keyframes_total": totals["keyframes"] + sum(s.keyframes for s in sessions),
                "errors": self._errors,
                "worker_restarts": self._worker_restarts,
                "stages_ms": {k: round(v, 1) for k, v in self._stages_ms.items()},
                "detect_ms": round(max((s.detect_ms for s in sessions), default=0.0), 1),
            }

    def _session(self, session_id: str) -> SessionState:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionClosedError(f"no session {session_id!r}")
        return session

    # -- the worker ------------------------------------------------------------------------

    def _wake_up(self) -> None:
        self._wake.set()

    def _work(self) -> None:
        while self._running:
            self._wake.wait(timeout=0.5)
            self._wake.clear()
            if not self._running:
                break
            try:
                if self._cycle():
                    self._wake.set()  # more frames may have arrived meanwhile
            except Exception:  # a bug outside any one session: log it, count it, go on
                self._failed(None, "engine cycle failed")

    def _cycle(self) -> bool:
        """One round: requests, detections, then one batch of frames. True if it segmented."""
        self._apply_requests()
        self._apply_detections(self.broker.collect())
        batch = self._take_batch()
        if batch:
            self._process(batch)
        return bool(batch)

    def _failed(self, session: SessionState | None, what: str) -> None:
        """Log the exception being handled (with its traceback) and count it."""
        where = f" (session {session.id})" if session is not None else ""
        log.exception("%s%s", what, where)
        with self._lock:
            self._errors += 1
            if session is not None:
                session.errors += 1

    def _apply_requests(self) -> None:
        with self._lock:
            pending = []
            for session in self._sessions.values():
                if session.requests:
                    pending.append((session, session.requests))
                    session.requests = Requests()
        for session, requests in pending:
            try:
                self._apply(session, requests)
            except Exception:
                self._failed(session, "applying a request failed")

    def _apply(self, session: SessionState, requests: Requests) -> None:
        if requests.vocabulary is not None and requests.vocabulary != session.vocabulary:
            self._change_vocabulary(session, requests.vocabulary)
        if requests.language is not None and requests.language.code != session.language:
            session.language = requests.language.code
            session.announcer.use_language(requests.language)
        if requests.speech is not None:
            if requests.speech and not session.speech:
                session.announcer.reset()
            session.speech = requests.speech
        if requests.paused is not None:
            session.paused = requests.paused
        if requests.everything is not None and requests.everything != session.everything:
            session.everything = requests.everything
            session.key_wanted = True  # show the new mode at once
        session.taps.extend(requests.taps)
        del session.taps[:-MAX_PENDING_TAPS]
        session.awaits_masks = session.awaits_masks or bool(session.taps)

    def _change_vocabulary(self, session: SessionState, vocabulary: tuple[str, ...]) -> None:
        session.previous_vocabulary = session.vocabulary
        session.vocabulary = vocabulary
        session.generation += 1
        session.key_wanted = True
        session.tracker.reset()
        session.object_count = 0
        session.announcer.set_vocabulary(vocabulary)
        # the old words' jobs are dropped; an answer already being computed is thrown away
        self.broker.forget(session.id)

    def _take_batch(self) -> list[tuple[SessionState, FrameSource, int]]:
        """Up to max_batch sessions with a waiting frame, round-robin, except that a session
        whose new objects have no masks yet goes first: under saturation every phone keeps its
        turn, and a detection shows up as masks one frame after it lands, not a round later."""
        batch: list[tuple[SessionState, FrameSource, int]] = []
        with self._lock:
            sessions = [self._sessions[session_id] for session_id in self._order]
            waiting = [session for session in sessions if session.frame is not None]
            waiting.sort(key=lambda session: not session.awaits_masks)  # stable: keeps turns
            for session in waiting[: self.settings.max_batch]:
                self._order.remove(session.id)
                self._order.append(session.id)
                session.frame_index += 1
                assert session.frame is not None
                batch.append((session, session.frame, session.frame_index))
                session.frame = None
        return batch

    def _process(self, batch: list[tuple[SessionState, FrameSource, int]]) -> None:
        started = time.perf_counter()
        prepared: list[PreparedFrame] = []
        for session, source, index in batch:
            try:
                prepared.append(self._prepare(session, source, index))
            except Exception:
                self._failed(session, "preparing a frame failed")
        prompted = [p for p in prepared if p.session.tracker.tracks or p.session.taps]
        if prompted:
            timer = StageTimer()
            try:
                with timer.stage("encode"):
                    embedded = self.models.segmenter.embed([p.model_frame for p in prompted])
            except Exception:
                for p in prompted:
                    self._failed(p.session, "encoding a frame failed")
                prepared = [p for p in prepared if p not in prompted]
            else:
                for p, embedding in zip(prompted, embedded, strict=True):
                    p.embedding = embedding
                    p.timer.milliseconds.update(timer.milliseconds)
        for p in prepared:
            try:
                self._finish(p, started)
            except Exception:
                self._failed(p.session, "segmenting a frame failed")

    def _prepare(self, session: SessionState, source: FrameSource, index: int) -> PreparedFrame:
        """Convert, measure the lighting, maybe submit a keyframe: one session's frame."""
        timer = StageTimer()
        with timer.stage("convert"):
            frame = fit_within(
                check_frame(source() if callable(source) else source), self.settings.max_side
            )
        with timer.stage("lighting"):
            report = session.lighting.update(frame)
            model_frame = preprocess(frame, report)
        self.detection.maybe_keyframe(session, model_frame, index, report.thresholds)
        return PreparedFrame(session, index, frame, model_frame, report, timer)

    def _finish(self, p: PreparedFrame, started: float) -> None:
        with p.timer.stage("decode"):
            detections = segment_session(
                p.session,
                p.model_frame,
                p.embedding,
                p.lighting.thresholds.mask,
                self.models.segmenter,
                self.detection.ask_what,
                self.settings.max_objects,
            )
        p.timer.milliseconds["total"] = (time.perf_counter() - started) * 1000
        timings = p.timer.milliseconds
        result = self._publish(p.session, p.index, p.frame, detections, p.lighting, timings)
        self._record(p.session, timings)
        if result is not None:
            p.session.on_result(result)

    def _apply_detections(self, outcomes: list[DetectionOutcome]) -> None:
        for outcome in outcomes:
            with self._lock:
                session = self._sessions.get(outcome.job.session_id)
            if session is None or outcome.job.generation != session.generation:
                continue  # closed, or the vocabulary changed since
            try:
                self.detection.apply(session, outcome)
            except Exception:
                self._failed(session, "applying a detection failed")

    def _publish(
        self,
        session: SessionState,
        index: int,
        frame: npt.NDArray[np.uint8],
        detections: Detections,
        lighting: LightingReport,
        timings: dict[str, float],
    ) -> FrameResult | None:
        now = time.monotonic()
        with self._lock:
            session.processed += 1
            session.last_lighting = lighting
            session.object_count = len(detections)
        if session.paused:
            return None
        result = build_result(
            session, index, frame, detections, lighting, timings, session.language, now
        )
        with self._lock:  # session_stats reads (and trims) the meter on the caller's thread
            session.overlay_rate.tick(now)
        return result

    def _record(self, session: SessionState, timings: dict[str, float]) -> None:
        with self._lock:
            for stage, ms in timings.items():
                for table in (session.stages_ms, self._stages_ms):
                    previous = table.get(stage)
                    table[stage] = ms if previous is None else 0.8 * previous + 0.2 * ms
