"""What the engine hands back per processed frame (`FrameResult`) and the notices for the phone."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.labels import (
    SayEvent,
)

if TYPE_CHECKING:  # the segmenter and the detector import torch: only for the types
    pass


@dataclass(frozen=True)
class Notice:
    """A problem to tell the phone about, e.g. code "vocabulary_too_long" with a message."""

    code: str
    message: str


@dataclass(frozen=True)
class FrameResult:
    """What the stream needs for one processed frame.

    detections: masks (N, H, W) at frame_size (H, W), track_ids and labels
    texts:      badge/chip text per object
    luma:       (H, W) uint8 gray of the processed frame (before lighting preprocessing), so the
                stream can follow the masks to newer camera frames by optical flow
    objects:    ready for the `objects` data-channel message (boxes normalised to 0..1)
    """

    session_id: str
    frame_index: int
    frame_size: tuple[int, int]
    detections: Detections
    texts: tuple[str, ...]
    objects: list[dict[str, Any]]
    say: SayEvent | None
    lighting: dict[str, Any]
    timings_ms: dict[str, float]
    luma: npt.NDArray[np.uint8] | None = None  # (H, W) gray of the frame the masks were made on
    notices: tuple[Notice, ...] = ()  # problems the phone should hear about (sent as `error`)
