"""Still-image Grounded-MobileSAM: detect the vocabulary's objects, then segment each one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.core.timing import StageTimer
from inference.lighting.preprocessing import preprocess
from inference.lighting.thresholds import LightingSettings
from inference.lighting.tracker import LightingReport, assess
from inference.models import Models

if TYPE_CHECKING:
    from inference.segmentation.everything import EverythingSettings

SegmentMode = Literal["find", "everything"]
SEGMENT_MODES: tuple[SegmentMode, ...] = ("find", "everything")


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
    *,
    mode: SegmentMode = "find",
    everything: EverythingSettings | None = None,
) -> StillResult:
    """One RGB frame (H, W, 3) → labelled boxes with masks, in frame pixels.

    The lighting decides the preprocessing the models see and the thresholds (unless pinned in
    `lighting`). The encoder runs only when something was found: an empty scene costs one
    detector pass.

    mode "find" (default): only the vocabulary's objects. mode "everything": every object the
    segmenter finds from a point grid (`inference.segmentation.everything`, tuned by
    `everything`), masks
    pairwise disjoint, named from the vocabulary where the detector finds them, else
    "something".
    """
    if mode not in SEGMENT_MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {SEGMENT_MODES}")
    timer = timer or StageTimer()
    with timer.stage("lighting"):
        report = assess(frame, lighting)
        model_frame = preprocess(frame, report)
    thresholds = report.thresholds
    if mode == "everything":
        from inference.segmentation.everything import segment_everything

        detections = segment_everything(
            models.segmenter,
            models.detector,
            model_frame,
            vocabulary,
            settings=everything,
            box_threshold=thresholds.box,
            text_threshold=thresholds.text,
            mask_threshold=thresholds.mask,
            timer=timer,
        )
        return StillResult(detections, report)
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


SCHEMA_ID = "visionanything.segment/1"  # the JSON result of `segment` and POST /api/segment


def label_map_of(detections: Detections) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
    """(H, W) with object i painted as i + 1; where masks overlap, the smaller object wins."""
    if detections.masks is None:
        raise ValueError("detections have no masks")
    dtype = np.uint8 if len(detections) < 256 else np.uint16
    label_map = np.zeros(detections.masks.shape[1:], dtype=dtype)
    for i in np.argsort(-detections.mask_areas, kind="stable"):
        label_map[detections.masks[i]] = i + 1
    return label_map
