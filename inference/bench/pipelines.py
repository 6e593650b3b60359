"""The whole live pipeline on a recorded clip, scheduled (as serve runs it) against naive (every
model on every frame), with a clock and a broker that count."""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from inference.bench.results import (
    BenchSettings,
    Frame,
    PipelineComparison,
    PipelineResult,
    Progress,
)
from inference.bench.stages import sized_detector
from inference.core.timing import StageTimer
from inference.lighting.thresholds import LightingSettings
from inference.live.broker import (
    DetectionBroker,
    DetectionJob,
    DetectionOutcome,
    InProcessBroker,
    JobPurpose,
)
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.live.results import FrameResult
from inference.models import Models
from inference.still.grounded_segmentation import segment_image

# -- the pipelines ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineClock:
    """The time a pipeline comparison plays its clip in: the wall clock by default. A test
    passes a slowed one (the clip plays N times slower) so that a loaded machine still
    finishes frames inside the window; the rates are then per clock second."""

    now: Callable[[], float] = time.perf_counter
    sleep: Callable[[float], None] = time.sleep


WALL_CLOCK = PipelineClock()


class _CountingBroker:
    """A `DetectionBroker` that remembers every outcome the engine collects (and when)."""

    def __init__(self, inner: DetectionBroker, clock: PipelineClock = WALL_CLOCK) -> None:
        self.inner = inner
        self.clock = clock
        self.collected: list[tuple[float, DetectionOutcome]] = []

    def submit(self, job: DetectionJob) -> None:
        self.inner.submit(job)

    def collect(self) -> list[DetectionOutcome]:
        outcomes = self.inner.collect()
        now = self.clock.now()
        self.collected.extend((now, outcome) for outcome in outcomes)
        return outcomes

    def pending(self, session_id: str, purpose: JobPurpose = "keyframe") -> bool:
        return self.inner.pending(session_id, purpose)

    def forget(self, session_id: str) -> None:
        self.inner.forget(session_id)

    def set_listener(self, listener: Callable[[], None]) -> None:
        self.inner.set_listener(listener)

    def close(self) -> None:
        self.inner.close()

    @property
    def healthy(self) -> bool:
        return self.inner.healthy

    @property
    def degraded(self) -> str | None:
        return self.inner.degraded

    def stats(self) -> dict[str, Any] | None:
        return self.inner.stats()


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 1) if values else None


def _pipeline_models(models: Models, settings: BenchSettings) -> Models:
    detector = sized_detector(
        models.detector, settings.pipeline_detector_size, settings.max_objects
    )
    return Models(detector, models.segmenter)


def _lighting(settings: BenchSettings) -> LightingSettings:
    return LightingSettings(
        box_threshold=settings.box_threshold, text_threshold=settings.text_threshold
    )


def run_scheduled(
    models: Models,
    frames: Sequence[Frame],
    fps: float,
    settings: BenchSettings,
    clock: PipelineClock = WALL_CLOCK,
) -> PipelineResult:
    """The live `Engine` with one session, fed `frames` at `fps` in real time (`clock`'s).

    Counts the results published while the clip plays (len(frames) / fps seconds).
    """
    pipeline_models = _pipeline_models(models, settings)
    broker = _CountingBroker(InProcessBroker(pipeline_models.detector), clock)
    height, width = frames[0].shape[:2]
    engine = Engine(
        pipeline_models,
        EngineSettings(
            max_side=max(height, width),
            max_objects=settings.max_objects,
            lighting=_lighting(settings),
            default_vocabulary=settings.vocabulary,
        ),
        broker=broker,
    )
    arrivals: list[float] = []  # arrival time of the frame the engine took last
    published: list[tuple[float, float, FrameResult]] = []  # (done, arrived, result)

    def on_result(result: FrameResult) -> None:
        published.append((clock.now(), arrivals[-1], result))

    def source(frame: Frame, arrived: float) -> Callable[[], Frame]:
        def take() -> Frame:
            arrivals.append(arrived)
            return frame

        return take

    engine.start()
    session = engine.open_session(on_result, settings.vocabulary)
    seconds = len(frames) / fps
    try:
        start = clock.now()
        for index, frame in enumerate(frames):
            due = start + index / fps
            clock.sleep(max(0.0, due - clock.now()))
            engine.submit(session, source(frame, clock.now()))
        end = start + seconds
        clock.sleep(max(0.0, end - clock.now()))
        stats = engine.session_stats(session)
    finally:
        engine.stop()
    window = [(done, arrived, r) for done, arrived, r in published if done <= end]
    with_masks = [item for item in window if "encode" in item[2].timings_ms]
    detections = [
        outcome
        for at, outcome in broker.collected
        if at <= end and outcome.job.purpose == "keyframe" and outcome.detections is not None
    ]
    return PipelineResult(
        name="scheduled",
        seconds=round(seconds, 3),
        frames_offered=len(frames),
        frames_skipped=stats.dropped,
        results=len(window),
        segmented=len(with_masks),
        results_per_s=round(len(window) / seconds, 3),
        segmented_per_s=round(len(with_masks) / seconds, 3),
        keyframes=len(detections),
        detect_ms_mean=_mean([o.elapsed_ms for o in detections]),
        encode_ms_mean=_mean([r.timings_ms["encode"] for _, _, r in with_masks]),
        decode_ms_mean=_mean([r.timings_ms["decode"] for _, _, r in with_masks]),
        latency_ms_mean=_mean([(done - arrived) * 1000 for done, arrived, _ in window]),
        objects_mean=round(statistics.fmean(len(r.detections) for *_, r in window), 2)
        if window
        else 0.0,
        first_masks_s=round(with_masks[0][0] - start, 3) if with_masks else None,
    )


def run_naive(
    models: Models,
    frames: Sequence[Frame],
    fps: float,
    settings: BenchSettings,
    clock: PipelineClock = WALL_CLOCK,
) -> PipelineResult:
    """Grounded-SAM on every frame it can take: detect, encode, decode every box, repeat with
    the newest frame; frames that arrive meanwhile are skipped. Same window as the engine."""
    pipeline_models = _pipeline_models(models, settings)
    lighting = _lighting(settings)
    seconds = len(frames) / fps
    done_frames: list[tuple[float, float, StageTimer, int]] = []  # (done, arrived, timer, n)
    last = -1
    skipped = 0
    start = clock.now()
    end = start + seconds
    while (now := clock.now()) < end:
        newest = min(len(frames) - 1, int((now - start) * fps))
        if newest == last:
            clock.sleep(max(0.0, start + (newest + 1) / fps - now))
            continue
        skipped += newest - last - 1
        last = newest
        timer = StageTimer()
        result = segment_image(
            pipeline_models, frames[newest], settings.vocabulary, lighting, timer
        )
        done = clock.now()
        done_frames.append((done, start + newest / fps, timer, len(result.detections)))
    skipped += len(frames) - 1 - last
    window = [item for item in done_frames if item[0] <= end]
    with_masks = [item for item in window if "segment_encode" in item[2].milliseconds]
    return PipelineResult(
        name="naive",
        seconds=round(seconds, 3),
        frames_offered=len(frames),
        frames_skipped=skipped,
        results=len(window),
        segmented=len(with_masks),
        results_per_s=round(len(window) / seconds, 3),
        segmented_per_s=round(len(with_masks) / seconds, 3),
        keyframes=len(window),
        detect_ms_mean=_mean([t.milliseconds["detect"] for _, _, t, _ in window]),
        encode_ms_mean=_mean([t.milliseconds["segment_encode"] for _, _, t, _ in with_masks]),
        decode_ms_mean=_mean([t.milliseconds["segment_decode"] for _, _, t, _ in with_masks]),
        latency_ms_mean=_mean([(done - arrived) * 1000 for done, arrived, _, _ in window]),
        objects_mean=round(statistics.fmean(n for *_, n in window), 2) if window else 0.0,
        first_masks_s=round(with_masks[0][0] - start, 3) if with_masks else None,
    )


def compare_pipelines(
    models: Models,
    frames: Sequence[Frame],
    fps: float,
    settings: BenchSettings,
    progress: Progress | None = None,
    clock: PipelineClock = WALL_CLOCK,
) -> PipelineComparison:
    """Warm both paths up once, then run the scheduled and the naive pipeline on `frames`,
    played at `fps` on `clock`."""
    if not frames:
        raise ValueError("the pipeline comparison needs at least one frame")
    if not math.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    say = progress or (lambda _: None)
    warm = _pipeline_models(models, settings)
    segment_image(warm, frames[0], settings.vocabulary, _lighting(settings))
    scheduled = run_scheduled(models, frames, fps, settings, clock)
    say(
        f"scheduled pipeline: {scheduled.results_per_s:.2f} results/s "
        f"({scheduled.segmented_per_s:.2f} with masks), {scheduled.keyframes} keyframes"
    )
    before = None
    if settings.before_pipeline and runtimes_of(models) != ("torch", "torch"):
        with eager_runtimes(models) as eager:
            before = run_scheduled(eager, frames, fps, settings, clock)
        say(
            f"scheduled pipeline on torch (before): {before.results_per_s:.2f} results/s "
            f"({before.segmented_per_s:.2f} with masks), {before.keyframes} keyframes"
        )
    naive = run_naive(models, frames, fps, settings, clock)
    say(f"naive pipeline: {naive.results_per_s:.2f} frames/s")

    def ratio(a: float, b: float) -> float | None:
        return round(a / b, 2) if b > 0 else None

    return PipelineComparison(
        scheduled=scheduled,
        naive=naive,
        ratio=ratio(scheduled.segmented_per_s, naive.segmented_per_s),
        overlay_ratio=ratio(scheduled.results_per_s, naive.results_per_s),
        fps=fps,
        frames=len(frames),
        frame_size=(int(frames[0].shape[0]), int(frames[0].shape[1])),
        detector_size=settings.pipeline_detector_size,
        max_objects=settings.max_objects,
        box_threshold=settings.box_threshold,
        text_threshold=settings.text_threshold,
        scheduled_before=before,
    )


def runtimes_of(models: Models) -> tuple[str, str]:
    return models.segmenter.runtime, models.detector.runtime


@contextlib.contextmanager
def eager_runtimes(models: Models) -> Iterator[Models]:
    """`models` with the encoder and the detector on plain torch (the path before runtimes),
    for as long as the block runs; the segmenter's runtime is restored afterwards."""
    segmenter = models.segmenter
    encoder, runtime = segmenter.encoder, segmenter.runtime
    segmenter.encoder, segmenter.runtime = segmenter.model.image_encoder, "torch"
    try:
        yield Models(models.detector.with_runtime("torch"), segmenter)
    finally:
        segmenter.encoder, segmenter.runtime = encoder, runtime
