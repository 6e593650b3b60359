"""Stable object ids between keyframes, and box prompts for the segmenter on every frame.

Keyframe detections are matched to existing tracks by IoU (greedy, best pairs first, same label
preferred); between keyframes each track's box follows its own latest mask (the mask's bounding
box, widened a little so a moving object can grow back into it). Ids therefore survive until
the object is lost for `max_missed_keyframes` keyframes or its mask vanishes for
`max_empty_masks` frames in a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections


@dataclass(frozen=True)
class TrackerSettings:
    match_iou: float = 0.3
    max_missed_keyframes: int = 1
    max_empty_masks: int = 5
    mask_box_margin: float = 0.06  # fraction of the box size added on every side
    min_mask_pixels: int = 16


@dataclass
class Track:
    id: int
    label: str
    score: float
    box: npt.NDArray[np.float32]  # (4,) xyxy pixels
    missed_keyframes: int = 0
    empty_masks: int = 0
    frames_seen: int = 0


def box_iou(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """(N, 4) × (M, 4) xyxy boxes → (N, M) intersection over union."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


@dataclass
class BoxTracker:
    """One per session. Not thread-safe: the engine's worker owns it."""

    settings: TrackerSettings = field(default_factory=TrackerSettings)
    tracks: list[Track] = field(default_factory=list)
    _next_id: int = 1

    def reset(self) -> None:
        self.tracks.clear()

    def update_detections(self, detections: Detections) -> Detections:
        """Match a keyframe's detections to tracks; returns them with `track_ids` filled in."""
        boxes = detections.boxes
        previous = np.array([t.box for t in self.tracks], dtype=np.float32).reshape(-1, 4)
        iou = box_iou(previous, boxes)
        # same label counts for more than geometry alone: the detector may flip near-synonyms
        same_label = np.array(
            [[t.label == label for label in detections.labels] for t in self.tracks], dtype=bool
        ).reshape(iou.shape)
        ranking = iou + 0.5 * same_label * (iou >= self.settings.match_iou)
        ids = np.zeros(len(detections), dtype=np.int64)
        matched_tracks: set[int] = set()
        for flat in np.argsort(-ranking, axis=None):
            t, d = np.unravel_index(flat, ranking.shape)
            if iou[t, d] < self.settings.match_iou:
                break
            if t in matched_tracks or ids[d]:
                continue
            track = self.tracks[t]
            track.box, track.score = boxes[d].copy(), float(detections.scores[d])
            track.label, track.missed_keyframes = detections.labels[d], 0
            ids[d] = track.id
            matched_tracks.add(int(t))
        for t, track in enumerate(self.tracks):
            if t not in matched_tracks:
                track.missed_keyframes += 1
        for d in np.flatnonzero(ids == 0):
            track = Track(
                self._next_id, detections.labels[d], float(detections.scores[d]), boxes[d].copy()
            )
            self._next_id += 1
            self.tracks.append(track)
            ids[d] = track.id
        self.tracks = [
            t for t in self.tracks if t.missed_keyframes <= self.settings.max_missed_keyframes
        ]
        return detections.with_track_ids(ids)

    def add(self, label: str, score: float, box: npt.NDArray[np.float32]) -> int:
        """A track from outside the detector (a tap); returns its id."""
        track = Track(self._next_id, label, score, np.asarray(box, np.float32).copy())
        self._next_id += 1
        self.tracks.append(track)
        return track.id

    def relabel(self, track_id: int, label: str, score: float) -> bool:
        for track in self.tracks:
            if track.id == track_id:
                track.label, track.score = label, score
                return True
        return False

    def prompts(self, limit: int | None = None) -> Detections:
        """Current tracks as box prompts (with track ids) for the segmenter; with `limit`, only
        the most confident ones (the mask decoder's cost grows with every prompt)."""
        tracks = self.tracks
        if limit is not None and len(tracks) > limit:
            tracks = sorted(tracks, key=lambda t: -t.score)[:limit]
        if not tracks:
            return Detections.empty().with_track_ids(np.zeros(0, np.int64))
        return Detections(
            boxes=np.array([t.box for t in tracks], dtype=np.float32),
            scores=np.array([t.score for t in tracks], dtype=np.float32),
            labels=tuple(t.label for t in tracks),
            track_ids=np.array([t.id for t in tracks], dtype=np.int64),
        )

    def update_masks(self, segmented: Detections) -> Detections:
        """Move each track's box to its new mask; drop tracks whose masks stay empty.

        Returns the objects worth showing (non-empty masks) with their track ids.
        """
        if segmented.masks is None or segmented.track_ids is None:
            raise ValueError("update_masks needs segmented detections with track ids")
        by_id = {t.id: t for t in self.tracks}
        height, width = segmented.masks.shape[1:]
        keep = np.zeros(len(segmented), dtype=bool)
        for i, track_id in enumerate(segmented.track_ids):
            track = by_id.get(int(track_id))
            if track is None:
                continue
            box = mask_box(segmented.masks[i], self.settings.min_mask_pixels)
            if box is None:
                track.empty_masks += 1
                continue
            track.empty_masks, keep[i] = 0, True
            track.frames_seen += 1
            track.box = _widen(box, self.settings.mask_box_margin, width, height)
        self.tracks = [t for t in self.tracks if t.empty_masks <= self.settings.max_empty_masks]
        return segmented[keep]


def mask_box(mask: npt.NDArray[np.bool_], min_pixels: int = 16) -> npt.NDArray[np.float32] | None:
    """xyxy bounding box of a (H, W) mask, or None when it has fewer than `min_pixels`."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    if int(mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].sum()) < min_pixels:
        return None
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


def _widen(
    box: npt.NDArray[np.float32], margin: float, width: int, height: int
) -> npt.NDArray[np.float32]:
    dx = (box[2] - box[0]) * margin + 2
    dy = (box[3] - box[1]) * margin + 2
    widened = box + np.array([-dx, -dy, dx, dy], dtype=np.float32)
    return np.clip(widened, 0, [width, height, width, height]).astype(np.float32)
