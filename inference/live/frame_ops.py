"""Small operations on frames the engine needs: thumbnails to notice a cut, rescaled boxes,
letterboxed tap crops, the quick first-look detector."""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections

if TYPE_CHECKING:  # the segmenter and the detector import torch: only for the types
    from inference.detection.detector import Detector
from inference.live.engine_settings import EngineSettings


def thumbnail(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """64×48 luma in 0..1: enough to notice a cut or a big pan, cheap to compare."""
    gray = cv2.cvtColor(
        cv2.resize(frame, (64, 48), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY
    )
    return np.asarray(gray, dtype=np.float32) / 255.0


def rescale_boxes(
    detections: Detections, job_frame: npt.NDArray[np.uint8], frame_size: tuple[int, int] | None
) -> Detections:
    """Boxes from the detector's (possibly smaller) frame to the processing frame."""
    if frame_size is None or job_frame.shape[:2] == frame_size:
        return detections
    sy, sx = frame_size[0] / job_frame.shape[0], frame_size[1] / job_frame.shape[1]
    boxes = detections.boxes * np.array([sx, sy, sx, sy], dtype=np.float32)
    return Detections(boxes, detections.scores, detections.labels)


def first_look_detector(detector: Detector, settings: EngineSettings) -> Detector | None:
    """The quick detector first looks run on (the same model and runtime state at
    `settings.first_look_side`), or None when that is not smaller than `detector`'s size."""
    side = settings.first_look_side
    if side is None or side >= detector.settings.shortest_edge:
        return None
    return detector.with_settings(shortest_edge=side, longest_edge=side * 5 // 3)


def letterbox(image: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """`image` (h, w, 3) scaled (aspect kept) to fit a black (H, W, 3) canvas, at its top left.
    Only for tap jobs, whose boxes are not used (only the name is)."""
    height, width = size
    scale = min(height / image.shape[0], width / image.shape[1])
    fitted = (
        min(width, max(1, round(image.shape[1] * scale))),
        min(height, max(1, round(image.shape[0] * scale))),
    )
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[: fitted[1], : fitted[0]] = cv2.resize(image, fitted, interpolation=cv2.INTER_LINEAR)
    return canvas


def grow_box(box: npt.NDArray[np.float32], margin: float, width: int, height: int) -> list[int]:
    dx, dy = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
    return [
        int(max(0, box[0] - dx)),
        int(max(0, box[1] - dy)),
        int(min(width, box[2] + dx)),
        int(min(height, box[3] + dy)),
    ]


def gray(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
