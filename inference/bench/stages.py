"""Each model stage alone: timed calls, FLOPs against the machine's measured peak, the encoder,
the decoder, the detector at each size and the two detectors side by side."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.flop_counter import FlopCounterMode

# -- timing and counting ---------------------------------------------------------------------
from inference.bench.results import (
    DetectorChoiceTiming,
    Frame,
    PeakResult,
    Progress,
    StageResult,
    format_ms,
)
from inference.detection.detector import Detector
from inference.segmentation.segmenter import ImageEmbedding, Segmenter


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
        f"{where} -> {row.input_size} on {row.runtime}: median {format_ms(row.median_ms)} ms "
        f"(first call {format_ms(row.warmup_ms)} ms)"
    )
