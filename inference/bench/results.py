"""What `visionanything bench` measures: its settings and one result type per part."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.bench.compare_detector import PathTiming
from inference.bench.compare_encoder import EncoderRuntimeResult
from inference.live.engine_settings import DEFAULT_VOCABULARY

Progress = Callable[[str], None]
Frame = npt.NDArray[np.uint8]  # (H, W, 3) RGB


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


def format_ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"
