"""The one result type every stage passes along: labelled boxes, optional masks and track ids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt


class DetectionsError(ValueError):
    """A `Detections` was built from inconsistent arrays."""


@dataclass(frozen=True)
class Detections:
    """Objects found in one frame.

    Shapes (N objects, frame H×W):
      boxes      (N, 4) float32, xyxy in frame pixels, x1 <= x2 and y1 <= y2
      scores     (N,)   float32 in [0, 1]
      labels     N vocabulary words (tuple of str)
      masks      (N, H, W) bool, or None before segmentation
      track_ids  (N,) int64, or None before tracking
    Validated on construction, so a consumer can trust the shapes.
    """

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    labels: tuple[str, ...]
    masks: npt.NDArray[np.bool_] | None = None
    track_ids: npt.NDArray[np.int64] | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise DetectionsError(f"boxes must have shape (N, 4), got {boxes.shape}")
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        labels = tuple(str(label) for label in self.labels)
        n = len(boxes)
        if len(scores) != n or len(labels) != n:
            raise DetectionsError(
                f"boxes, scores and labels disagree in length: {n}, {len(scores)}, {len(labels)}"
            )
        if not np.all(np.isfinite(boxes)):
            raise DetectionsError("boxes contain NaN or infinity")
        if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
            raise DetectionsError("boxes must be xyxy with x1 <= x2 and y1 <= y2")
        if n and (np.any(~np.isfinite(scores)) or scores.min() < 0 or scores.max() > 1):
            raise DetectionsError("scores must lie in [0, 1]")
        masks = self.masks
        if masks is not None:
            masks = np.asarray(masks).astype(bool, copy=False)
            if masks.ndim != 3 or len(masks) != n:
                raise DetectionsError(f"masks must have shape (N={n}, H, W), got {masks.shape}")
        track_ids = self.track_ids
        if track_ids is not None:
            track_ids = np.asarray(track_ids, dtype=np.int64).reshape(-1)
            if len(track_ids) != n:
                raise DetectionsError(f"track_ids must have length {n}, got {len(track_ids)}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "masks", masks)
        object.__setattr__(self, "track_ids", track_ids)

    @classmethod
    def empty(cls, frame_size: tuple[int, int] | None = None) -> Detections:
        """No objects; with `frame_size` (H, W) the mask array is present but empty."""
        masks = None if frame_size is None else np.zeros((0, *frame_size), dtype=bool)
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), (), masks)

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: int | slice | Sequence[int] | npt.NDArray[Any]) -> Detections:
        """A subset, by integer, slice, index list or boolean mask (always a `Detections`)."""
        if isinstance(index, int):
            index = [index]
        picked = np.arange(len(self))[index]
        return Detections(
            boxes=self.boxes[picked],
            scores=self.scores[picked],
            labels=tuple(self.labels[i] for i in picked),
            masks=None if self.masks is None else self.masks[picked],
            track_ids=None if self.track_ids is None else self.track_ids[picked],
            extra=dict(self.extra),
        )

    def with_masks(self, masks: npt.NDArray[np.bool_]) -> Detections:
        return Detections(self.boxes, self.scores, self.labels, masks, self.track_ids, self.extra)

    def with_track_ids(self, track_ids: npt.NDArray[np.int64]) -> Detections:
        return Detections(self.boxes, self.scores, self.labels, self.masks, track_ids, self.extra)

    @property
    def mask_areas(self) -> npt.NDArray[np.int64]:
        """(N,) pixels per mask; zeros when there are no masks."""
        if self.masks is None or len(self) == 0:  # reshape(0, -1) cannot infer the -1
            return np.zeros(len(self), dtype=np.int64)
        return self.masks.reshape(len(self), -1).sum(axis=1).astype(np.int64)

    @classmethod
    def merge(cls, parts: Sequence[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        with_masks = all(p.masks is not None for p in parts)
        with_ids = all(p.track_ids is not None for p in parts)
        return cls(
            boxes=np.concatenate([p.boxes for p in parts]),
            scores=np.concatenate([p.scores for p in parts]),
            labels=tuple(label for p in parts for label in p.labels),
            masks=np.concatenate([p.masks for p in parts if p.masks is not None])
            if with_masks
            else None,
            track_ids=np.concatenate([p.track_ids for p in parts if p.track_ids is not None])
            if with_ids
            else None,
        )
