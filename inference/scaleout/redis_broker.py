"""Keyframe detection on worker machines through Redis: `RedisBroker`, the engine's side.

    engine ─submit─▶ slot per (session, purpose) ─sender thread─▶ XADD {prefix}:jobs (MAXLEN ~)
    workers (group "detectors", `inference.scaleout.worker`) ─▶ XADD {prefix}:results:<server>
    receiver thread ─XREAD─▶ outcomes ─collect─▶ engine

A job carries the frame as JPEG, the vocabulary, thresholds, session, generation and a wall-clock
deadline; a worker drops a job past its deadline (answering "dropped", counted on both sides).
Frames are not kept at rest: a worker deletes a job once answered, and the receive thread
trims jobs past their deadline plus the grace from the stream every `trim_every_s`
(`trim_expired_jobs`), so a frame is gone within seconds even when no worker runs.
Like `InProcessBroker`, one job per session and purpose waits here (newest wins); a job that
was sent is "in flight" until its answer arrives or its deadline (plus a grace) passes, which
frees the slot for the next keyframe.

Redis down: nothing blocks. `submit` keeps the newest job per slot, in-flight jobs expire, the
threads retry every `retry_s`; the engine goes on segmenting with the labels it has and
`degraded` says why (`/readyz` shows it). When Redis is back the next keyframe goes out at
once: detection resumes within a keyframe interval plus a worker's detection time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from inference.live.broker import DetectionError, DetectionJob, DetectionOutcome, JobPurpose
from inference.scaleout.messages import (
    BadResult,
    encode_frame,
    heartbeat_key,
    jobs_key,
    parse_result,
    results_key,
)

log = logging.getLogger(__name__)


@dataclass
class _InFlight:
    job: DetectionJob
    deadline: float  # time.time()


@dataclass
class BrokerCounters:
    sent: int = 0
    answered: int = 0
    detections: int = 0  # answers carrying detections (not errors)
    dropped_stale: int = 0  # answered "dropped" by a worker, or expired here unanswered
    errors: int = 0  # Redis errors seen (connection and commands)
    bad_results: int = 0  # malformed entries on our results stream, logged and skipped
    workers: int = 0  # workers with a live heartbeat, last seen
    extra: dict[str, int] = field(default_factory=dict)


class RedisBroker:
    """`DetectionBroker` over Redis streams (see the module docstring). Thread-safe."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "va",
        max_age_s: float = 10.0,
        grace_s: float = 2.0,
        max_stream: int = 1000,
        retry_s: float = 0.5,
        trim_every_s: float = 2.0,
        client: redis.Redis | None = None,
    ) -> None:
        self.url = url
        self.trim_every_s = trim_every_s
        self.prefix = prefix
        self.max_age_s = max_age_s
        self.grace_s = grace_s
        self.max_stream = max_stream
        self.retry_s = retry_s
        self.server = uuid.uuid4().hex[:12]
        self._redis = client or redis.Redis.from_url(
            url, socket_timeout=3.0, socket_connect_timeout=2.0, health_check_interval=10
        )
        self._queue: OrderedDict[tuple[str, JobPurpose], DetectionJob] = OrderedDict()
        self._in_flight: dict[str, _InFlight] = {}
        # the job the send thread took from the queue and is encoding: still pending (it was
        # neither in the queue nor in flight meanwhile, so the engine could ask again)
        self._sending: DetectionJob | None = None
        self._outcomes: list[DetectionOutcome] = []
        self._lock = threading.Condition()
        self._listener: Callable[[], None] | None = None
        self._closed = False
        self._warned_everything = False
        self._down_since: float | None = None
        self._last_error = ""
        self.counters = BrokerCounters()
        self._threads = [
            threading.Thread(target=self._send_forever, name="redis-send", daemon=True),
            threading.Thread(target=self._receive_forever, name="redis-receive", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    # -- DetectionBroker ------------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Our threads run (Redis being down is `degraded`, not unhealthy: video goes on)."""
        return not self._closed and all(t.is_alive() for t in self._threads)

    @property
    def degraded(self) -> str | None:
        with self._lock:
            since = self._down_since
            error = self._last_error
        if since is not None:
            return (
                f"redis unreachable for {time.monotonic() - since:.0f} s ({error}); labels frozen"
            )
        if self.counters.workers == 0:
            return "no detection worker has reported through redis yet"
        return None

    def set_listener(self, listener: Callable[[], None]) -> None:
        self._listener = listener

    def submit(self, job: DetectionJob) -> None:
        if job.everything and not self._warned_everything:
            # workers hold a detector, not a segmenter: their answer finds the words
            self._warned_everything = True
            log.warning("'everything' keyframes run as word-finding on remote workers")
        key = (job.session_id, job.purpose)
        with self._lock:
            self._queue.pop(key, None)
            self._queue[key] = job
            self._lock.notify_all()

    def pending(self, session_id: str, purpose: JobPurpose = "keyframe") -> bool:
        with self._lock:
            if (session_id, purpose) in self._queue:
                return True
            sending = self._sending
            if sending is not None and (sending.session_id, sending.purpose) == (
                session_id,
                purpose,
            ):
                return True
            return any(
                (f.job.session_id, f.job.purpose) == (session_id, purpose)
                for f in self._in_flight.values()
            )

    def collect(self) -> list[DetectionOutcome]:
        with self._lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes

    def forget(self, session_id: str) -> None:
        with self._lock:
            for key in [k for k in self._queue if k[0] == session_id]:
                del self._queue[key]
            if self._sending is not None and self._sending.session_id == session_id:
                self._sending = None  # the send thread drops it
            for job_id in [j for j, f in self._in_flight.items() if f.job.session_id == session_id]:
                del self._in_flight[job_id]  # its answer, when it comes, is thrown away
            self._outcomes = [o for o in self._outcomes if o.job.session_id != session_id]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._queue.clear()
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        with contextlib.suppress(redis.RedisError):
            self._redis.delete(results_key(self.prefix, self.server))
        self._redis.close()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            waiting, in_flight = len(self._queue), len(self._in_flight)
        c = self.counters
        return {
            "waiting": waiting,
            "in_flight": in_flight,
            "sent": c.sent,
            "answered": c.answered,
            "dropped_stale": c.dropped_stale,
            "redis_errors": c.errors,
            "bad_results": c.bad_results,
            "workers": c.workers,
            "degraded": self.degraded,
        }

    # -- threads ------------------------------------------------------------------------------

    def _failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("redis unreachable (%s): detection paused, video goes on", exc)
            self._last_error = type(exc).__name__
        self.counters.errors += 1

    def _recovered(self) -> None:
        with self._lock:
            if self._down_since is not None:
                log.info(
                    "redis is back after %.1f s: detection resumes",
                    time.monotonic() - self._down_since,
                )
            self._down_since = None

    def _next_job(self) -> DetectionJob | None:
        with self._lock:
            while not self._queue and not self._closed:
                self._lock.wait(timeout=1.0)
                self._expire()
            if self._closed:
                return None
            _, job = self._queue.popitem(last=False)
            self._sending = job
            return job

    def _send_forever(self) -> None:
        while (job := self._next_job()) is not None:
            job_id = uuid.uuid4().hex
            age = time.monotonic() - job.submitted_at
            if age > self.max_age_s:  # waited out an outage: too old to be worth a detection
                with self._lock:
                    self._sending = None
                self.counters.dropped_stale += 1
                self._answer(
                    DetectionOutcome(
                        job, None, f"dropped: {age:.1f} s old", 0.0, DetectionError.DROPPED
                    )
                )
                continue
            deadline = time.time() + self.max_age_s - age
            try:
                fields = self._fields(job, job_id, deadline)
            except ValueError as exc:
                with self._lock:
                    self._sending = None
                self._answer(
                    DetectionOutcome(job, None, str(exc), 0.0, DetectionError.DETECTOR_FAILED)
                )
                continue
            with self._lock:  # in flight before it can be answered
                forgotten, self._sending = self._sending is None, None
                if not forgotten:
                    self._in_flight[job_id] = _InFlight(job, deadline)
            if forgotten:  # its session was forgotten while it was encoded
                continue
            try:
                self._redis.xadd(
                    jobs_key(self.prefix), fields, maxlen=self.max_stream, approximate=True
                )
            except redis.RedisError as exc:
                self._failed(exc)
                with self._lock:
                    self._in_flight.pop(job_id, None)
                    # keep it for when Redis is back, unless a newer job took its slot
                    self._queue.setdefault((job.session_id, job.purpose), job)
                if self._sleep(self.retry_s):
                    return
                continue
            self._recovered()
            self.counters.sent += 1

    def _fields(self, job: DetectionJob, job_id: str, deadline: float) -> dict[Any, Any]:
        return {
            "id": job_id,
            "server": self.server,
            "session": job.session_id,
            "frame_index": job.frame_index,
            "purpose": job.purpose,
            "track_id": "" if job.track_id is None else job.track_id,
            "generation": job.generation,
            "vocabulary": json.dumps(list(job.vocabulary)),
            "box_threshold": job.box_threshold,
            "text_threshold": job.text_threshold,
            "deadline": deadline,
            "sent_at": time.time(),
            "jpeg": encode_frame(job.frame),
        }

    def _receive_forever(self) -> None:
        key = results_key(self.prefix, self.server)
        # from the start, not "$": the stream is this broker's own (a new server id), and "$"
        # would miss an answer written between two XREADs before the first one arrived
        last_id = "0"
        next_beat = 0.0
        while not self._closed:
            try:
                if time.monotonic() >= next_beat:
                    self._count_workers()
                    self._redis.expire(key, 3600)  # a crashed server's stream goes away
                    self.trim_expired_jobs()
                    next_beat = time.monotonic() + self.trim_every_s
                replies: Any = self._redis.xread({key: last_id}, count=64, block=500)
            except redis.RedisError as exc:
                self._failed(exc)
                if self._sleep(self.retry_s):
                    return
                continue
            self._recovered()
            for _, entries in replies or []:
                for entry_id, fields in entries:
                    last_id = entry_id  # read past it whatever it holds: never read twice
                    self._result_or_skip(entry_id, fields)
            with self._lock:
                self._expire()

    def trim_expired_jobs(self) -> int:
        """Delete jobs (and the frames they carry) older than `max_age_s` + `grace_s` from the
        jobs stream, whether or not a worker took them: no frame outlives its deadline in
        Redis by more than the grace and one trim interval. Entry ids are Redis's own clock
        (ms), so XTRIM MINID needs no clock of ours; every media server trims (cheap: O(trimmed
        entries)), so the frames go while any of them runs. Returns the number trimmed."""
        seconds, micros = self._redis.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        oldest_ms = now_ms - int((self.max_age_s + self.grace_s) * 1000)
        trimmed: int = self._redis.xtrim(jobs_key(self.prefix), minid=f"{max(0, oldest_ms)}-0")
        return trimmed

    def _count_workers(self) -> None:
        pattern = heartbeat_key(self.prefix, "*")
        self.counters.workers = sum(1 for _ in self._redis.scan_iter(match=pattern, count=100))

    def _result_or_skip(self, entry_id: Any, fields: Any) -> None:
        """Handle one entry; a malformed one is logged, counted and skipped, so this thread
        (and with it every session's detection and `/readyz`) lives on."""
        try:
            self._result(fields if isinstance(fields, Mapping) else {})
        except Exception as exc:
            self.counters.bad_results += 1
            field = exc.field if isinstance(exc, BadResult) else type(exc).__name__
            log.warning("results entry %r skipped (%s): %s", entry_id, field, exc)

    def _result(self, fields: Mapping[bytes, bytes]) -> None:
        result = parse_result(fields)
        with self._lock:
            flight = self._in_flight.pop(result.id, None)
        if flight is None:
            return  # forgotten, or expired here already
        self.counters.answered += 1
        if result.error_code is not None:
            if result.error_code == DetectionError.DROPPED:
                self.counters.dropped_stale += 1
            self._answer(
                DetectionOutcome(
                    flight.job, None, result.error, result.elapsed_ms, result.error_code
                )
            )
            return
        self.counters.detections += 1
        self._answer(DetectionOutcome(flight.job, result.detections, None, result.elapsed_ms))

    def _expire(self) -> None:
        """Under the lock: in-flight jobs whose answer is overdue are given up (dropped)."""
        now = time.time()
        for job_id in [j for j, f in self._in_flight.items() if now > f.deadline + self.grace_s]:
            flight = self._in_flight.pop(job_id)
            self.counters.dropped_stale += 1
            self._outcomes.append(
                DetectionOutcome(
                    flight.job, None, "dropped: no answer in time", 0.0, DetectionError.DROPPED
                )
            )

    def _answer(self, outcome: DetectionOutcome) -> None:
        with self._lock:
            self._outcomes.append(outcome)
        if self._listener is not None:
            self._listener()

    def _sleep(self, seconds: float) -> bool:
        """Wait, waking early on close; True when closed."""
        with self._lock:
            if not self._closed:
                self._lock.wait(timeout=seconds)
            return self._closed
