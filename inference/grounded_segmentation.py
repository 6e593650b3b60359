"""Still-image Grounded-MobileSAM: detect the vocabulary's objects, then segment each one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.detections import Detections
from inference.lighting import LightingReport, LightingSettings, assess, preprocess
from inference.models import Models
from inference.timing import StageTimer


@dataclass(frozen=True)
class StillResult:
    """detections with masks (N, H, W) at frame size, and the lighting they were found in."""

    detections: Detections
    lighting: LightingReport


def segment_image(
    models: Models,
    frame: npt.NDArray[np.uint8],
    vocabulary: Sequence[str],
    lighting: LightingSettings | None = None,
    timer: StageTimer | None = None,
) -> StillResult:
    """One RGB frame (H, W, 3) → labelled boxes with masks, in frame pixels.

    The lighting decides the preprocessing the models see and the thresholds (unless pinned in
    `lighting`). The encoder runs only when something was found: an empty scene costs one
    detector pass.
    """
    timer = timer or StageTimer()
    with timer.stage("lighting"):
        report = assess(frame, lighting)
        model_frame = preprocess(frame, report)
    thresholds = report.thresholds
    with timer.stage("detect"):
        (found,) = models.detector.detect(
            [model_frame], vocabulary, box_threshold=thresholds.box, text_threshold=thresholds.text
        )
    if not len(found):
        empty = found.with_masks(np.zeros((0, *frame.shape[:2]), dtype=bool))
        return StillResult(empty, report)
    with timer.stage("segment_encode"):
        embedding = models.segmenter.embed([model_frame])[0]
    with timer.stage("segment_decode"):
        segmented = models.segmenter.segment(
            found, embedding=embedding, mask_threshold=thresholds.mask
        )
    return StillResult(segmented, report)
