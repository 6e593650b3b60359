"""A detection worker: takes keyframe jobs from Redis, runs the detector, answers each server.

    XAUTOCLAIM (jobs idle > claim_idle_s in a dead worker's hands) ─┐
    XREADGROUP {prefix}:jobs, group "detectors", up to `batch` ─────┴▶ drop past-deadline jobs
        ─▶ decode JPEGs ─▶ detector, one call per (vocabulary, thresholds) group
        ─▶ XADD {prefix}:results:<server> ─▶ XACK + XDEL

A job stays pending in the group until it is acknowledged, after its answer is written: a
worker killed mid-job leaves it there and another worker claims it once it has been idle for
`claim_idle_s`. Each worker writes a heartbeat key (TTL 10 s) the servers count, and keeps
Prometheus counters (`WorkerMetrics`). One bad job (an unreadable frame, a vocabulary the
detector refuses) is answered with an error; the worker goes on.

Poison jobs: whatever is on the stream is parsed by `parse_job` (and its frame by
`job_frame`) before anything uses it; a malformed job (a field missing, not UTF-8, not a
number, a vocabulary that is not a JSON list of words, an empty or unreadable image) raises
`BadJob`, and is logged, counted (`va_worker_poison_jobs_total{field}`), answered with an
error when its id and server can be read (the server frees its slot at once), and acknowledged
and deleted. Left pending it would be claimed again by every worker in turn.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from inference.core.detections import Detections
from inference.live.broker import DetectionError, error_code_for
from inference.scaleout.messages import (
    GROUP,
    BadMessage,
    decode_frame,
    detections_to_json,
    heartbeat_key,
    jobs_key,
    results_key,
)

log = logging.getLogger(__name__)

# detect(frames, vocabulary, box_threshold=..., text_threshold=...) -> one Detections per frame
DetectFn = Callable[..., list[Detections]]


class WorkerMetrics:
    """Prometheus metrics of one worker, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Counter("va_worker_jobs", "Jobs answered, by outcome", ["outcome"], registry=r)
        self.queue_age = Histogram(
            "va_worker_queue_age_seconds",
            "Time from a job's submission to its pick-up",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
        self.batch = Histogram(
            "va_worker_batch_size", "Jobs per detector call", buckets=(1, 2, 4, 8, 16), registry=r
        )
        self.detect_seconds = Histogram(
            "va_worker_detect_seconds",
            "Detector time per call",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=r,
        )
        self.errors = Counter("va_worker_errors", "Redis and detector errors", ["kind"], registry=r)
        self.busy = Gauge("va_worker_busy", "1 while detecting", registry=r)
        self.poison = Counter(
            "va_worker_poison_jobs",
            "Malformed jobs logged, acknowledged and skipped, by the first bad field",
            ["field"],
            registry=r,
        )


MAX_TEXT_CHARS = 256  # ids, server names, words: ours are far shorter
MAX_WORDS = 256


class BadJob(BadMessage):
    """A job that cannot be worked on."""


@dataclass(frozen=True)
class JobSpec:
    """A job's fields, checked (`parse_job`)."""

    id: str
    server: str
    deadline: float
    sent_at: float
    vocabulary: tuple[str, ...]
    box_threshold: float
    text_threshold: float
    jpeg: bytes


def _text(fields: Mapping[bytes, bytes], key: str, *, required: bool = True) -> str:
    value = fields.get(key.encode())
    if value is None:
        if required:
            raise BadJob(key, "missing")
        return ""
    if not isinstance(value, bytes):
        raise BadJob(key, "not bytes")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadJob(key, "not UTF-8") from exc
    if len(text) > MAX_TEXT_CHARS:
        raise BadJob(key, f"longer than {MAX_TEXT_CHARS} characters")
    return text


def _number(fields: Mapping[bytes, bytes], key: str, low: float, high: float) -> float:
    text = _text(fields, key)
    try:
        number = float(text)
    except ValueError as exc:
        raise BadJob(key, "not a number") from exc
    if not (math.isfinite(number) and low <= number <= high):
        raise BadJob(key, f"outside {low:g}..{high:g}")
    return number


def parse_job(fields: Mapping[bytes, bytes]) -> JobSpec:
    """A job's fields as written by `RedisBroker` (bytes, as redis-py returns them), checked;
    `BadJob` for anything else. Never raises another exception: whatever a stream holds."""
    job_id = _text(fields, "id")
    if not job_id:
        raise BadJob("id", "empty")
    server = _text(fields, "server", required=False)
    deadline = _number(fields, "deadline", -math.inf, math.inf)
    sent_at = _number(fields, "sent_at", -math.inf, math.inf) if b"sent_at" in fields else 0.0
    try:
        words = json.loads(_text(fields, "vocabulary"))
    except (ValueError, RecursionError) as exc:
        raise BadJob("vocabulary", "not JSON") from exc
    if not isinstance(words, list) or not words or len(words) > MAX_WORDS:
        raise BadJob("vocabulary", f"not a list of 1..{MAX_WORDS} words")
    if not all(isinstance(w, str) and 0 < len(w.strip()) <= MAX_TEXT_CHARS for w in words):
        raise BadJob("vocabulary", "a word that is not a non-empty string")
    jpeg = fields.get(b"jpeg")
    if not isinstance(jpeg, bytes) or not jpeg:
        raise BadJob("jpeg", "missing or empty")
    return JobSpec(
        id=job_id,
        server=server,
        deadline=deadline,
        sent_at=sent_at,
        vocabulary=tuple(words),
        box_threshold=_number(fields, "box_threshold", 0.0, 1.0),
        text_threshold=_number(fields, "text_threshold", 0.0, 1.0),
        jpeg=jpeg,
    )


def job_frame(spec: JobSpec) -> npt.NDArray[np.uint8]:
    """The job's frame (RGB); `BadJob` when the bytes are not an image we can read."""
    try:
        return decode_frame(spec.jpeg)
    except Exception as exc:  # OpenCV raises its own error type for some inputs
        raise BadJob("jpeg", "not a readable image") from exc


@dataclass(frozen=True)
class _Job:
    entry_id: bytes
    fields: dict[bytes, bytes]
    spec: JobSpec | None = None  # None until parsed, or when it could not be


class DetectionWorker:
    """See the module docstring. `run(stop)` loops until `stop` is set."""

    def __init__(
        self,
        client: redis.Redis,
        detect: DetectFn,
        *,
        name: str | None = None,
        prefix: str = "va",
        batch: int = 1,
        batch_wait_s: float = 0.02,
        claim_idle_s: float = 5.0,
        max_stream: int = 1000,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.redis = client
        self.detect = detect
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.prefix = prefix
        self.batch = batch
        self.batch_wait_s = batch_wait_s
        self.claim_idle_s = claim_idle_s
        self.max_stream = max_stream
        self.metrics = metrics or WorkerMetrics()
        self.done = 0
        self.dropped = 0
        self.failed = 0
        self._next_beat = 0.0

    def ensure_group(self) -> None:
        try:
            self.redis.xgroup_create(jobs_key(self.prefix), GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(self, stop: threading.Event, retry_s: float = 1.0) -> None:
        """Work until `stop` is set; Redis errors are logged and retried (never fatal)."""
        log.info("worker %s: taking jobs from %s (batch %d)", self.name, self.prefix, self.batch)
        grouped = False
        while not stop.is_set():
            try:
                if not grouped:
                    self.ensure_group()
                    grouped = True
                self.step()
            except redis.RedisError as exc:
                self.metrics.errors.labels(kind="redis").inc()
                log.warning("worker %s: redis error %r; retrying", self.name, exc)
                grouped = False
                stop.wait(retry_s)
            except Exception:  # a bug of ours must not end the worker either
                self.metrics.errors.labels(kind="internal").inc()
                log.exception("worker %s: a round failed; going on", self.name)
                stop.wait(retry_s)
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(heartbeat_key(self.prefix, self.name))

    def step(self, block_ms: int = 1000) -> int:
        """One round: heartbeat, claim abandoned jobs or read new ones, answer them. Returns
        the number of jobs handled."""
        self._heartbeat()
        jobs = self._claim()
        if not jobs:
            jobs = self._read(self.batch, block_ms)
            if jobs and len(jobs) < self.batch and self.batch_wait_s > 0:
                jobs += self._read(self.batch - len(jobs), int(self.batch_wait_s * 1000))
        if jobs:
            self._handle(jobs)
        return len(jobs)

    # -- reading ------------------------------------------------------------------------------

    def _claim(self) -> list[_Job]:
        reply = self.redis.xautoclaim(
            jobs_key(self.prefix),
            GROUP,
            self.name,
            min_idle_time=int(self.claim_idle_s * 1000),
            start_id="0-0",
            count=self.batch,
        )
        entries: list[Any] = reply[1]
        claimed = [_Job(entry_id, fields) for entry_id, fields in entries if fields]
        if claimed:
            log.info("worker %s: claimed %d abandoned job(s)", self.name, len(claimed))
        return claimed

    def _read(self, count: int, block_ms: int) -> list[_Job]:
        reply: Any = self.redis.xreadgroup(
            GROUP, self.name, {jobs_key(self.prefix): ">"}, count=count, block=block_ms
        )
        streams: list[Any] = reply or []
        return [_Job(entry_id, fields) for _, entries in streams for entry_id, fields in entries]

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + 2.0
        status = {"done": self.done, "dropped": self.dropped, "failed": self.failed}
        self.redis.set(heartbeat_key(self.prefix, self.name), json.dumps(status), ex=10)

    # -- answering ----------------------------------------------------------------------------

    def _handle(self, jobs: Sequence[_Job]) -> None:
        now = time.time()
        live: dict[
            tuple[tuple[str, ...], float, float], list[tuple[_Job, npt.NDArray[np.uint8]]]
        ] = {}
        for job in jobs:
            try:
                spec = parse_job(job.fields)
                job = _Job(job.entry_id, job.fields, spec)
                if now > spec.deadline:
                    self.dropped += 1
                    self._answer(
                        job, error_code=DetectionError.DROPPED, error="dropped: past its deadline"
                    )
                    continue
                self.metrics.queue_age.observe(max(0.0, now - spec.sent_at))
                key = (spec.vocabulary, spec.box_threshold, spec.text_threshold)
                live.setdefault(key, []).append((job, job_frame(spec)))
            except BadJob as exc:
                self._poison(job, exc)
        for (vocabulary, box, text), group in live.items():
            self._detect(list(vocabulary), box, text, group)

    def _poison(self, job: _Job, problem: BadJob) -> None:
        """Log, count, answer (when the job says whom) and acknowledge a malformed job."""
        self.failed += 1
        self.metrics.poison.labels(field=problem.field).inc()
        log.warning(
            "worker %s: malformed job %r acknowledged and skipped: %s",
            self.name,
            job.entry_id[:64],
            problem,
        )
        spec = job.spec
        if spec is None:  # the id or server may be readable even when another field is not
            with contextlib.suppress(BadJob):
                spec = JobSpec(
                    _text(job.fields, "id"), _text(job.fields, "server"), 0, 0, (), 0, 0, b""
                )
        self._answer(
            _Job(job.entry_id, job.fields, spec),
            error_code=DetectionError.DETECTOR_FAILED,
            error=f"bad job: {problem}",
        )

    def _detect(
        self,
        vocabulary: list[str],
        box_threshold: float,
        text_threshold: float,
        group: list[tuple[_Job, npt.NDArray[np.uint8]]],
    ) -> None:
        started = time.perf_counter()
        self.metrics.busy.set(1)
        try:
            found = self.detect(
                [frame for _, frame in group],
                vocabulary,
                box_threshold=box_threshold,
                text_threshold=text_threshold,
            )
        except Exception as exc:  # one bad vocabulary must not stop the worker
            code = error_code_for(exc)
            if code == "detector_failed":
                log.exception("worker %s: detection failed", self.name)
                self.metrics.errors.labels(kind="detector").inc()
            self.failed += len(group)
            for job, _ in group:
                self._answer(job, error_code=code, error=str(exc)[:500])
            return
        finally:
            self.metrics.busy.set(0)
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.metrics.batch.observe(len(group))
        self.metrics.detect_seconds.observe(elapsed_ms / 1000)
        for (job, _), detections in zip(group, found, strict=True):
            self.done += 1
            self._answer(job, detections=detections, elapsed_ms=elapsed_ms)

    def _answer(
        self,
        job: _Job,
        *,
        detections: Detections | None = None,
        error_code: str | None = None,
        error: str = "",
        elapsed_ms: float = 0.0,
    ) -> None:
        """Write the answer to the job's server (when it can be read) and acknowledge and
        delete the job: its frame leaves Redis with it."""
        spec = job.spec
        fields: dict[Any, Any] = {"id": spec.id if spec else "", "elapsed_ms": round(elapsed_ms, 1)}
        if detections is not None:
            fields["detections"] = detections_to_json(detections)
        if error_code is not None:
            fields["error_code"], fields["error"] = error_code, error
        self.metrics.jobs.labels(outcome=error_code or "ok").inc()
        server = spec.server if spec and spec.id else ""
        pipe = self.redis.pipeline()
        if server:
            pipe.xadd(
                results_key(self.prefix, server), fields, maxlen=self.max_stream, approximate=True
            )
        pipe.xack(jobs_key(self.prefix), GROUP, job.entry_id)
        pipe.xdel(jobs_key(self.prefix), job.entry_id)
        pipe.execute()
