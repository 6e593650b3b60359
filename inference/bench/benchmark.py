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

import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from inference.bench.compare_detector import compare_detector_paths
from inference.bench.compare_encoder import compare_encoder_runtimes
from inference.bench.mask_following import (
    InscribedEllipses,
    boxes_from_views,
    measure_mask_following,
)
from inference.bench.pipelines import compare_pipelines, runtimes_of
from inference.bench.results import BenchReport, BenchSettings, Frame, Progress, StageResult
from inference.bench.stages import (
    bench_decoder,
    bench_detector,
    bench_encoder,
    compare_detectors,
    measure_peak,
)
from inference.detection.detector import Detector
from inference.models import Models
from inference.segmentation.segmenter import Segmenter

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
    before = settings.before_pipeline and runtimes_of(models) != ("torch", "torch")
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
