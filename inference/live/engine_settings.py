"""The engine's settings: frame sizes, keyframe and refine intervals, batching, the default
words, the lighting."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from inference.labels import (
    AnnouncerSettings,
)
from inference.lighting.thresholds import LightingSettings
from inference.live.tracker import TrackerSettings
from inference.segmentation.everything import EverythingSettings

if TYPE_CHECKING:  # the segmenter and the detector import torch: only for the types
    pass


FrameSource = npt.NDArray[np.uint8] | Callable[[], npt.NDArray[np.uint8]]
TAP_LABEL = "something"  # a tapped object before the detector has named it
DEFAULT_VOCABULARY = (
    "cat", "dog", "bird", "teddy bear", "ball", "cup", "bottle", "book", "apple", "banana",
    "chair", "toy car",
)  # fmt: skip


@dataclass(frozen=True)
class EngineSettings:
    max_side: int = 640  # frames are downscaled to this before the models
    max_batch: int = 1  # sessions per segmenter batch (a GPU gains from more; a CPU does not)
    max_objects: int = 6  # the decoder costs grow linearly with prompts
    refresh_s: float = 4.0  # re-detect at least this often
    scene_change: float = 0.12  # mean absolute luma change (0..1) that makes a keyframe
    detect_max_side: int = 640  # keyframes sent to the detector are at most this large
    # First looks (a phone showing nothing yet, or a new scene) run the in-process detector at
    # this shortest edge (None: the detector's own size), ahead of other phones' refreshes; a
    # look at full size follows `refine_s` later. On a CPU a keyframe costs about the square
    # of the size: the first label comes seconds sooner.
    first_look_side: int | None = 320
    refine_s: float = 1.5
    language: str = "en"
    lighting: LightingSettings = field(default_factory=LightingSettings)
    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    announcer: AnnouncerSettings = field(default_factory=AnnouncerSettings)
    default_vocabulary: tuple[str, ...] = DEFAULT_VOCABULARY
    # "everything" keyframes: a small grid, so a CPU answers in seconds (16×16 takes ~15 s)
    everything: EverythingSettings = field(
        default_factory=lambda: EverythingSettings(points_per_side=8)
    )

    @classmethod
    def for_device(cls, device_type: str, **changes: Any) -> EngineSettings:
        """Batch the segmenter's encoder across sessions on a GPU, where a batch of 4 costs
        little more than one image; on a CPU batching does not lower the per-image cost
        (STACK.md), so each session's frame goes alone and results come back sooner."""
        batch = 4 if device_type == "cuda" else 1
        return cls(**{"max_batch": batch, **changes})
