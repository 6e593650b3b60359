"""How keyframe detection scales with worker processes behind Redis.

For each worker count N: start N `visionanything worker` processes (random weights, CPU threads
shared out), wait for their heartbeats, then keep `sessions` keyframe slots busy through a real
`RedisBroker` (each answer is followed at once by the session's next keyframe, as a busy class
would) for `seconds`, and report detection jobs per second and keyframe latency (submit →
answer) p50/p95. The workers are stopped before the next N.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.live.broker import DetectionError, DetectionJob
from inference.scaleout.redis_broker import RedisBroker

Progress = Callable[[str], None]
VOCABULARY = ("cup", "spoon", "saucer", "table")


@dataclass(frozen=True)
class ScaleoutRow:
    workers: int
    torch_threads: int
    ready_s: float  # until every worker's heartbeat was seen
    jobs: int  # answered with detections in the measured window
    dropped: int  # too old to run
    errors: int  # the detector failed (the first error is printed)
    seconds: float
    jobs_per_s: float
    latency_p50_ms: float
    latency_p95_ms: float


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else math.nan


def start_workers(
    url: str, count: int, threads: int, detector_size: int, prefix: str
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [
        sys.executable, "-m", "visionanything", "worker", "--redis", url, "--models", "random",
        "--device", "cpu", "--detector-size", str(detector_size), "--detector-runtime", "fast",
        "--metrics-port", "0", "--torch-threads", str(threads), "--prefix", prefix,
    ]  # fmt: skip
    return [
        subprocess.Popen(
            [*command, "--name", f"bench-{count}-{i}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]


def measure(
    url: str,
    workers: int,
    frame: npt.NDArray[np.uint8],
    *,
    seconds: float = 20.0,
    detector_size: int = 384,
    cores: int | None = None,
    progress: Progress = print,
    ready_timeout_s: float = 300.0,
    min_jobs: int = 0,
) -> ScaleoutRow:
    """Start `workers` worker processes, keep them busy with keyframe jobs of `frame`, and count
    the answers over `seconds` after each worker's first one; the window stretches until
    `min_jobs` are answered (a test's way to hold on a slow, busy machine), at most
    `ready_timeout_s` more. Rates are over the window's real length."""
    cores = cores or os.cpu_count() or 1
    threads = max(1, cores // workers)
    prefix = f"bench{workers}-{int(time.time())}"
    processes = start_workers(url, workers, threads, detector_size, prefix)
    broker = RedisBroker(url, prefix=prefix, max_age_s=max(60.0, seconds))
    try:
        started = time.monotonic()
        while broker.stats()["workers"] < workers:
            if time.monotonic() - started > ready_timeout_s:
                raise TimeoutError(f"{workers} worker(s) not ready after {ready_timeout_s:.0f} s")
            if any(p.poll() is not None for p in processes):
                raise RuntimeError("a worker process exited while loading (run it by hand)")
            time.sleep(0.5)
        ready_s = time.monotonic() - started
        progress(f"  {workers} worker(s), {threads} thread(s) each: ready in {ready_s:.0f} s")
        sessions = 2 * workers + 1  # enough waiting work that no worker idles
        index = 0

        def submit(session: int) -> None:
            nonlocal index
            index += 1
            broker.submit(DetectionJob(f"bench{session}", index, frame, VOCABULARY, 0.35, 0.25))

        for session in range(sessions):
            submit(session)
        warm = 0
        while warm < workers:  # the first answers include each worker's first-call cost
            for outcome in broker.collect():
                warm += 1
                submit(int(outcome.job.session_id.removeprefix("bench")))
            time.sleep(0.01)
        latencies: list[float] = []
        dropped = errors = 0
        window_start = time.monotonic()
        next_line = window_start + 5

        def measuring(now: float) -> bool:
            elapsed = now - window_start
            if elapsed < seconds:
                return True
            return len(latencies) < min_jobs and elapsed < seconds + ready_timeout_s

        while measuring(now := time.monotonic()):
            for outcome in broker.collect():
                if outcome.detections is not None:
                    latencies.append((time.monotonic() - outcome.job.submitted_at) * 1000)
                elif outcome.error_code == DetectionError.DROPPED:
                    dropped += 1
                else:
                    errors += 1
                    if errors == 1:
                        progress(f"    a job failed: {outcome.error}")
                submit(int(outcome.job.session_id.removeprefix("bench")))
            if now >= next_line:
                progress(f"    {now - window_start:.0f} s: {len(latencies)} job(s) answered")
                next_line += 5
            time.sleep(0.01)
        elapsed = time.monotonic() - window_start
        row = ScaleoutRow(
            workers=workers,
            torch_threads=threads,
            ready_s=round(ready_s, 1),
            jobs=len(latencies),
            dropped=dropped,
            errors=errors,
            seconds=round(elapsed, 1),
            jobs_per_s=round(len(latencies) / elapsed, 3),
            latency_p50_ms=round(percentile(latencies, 50), 1),
            latency_p95_ms=round(percentile(latencies, 95), 1),
        )
        progress(
            f"  {workers} worker(s): {row.jobs_per_s:.2f} jobs/s, keyframe latency p50 "
            f"{row.latency_p50_ms:.0f} ms, p95 {row.latency_p95_ms:.0f} ms"
        )
        return row
    finally:
        broker.close()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def markdown(rows: Sequence[ScaleoutRow], header: str) -> str:
    lines = [
        header,
        "",
        "| workers | threads each | jobs/s | keyframe latency p50 ms | p95 ms | jobs | dropped "
        "| errors |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.workers} | {r.torch_threads} | {r.jobs_per_s:.2f} | {r.latency_p50_ms:.0f} | "
        f"{r.latency_p95_ms:.0f} | {r.jobs} | {r.dropped} | {r.errors} |"
        for r in rows
    ]
    return "\n".join(lines)


def as_json(rows: Sequence[ScaleoutRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
