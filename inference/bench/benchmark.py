"""Measure the models and the live pipeline on this machine: what `visionanything bench` runs.

Two parts, measured in the same run so that they can be compared (these machines drift ±15-20 %
between runs):

1. Model stages, each after a warm-up, `repeats` times (median and min wall-clock ms):
   the MobileSAM image encoder at its size S, the prompt encoder + mask decoder for N boxes (as
   the engine calls it: `Segmenter.predict`, masks upsampled to the frame), and Grounding DINO at
   each detector input size (shortest edge; the frame is 480×640). Each stage's FLOPs are
   counted once with `torch.utils.flop_counter.FlopCounterMode` (in a separate, untimed run; it
   counts matmuls, convolutions and attention, not element-wise work), giving the achieved
   GFLOP/s and the fraction of this machine's fp32 matmul peak (a square matmul, measured in
   the same run). With several detector choices (`compare_detectors`: Grounding DINO and
   MM-Grounding-DINO), each is timed at each input size beside the others, repeats interleaved.
2. The pipeline on a clip played in real time (frames arrive at the clip's frame rate): the
   scheduled live pipeline (`Engine`, one session; keyframe detection in the broker, the
   segmenter on every frame it can take) against the naive Grounded-SAM way (detector, encoder
   and decoder for every box on each frame it can take; frames arriving meanwhile are skipped).
   Both use the same models, thresholds, vocabulary and object cap.

Frames come from the caller (the command uses `stream.loadtest.clip`): `inference` never
imports `stream`. On CUDA every timing synchronises the device.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.flop_counter import FlopCounterMode

from inference.bench.compare_detector import PathTiming, compare_detector_paths
from inference.bench.compare_encoder import EncoderRuntimeResult, compare_encoder_runtimes
from inference.bench.mask_following import (
    InscribedEllipses,
    boxes_from_views,
    measure_mask_following,
)
from inference.core.timing import StageTimer
from inference.detection.detector import Detector
from inference.lighting.thresholds import LightingSettings
from inference.live.broker import (
    DetectionBroker,
    DetectionJob,
    DetectionOutcome,
    InProcessBroker,
    JobPurpose,
)
from inference.live.engine import DEFAULT_VOCABULARY, Engine, EngineSettings, FrameResult
from inference.models import Models
from inference.segmentation.segmenter import ImageEmbedding, Segmenter
from inference.still.grounded_segmentation import segment_image

Progress = Callable[[str], None]
Frame = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class BenchSettings:
    """What to measure. Sizes are pixels; `clip_*` describe the frames passed in."""

    detector_sizes: tuple[int, ...] = (256, 384, 512)
    boxes: tuple[int, ...] = (1, 4, 8)
    repeats: int = 3
    pipeline_detector_size: int = 384  # shortest edge of the detector in both pipelines
    max_objects: int = 6  # boxes kept per detection in both pipelines (the engine's default)
    box_threshold: float = 0.35  # pinned for both pipelines (random weights saturate)
    text_threshold: float = 0.25
    vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY
    peak_size: int = 2048  # the fp32 matmul that measures the peak
    peak_repeats: int = 5
    # runtimes compared side by side in the same run (each against eager torch)
    encoder_runtimes: tuple[str, ...] = ("torch", "openvino", "onnxruntime", "openvino-bf16")
    detector_runtimes: tuple[str, ...] = ("fast", "openvino")  # against "before" (torch)
    following_lags: tuple[int, ...] = (3, 8)  # frames between a mask's frame and its use
    before_pipeline: bool = True  # also run the scheduled pipeline on eager torch ("before")

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}")
        if not self.boxes or min(self.boxes) < 1 or max(self.boxes) > 64:
            raise ValueError(f"box counts must lie in 1..64, got {self.boxes}")
        sizes = (*self.detector_sizes, self.pipeline_detector_size)
        if min(sizes) < 64 or max(sizes) > 2048:
            raise ValueError(f"detector sizes must lie in 64..2048, got {sizes}")
        if self.max_objects < 1:
            raise ValueError(f"max_objects must be at least 1, got {self.max_objects}")


@dataclass(frozen=True)
class PeakResult:
    """fp32 (size × size) @ (size × size): 2·size³ FLOPs per product, best of the repeats."""

    size: int
    repeats: int
    best_ms: float
    gflops_per_s: float
    matmul_precision: str  # torch.get_float32_matmul_precision() ("highest": no TF32)


@dataclass(frozen=True)
class StageResult:
    """One model stage: wall-clock ms over `repeats` runs and the FLOPs of one run."""

    stage: str  # "encoder", "decoder" or "detector"
    label: str  # "encoder 512", "decoder 4 boxes", "detector 384"
    param: int  # encoder size, box count, or detector shortest edge
    input_shape: list[int]  # encoder (B, 3, S, S); decoder embedding (256, S/16, S/16) ...
    times_ms: list[float]
    median_ms: float
    min_ms: float
    flops: int
    gflops_per_s: float  # flops / median time
    peak_fraction: float  # gflops_per_s / the measured matmul peak


@dataclass(frozen=True)
class PipelineResult:
    """One pipeline fed the clip in real time for `seconds`; counts are within that window.

    results:   frames that produced an overlay update (FrameResult / naive outputs)
    segmented: results whose masks came from the segmenter (the encoder ran on the frame)
    keyframes: detector runs finished in the window
    latency_ms_mean: from a frame's arrival to its result
    """

    name: str
    seconds: float
    frames_offered: int
    frames_skipped: int
    results: int
    segmented: int
    results_per_s: float
    segmented_per_s: float
    keyframes: int
    detect_ms_mean: float | None
    encode_ms_mean: float | None
    decode_ms_mean: float | None
    latency_ms_mean: float | None
    objects_mean: float
    first_masks_s: float | None  # when the first result with masks arrived


@dataclass(frozen=True)
class PipelineComparison:
    """scheduled / naive: `ratio` counts frames with masks, `overlay_ratio` every update."""

    scheduled: PipelineResult
    naive: PipelineResult
    ratio: float | None
    overlay_ratio: float | None
    fps: float
    frames: int
    frame_size: tuple[int, int]  # (H, W)
    detector_size: int
    max_objects: int
    box_threshold: float
    text_threshold: float
    scheduled_before: PipelineResult | None = None  # the same, encoder and detector on torch


@dataclass(frozen=True)
class DetectorChoiceTiming:
    """One detector choice (`--detector`) at one input size, timed beside the other choices.

    detector:   its name ("grounding-dino-tiny", "mm-grounding-dino-tiny")
    runtime:    the runtime it ran on ("torch", "fast", "openvino"); `note` says when OpenVINO
                fell back to the eager image side for this size
    weights:    "random" or "checkpoint"; parameters: its parameter count
    input_size: (H, W) the model saw; times_ms: every timed `detect` of one frame (pre- and
                post-processing included), median_ms / min_ms over them
    warmup_ms:  the first, untimed call (an OpenVINO conversion or cache load happens there)
    error:      why it was not timed (say, its checkpoint is not fetched), else None
    """

    detector: str
    shortest_edge: int
    runtime: str | None = None
    weights: str | None = None
    parameters: int | None = None
    input_size: tuple[int, int] | None = None
    times_ms: tuple[float, ...] = ()
    median_ms: float | None = None
    min_ms: float | None = None
    warmup_ms: float | None = None
    note: str | None = None
    error: str | None = None


@dataclass
class BenchReport:
    machine: dict[str, Any]
    settings: dict[str, Any]
    models: dict[str, Any]
    random_weights: bool
    peak: PeakResult
    stages: list[StageResult] = field(default_factory=list)
    pipeline: PipelineComparison | None = None
    encoder_runtimes: list[EncoderRuntimeResult] = field(default_factory=list)
    detector_paths: list[PathTiming] = field(default_factory=list)
    detectors: list[DetectorChoiceTiming] = field(default_factory=list)
    mask_following: list[dict[str, Any]] = field(default_factory=list)
    clip: dict[str, Any] = field(default_factory=dict)
    total_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- timing and counting ---------------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_calls(
    fn: Callable[[], object], device: torch.device, repeats: int, warmup: int = 1
) -> list[float]:
    """Wall-clock milliseconds of `repeats` calls of `fn` after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        _sync(device)
        started = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - started) * 1000.0)
    return times


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call (matmul, convolution, attention; 2 per multiply-add), untimed."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def measure_peak(device: torch.device, size: int = 2048, repeats: int = 5) -> PeakResult:
    """This device's fp32 matmul throughput: best of `repeats` (size × size) products."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    out = torch.empty(size, size, device=device)
    inner = 1 if device.type == "cpu" else 20  # a GPU needs many products to be measurable

    def product() -> None:
        for _ in range(inner):
            torch.mm(a, b, out=out)

    with torch.inference_mode():
        times = time_calls(product, device, repeats, warmup=1)
    best = min(times) / inner
    return PeakResult(
        size=size,
        repeats=repeats,
        best_ms=round(best, 3),
        gflops_per_s=round(2 * size**3 / (best / 1000.0) / 1e9, 1),
        matmul_precision=torch.get_float32_matmul_precision(),
    )


def _stage(
    stage: str,
    label: str,
    param: int,
    input_shape: Sequence[int],
    fn: Callable[[], object],
    device: torch.device,
    repeats: int,
    peak: PeakResult,
    flops_fn: Callable[[], object] | None = None,
) -> StageResult:
    """Time `fn`; count FLOPs on `flops_fn` (default `fn`): an exported runtime (OpenVINO,
    ONNX Runtime) is invisible to torch's counter, so its eager twin is counted instead."""
    flops = count_flops(flops_fn or fn)  # also warms up the kernels
    times = time_calls(fn, device, repeats, warmup=1)
    median = statistics.median(times)
    rate = flops / (median / 1000.0) / 1e9 if median > 0 else 0.0
    return StageResult(
        stage=stage,
        label=label,
        param=param,
        input_shape=[int(v) for v in input_shape],
        times_ms=[round(t, 2) for t in times],
        median_ms=round(median, 2),
        min_ms=round(min(times), 2),
        flops=flops,
        gflops_per_s=round(rate, 2),
        peak_fraction=round(rate / peak.gflops_per_s, 4) if peak.gflops_per_s > 0 else 0.0,
    )


# -- model stages ----------------------------------------------------------------------------


def bench_encoder(segmenter: Segmenter, repeats: int, peak: PeakResult) -> StageResult:
    """The image encoder (the runtime the segmenter uses) on one (1, 3, S, S) input."""
    size = segmenter.image_size
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, size, size, generator=generator).to(segmenter.device)

    def encode() -> None:
        with torch.inference_mode():
            segmenter.encoder(pixels)

    def encode_eager() -> None:
        with torch.inference_mode():
            segmenter.model.image_encoder(pixels)

    label = f"encoder {size} ({segmenter.runtime})"
    device = segmenter.device
    return _stage("encoder", label, size, pixels.shape, encode, device, repeats, peak, encode_eager)


def bench_boxes(count: int, frame_size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """`count` deterministic, overlapping xyxy boxes (N, 4) inside a (H, W) frame."""
    height, width = frame_size
    rng = np.random.default_rng(count)
    centres = rng.uniform(0.25, 0.75, size=(count, 2)) * [width, height]
    halves = rng.uniform(0.08, 0.25, size=(count, 2)) * [width, height]
    boxes = np.concatenate([centres - halves, centres + halves], axis=1)
    return np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)


def bench_decoder(
    segmenter: Segmenter,
    embedding: ImageEmbedding,
    count: int,
    repeats: int,
    peak: PeakResult,
) -> StageResult:
    """Prompt encoder + mask decoder for `count` boxes in one batch, masks at frame size."""
    boxes = bench_boxes(count, embedding.frame_size)

    def decode() -> None:
        segmenter.predict(boxes=boxes, embedding=embedding)

    label = f"decoder {count} box{'es' if count != 1 else ''}"
    shape = embedding.features.shape
    return _stage("decoder", label, count, shape, decode, segmenter.device, repeats, peak)


def sized_detector(detector: Detector, shortest_edge: int, max_detections: int = 20) -> Detector:
    """The same model with its input resized to `shortest_edge` (long side capped at 5/3 of it)."""
    return detector.with_settings(
        shortest_edge=shortest_edge,
        longest_edge=max(shortest_edge * 5 // 3, shortest_edge),
        max_detections=max_detections,
    )


def bench_detector(
    detector: Detector,
    frame: Frame,
    shortest_edge: int,
    vocabulary: Sequence[str],
    repeats: int,
    peak: PeakResult,
) -> StageResult:
    """Grounding DINO on one RGB frame (H, W, 3), preprocessing and post-processing included."""
    sized = sized_detector(detector, shortest_edge)
    pixels = sized.image_processor(
        images=[frame],
        size={"shortest_edge": shortest_edge, "longest_edge": sized.settings.longest_edge},
        input_data_format="channels_last",
        return_tensors="pt",
    )["pixel_values"]

    eager = sized.with_runtime("torch")

    def detect() -> None:
        sized.detect([frame], vocabulary)

    def detect_eager() -> None:
        eager.detect([frame], vocabulary)

    return _stage(
        "detector",
        f"detector {shortest_edge} ({detector.runtime})",
        shortest_edge,
        pixels.shape,
        detect,
        detector.device,
        repeats,
        peak,
        detect_eager,
    )


def compare_detectors(
    detectors: Mapping[str, Callable[[], Detector]],
    frame: Frame,
    sizes: Sequence[int],
    vocabulary: Sequence[str],
    repeats: int,
    progress: Progress | None = None,
) -> list[DetectorChoiceTiming]:
    """Time each detector choice on one RGB frame (H, W, 3) at each shortest edge in `sizes`.

    detectors: name → a builder (called once here, so a model that is not needed is never
    built; one that fails to build gives rows with its error, never an exception). Per size,
    every detector gets one untimed warm-up call, then `repeats` rounds time each once in turn
    (interleaved: machine drift hits all alike). Returns one row per (size, detector), in the
    order given.
    """
    report = progress or (lambda line: None)
    built: dict[str, Detector | str] = {}
    for name, build in detectors.items():
        try:
            built[name] = build()
        except Exception as exc:
            built[name] = f"{type(exc).__name__}: {exc}".strip()
            report(f"detector {name}: not timed ({built[name]})")
    rows: list[DetectorChoiceTiming] = []
    for edge in sizes:
        sized: dict[str, Detector] = {}
        state: dict[str, dict[str, Any]] = {}
        for name, detector in built.items():
            if isinstance(detector, str):
                state[name] = {"error": detector}
                continue
            sized[name] = sized_detector(detector, int(edge))
            state[name] = {"times": []}
            try:
                shape = sized[name]._preprocess([frame])["pixel_values"].shape
                state[name]["input"] = (int(shape[-2]), int(shape[-1]))
                started = time.perf_counter()
                sized[name].detect([frame], vocabulary)
                state[name]["warmup"] = 1000 * (time.perf_counter() - started)
            except Exception as exc:
                state[name]["error"] = f"{type(exc).__name__}: {exc}".strip()
        for _ in range(max(1, repeats)):
            for name, detector in sized.items():
                if "error" in state[name]:
                    continue
                try:
                    _sync(detector.device)
                    started = time.perf_counter()
                    detector.detect([frame], vocabulary)
                    _sync(detector.device)
                except Exception as exc:
                    state[name]["error"] = f"{type(exc).__name__}: {exc}".strip()
                    continue
                state[name]["times"].append(1000 * (time.perf_counter() - started))
        for name in built:
            rows.append(_choice_row(name, int(edge), sized.get(name), state[name]))
            report(_describe_choice(rows[-1]))
    return rows


def _choice_row(
    name: str, edge: int, detector: Detector | None, state: dict[str, Any]
) -> DetectorChoiceTiming:
    if detector is None or "error" in state:
        return DetectorChoiceTiming(name, edge, error=state.get("error"))
    times = tuple(round(float(t), 2) for t in state["times"])
    failure = None
    if detector.runtime == "openvino":
        failure = detector.runner.openvino_failure(state["input"])
    return DetectorChoiceTiming(
        detector=name,
        shortest_edge=edge,
        runtime=detector.runtime,
        weights=detector.weights,
        parameters=sum(p.numel() for p in detector.model.parameters()),
        input_size=state["input"],
        times_ms=times,
        median_ms=round(statistics.median(times), 2),
        min_ms=round(min(times), 2),
        warmup_ms=round(float(state["warmup"]), 1),
        note=None if failure is None else f"OpenVINO unavailable, ran on fast: {failure}",
    )


def _describe_choice(row: DetectorChoiceTiming) -> str:
    where = f"detector {row.detector} at {row.shortest_edge}"
    if row.error is not None:
        return f"{where}: not timed ({row.error})"
    return (
        f"{where} -> {row.input_size} on {row.runtime}: median {_ms(row.median_ms)} ms "
        f"(first call {_ms(row.warmup_ms)} ms)"
    )


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
        frames_skipped=int(stats["dropped"]),
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
    if settings.before_pipeline and _runtimes(models) != ("torch", "torch"):
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


def _runtimes(models: Models) -> tuple[str, str]:
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


# -- masks that follow the picture ----------------------------------------------------------


def bench_mask_following(
    segmenter: Segmenter,
    frames: Sequence[Frame],
    views: Sequence[npt.NDArray[np.float64]],
    lags: Sequence[int],
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    """Drawn masks against each frame's own masks, with and without following, per lag.

    Two "segmenters" per lag: `InscribedEllipses` (masks fixed to the picture, carried by the
    clip's true camera: the geometry check) and the real MobileSAM (with random weights its
    masks are speckle tied to the frame rather than the picture, so following cannot help it;
    with checkpoints it is the real number). Frames: one continuous shot with its views.
    """
    height, width = frames[0].shape[:2]
    first = np.array([[width * 0.3, height * 0.25, width * 0.7, height * 0.75]], np.float32)
    boxes = boxes_from_views(first, views)
    rows: list[dict[str, Any]] = []
    for name, masks in (("picture-anchored", InscribedEllipses()), ("segmenter", segmenter)):
        for lag in lags:
            if len(frames) <= 2 * lag:
                continue
            result = measure_mask_following(masks, frames, boxes, lag, progress)
            rows.append({"masks": name, "weights": _weights(segmenter, name), **result.to_dict()})
    return rows


def _weights(segmenter: Segmenter, name: str) -> str:
    return "-" if name == "picture-anchored" else segmenter.weights


# -- the whole run ---------------------------------------------------------------------------


def machine_info(device: torch.device) -> dict[str, Any]:
    """CPU model, thread counts, library versions and the device (with its GPU name)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info: dict[str, Any] = {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def run_benchmark(
    models: Models,
    settings: BenchSettings,
    frames: Sequence[Frame],
    fps: float,
    *,
    frame: Frame | None = None,
    progress: Progress | None = None,
    clip: dict[str, Any] | None = None,
    shot: tuple[Sequence[Frame], Sequence[npt.NDArray[np.float64]]] | None = None,
    detector_choices: Mapping[str, Callable[[], Detector]] | None = None,
) -> BenchReport:
    """Peak, every model stage, then the pipeline comparison on `frames` (RGB (H, W, 3)).

    `frame` is the still the stages use (default frames[0]); no `frames`: no pipelines.
    `detector_choices`: detectors (name → builder, see `compare_detectors`) timed side by side
    at `settings.detector_sizes`; None or empty skips that step.
    `progress` gets one line per finished step ("[3/9] decoder 8 boxes: 412 ms").
    `shot`: frames of one continuous shot and their true camera views (`ClipFrame.view`) for
    the mask-following check; None skips it.
    """
    if frame is None:
        if not frames:
            raise ValueError("give frames for the pipelines or a frame for the stages")
        frame = frames[0]
    started = time.perf_counter()
    device = models.segmenter.device
    before = settings.before_pipeline and _runtimes(models) != ("torch", "torch")
    steps = 2 + len(settings.boxes) + len(settings.detector_sizes) + (2 + before if frames else 0)
    steps += bool(settings.encoder_runtimes) + bool(settings.detector_runtimes) + bool(shot)
    steps += bool(detector_choices)
    step = 0

    def done(text: str) -> None:
        nonlocal step
        step += 1
        if progress is not None:
            progress(f"[{step}/{steps}] {text}")

    peak = measure_peak(device, settings.peak_size, settings.peak_repeats)
    done(f"fp32 matmul peak ({peak.size}²): {peak.gflops_per_s:.0f} GFLOP/s")
    report = BenchReport(
        machine=machine_info(device),
        settings=asdict(settings),
        models=models.describe(),
        random_weights=models.random,
        peak=peak,
        clip=dict(clip or {}),
    )

    def staged(result: StageResult) -> None:
        report.stages.append(result)
        done(
            f"{result.label}: {result.median_ms:.0f} ms "
            f"({result.flops / 1e9:.2f} GFLOP, {100 * result.peak_fraction:.0f}% of peak)"
        )

    staged(bench_encoder(models.segmenter, settings.repeats, peak))
    (embedding,) = models.segmenter.embed([frame])
    for count in settings.boxes:
        staged(bench_decoder(models.segmenter, embedding, count, settings.repeats, peak))
    for size in settings.detector_sizes:
        staged(
            bench_detector(
                models.detector, frame, size, settings.vocabulary, settings.repeats, peak
            )
        )
    if settings.encoder_runtimes:
        report.encoder_runtimes = compare_encoder_runtimes(
            models.segmenter, settings.encoder_runtimes, settings.repeats, progress, frame=frame
        )
        done("encoder runtimes compared")
    if settings.detector_runtimes:
        report.detector_paths = compare_detector_paths(
            models.detector,
            settings.detector_sizes,
            settings.repeats,
            progress,
            runtimes=settings.detector_runtimes,
            frame=frame,
        )
        done("detector before/after compared")
    if detector_choices:
        report.detectors = compare_detectors(
            detector_choices,
            frame,
            settings.detector_sizes,
            settings.vocabulary,
            settings.repeats,
            progress,
        )
        done(f"detectors compared: {', '.join(detector_choices)}")
    if shot is not None:
        report.mask_following = bench_mask_following(
            models.segmenter, shot[0], shot[1], settings.following_lags, progress
        )
        done("mask following measured")
    if frames:
        report.pipeline = compare_pipelines(models, frames, fps, settings, done)
    report.total_s = round(time.perf_counter() - started, 1)
    return report


# -- output ----------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def to_markdown(report: BenchReport) -> str:
    """The report as Markdown tables (what the command prints)."""
    machine = report.machine
    where = machine.get("gpu") or machine["cpu"]
    weights = "random weights" if report.random_weights else "checkpoints"
    lines = [
        f"## visionanything bench: {machine['device']} ({where}), "
        f"{machine['torch_threads']} torch threads, torch {machine['torch']}, {weights}",
        "",
        f"fp32 matmul peak ({report.peak.size}² × {report.peak.size}², best of "
        f"{report.peak.repeats}): **{report.peak.gflops_per_s:.0f} GFLOP/s**",
        "",
        "| stage | input | median ms | min ms | GFLOP | GFLOP/s | % of peak |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for s in report.stages:
        lines.append(
            f"| {s.label} | {'×'.join(str(v) for v in s.input_shape)} | {s.median_ms:.1f} "
            f"| {s.min_ms:.1f} | {s.flops / 1e9:.2f} | {s.gflops_per_s:.1f} "
            f"| {100 * s.peak_fraction:.1f}% |"
        )
    lines += [
        "",
        "FLOPs are counted by torch's FlopCounterMode (matmul, convolution, attention); decoder "
        "times include upsampling the masks to the frame; detector times include pre- and "
        "post-processing.",
    ]
    p = report.pipeline
    if p is not None:
        height, width = p.frame_size
        lines += [
            "",
            f"### Pipeline: {p.frames} frames ({p.frames / p.fps:.1f} s at {p.fps:g} fps, "
            f"{width}×{height}) played in real time",
            "",
            f"Detector {p.detector_size}, at most {p.max_objects} objects, thresholds box "
            f"{p.box_threshold:g} / text {p.text_threshold:g} in both.",
            "",
            "| pipeline | results | results/s | with masks/s | skipped | detector runs "
            "| detect ms | encode ms | decode ms | latency ms | objects | first masks s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        rows = [("scheduled (Engine)", p.scheduled), ("naive Grounded-SAM", p.naive)]
        if p.scheduled_before is not None:
            rows.insert(1, ("scheduled, torch runtimes (before)", p.scheduled_before))
        for name, r in rows:
            first = "–" if r.first_masks_s is None else f"{r.first_masks_s:.1f}"
            lines.append(
                f"| {name} | {r.results} | {r.results_per_s:.2f} | {r.segmented_per_s:.2f} "
                f"| {r.frames_skipped} | {r.keyframes} | {_ms(r.detect_ms_mean)} "
                f"| {_ms(r.encode_ms_mean)} | {_ms(r.decode_ms_mean)} "
                f"| {_ms(r.latency_ms_mean)} | {r.objects_mean:.1f} | {first} |"
            )
        ratio = "–" if p.ratio is None else f"{p.ratio:.2f}×"
        overlay = "–" if p.overlay_ratio is None else f"{p.overlay_ratio:.2f}×"
        lines += [
            "",
            f"Scheduled / naive: **{ratio}** frames with masks per second ({overlay} overlay "
            "updates, which also count the engine's empty updates before its first detection).",
        ]
    lines += _runtime_lines(report) + _detector_choice_lines(report) + _following_lines(report)
    lines += ["", f"Total {report.total_s:.0f} s."]
    return "\n".join(lines) + "\n"


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _size(size: tuple[int, int] | None) -> str:
    """A detector input size (H, W) for a table cell."""
    return "–" if size is None else f"{size[0]}×{size[1]}"


def _error(value: float | None) -> str:
    return "–" if value is None else f"{value:.1e}"


def _runtime_lines(report: BenchReport) -> list[str]:
    lines: list[str] = []
    if report.encoder_runtimes:
        lines += [
            "",
            "### Segmenter encoder by runtime (same photo, interleaved repeats)",
            "",
            "| runtime | ran as | median ms | min ms | max abs error vs eager | build s | note |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for r in report.encoder_runtimes:
            note = r.error or r.note or ""
            lines.append(
                f"| {r.runtime} | {r.resolved or 'failed'} | {_num(r.median_ms, 1)} "
                f"| {_num(r.min_ms, 1)} | {_error(r.max_abs_error_vs_eager)} "
                f"| {_num(r.build_s, 1)} | {note.replace('|', '/')[:120]} |"
            )
    if report.detector_paths:
        lines += [
            "",
            "### Detector before (transformers' forward) and after (text cached, own image side)",
            "",
            "| shortest edge | path | input | median ms | logits max diff | boxes max diff "
            "| queries matched | same labels |",
            "|---:|---|---|---:|---:|---:|---:|---|",
        ]
        for d in report.detector_paths:
            size = _size(d.input_size)
            matched = "–" if d.queries_matched is None else f"{100 * d.queries_matched:.0f}%"
            labels = "–" if d.same_labels is None else ("yes" if d.same_labels else "no")
            median = d.error[:60] if d.error else _num(d.median_ms)
            lines.append(
                f"| {d.shortest_edge} | {d.path} | {size} | {median} "
                f"| {_error(d.logits_max_abs_diff)} | {_error(d.boxes_max_abs_diff)} "
                f"| {matched} | {labels} |"
            )
        lines += [
            "",
            '"noise floor": the reference path on pixels with 1e-5 noise (untimed): how much a '
            "random-weight model moves on its own; runtime differences at that level are noise.",
        ]
    return lines


def _detector_choice_lines(report: BenchReport) -> list[str]:
    if not report.detectors:
        return []
    lines = [
        "",
        "### Detectors side by side (`--detector`; same frame, vocabulary and runtime, "
        "interleaved repeats)",
        "",
        "| detector | shortest edge | input | runtime | median ms | min ms | first call ms "
        "| parameters | note |",
        "|---|---:|---|---|---:|---:|---:|---:|---|",
    ]
    for d in report.detectors:
        size = _size(d.input_size)
        params = "–" if d.parameters is None else f"{d.parameters / 1e6:.1f} M"
        note = (d.error or d.note or "").replace("|", "/")[:120]
        lines.append(
            f"| {d.detector} | {d.shortest_edge} | {size} | {d.runtime or '–'} "
            f"| {_num(d.median_ms)} | {_num(d.min_ms)} | {_num(d.warmup_ms)} | {params} "
            f"| {note} |"
        )
    lines += [
        "",
        "The first call converts (OpenVINO) or loads the image side for that input size. Both "
        "tiny detectors are Swin-T + BERT-base with the same encoder and decoder; "
        "MM-Grounding-DINO's class head adds a scale and a bias. What they find differs only "
        "with checkpoints.",
    ]
    return lines


def _following_lines(report: BenchReport) -> list[str]:
    if not report.mask_following:
        return []
    lines = [
        "",
        "### Masks that follow the picture (one continuous shot of the clip)",
        "",
        "Mean IoU of the mask drawn on frame t (made on an older frame) against the mask for "
        "frame t itself, without and with following.",
        "",
        "| masks | lag frames | IoU without | IoU with | follow ms/frame | mean alpha | scored |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report.mask_following:
        lines.append(
            f"| {row['masks']} | {row['lag_frames']} | {row['iou_without']:.3f} "
            f"| {row['iou_with']:.3f} | {row['follow_ms_per_frame']:.1f} "
            f"| {row['mean_alpha']:.2f} | {row['objects']} |"
        )
    lines += [
        "",
        "picture-anchored: an ellipse fixed in the photo, carried by the clip's true camera "
        "(geometry). segmenter: MobileSAM itself; with random weights its masks are speckle "
        "tied to the frame, not the picture, so following cannot help there.",
    ]
    return lines


def print_progress(line: str) -> None:
    """The default progress sink: one flushed line on stderr."""
    print(line, file=sys.stderr, flush=True)


__all__ = [
    "WALL_CLOCK",
    "BenchReport",
    "BenchSettings",
    "DetectorChoiceTiming",
    "PeakResult",
    "PipelineClock",
    "PipelineComparison",
    "PipelineResult",
    "StageResult",
    "bench_boxes",
    "bench_decoder",
    "bench_detector",
    "bench_encoder",
    "compare_detectors",
    "compare_pipelines",
    "count_flops",
    "machine_info",
    "measure_peak",
    "print_progress",
    "run_benchmark",
    "run_naive",
    "run_scheduled",
    "sized_detector",
    "time_calls",
    "to_markdown",
]
