"""How well drawn masks sit on the picture, with and without `MaskFollower`: a geometry check.

Live, a result is made on frame t − lag and drawn on frames t, t + 1, ...: without following the
mask stays where the object was; with following it is moved by optical flow. This measures both
against what the segmenter gives for frame t itself, prompted by the object's box at frame t:

    for each frame t >= lag:   drawn_t  = the mask made on frame r = lag·(⌊t/lag⌋ − 1)
                               followed = drawn_t moved by the follower, reset on frame r and
                                          chained r → t−k → ... → t exactly as the painter does
                               truth_t  = segmenter(frame t, boxes[t])
    iou_without = mean IoU(drawn_t, truth_t),   iou_with = mean IoU(followed, truth_t)

Results arrive every `lag_frames` frames (the model's period equals its latency, as with one
session on a CPU). The IoU is taken over every object and scored frame whose mask or truth is
not empty; a faded object (alpha 0) is still scored where the follower left it, so the number is
pure geometry. Random segmenter weights are fine: the truth and the drawn masks come from the
same segmenter, so only where the masks are matters, not whether they are good.

Boxes at frame t: the caller gives them (T, N, 4). For the built-in clip they are exact:
`stream.loadtest.clip.ClipFrame.view` is the camera's frame → photo transform, and
`boxes_from_views` carries a box drawn on the first frame through those transforms (the photo
does not move, only the camera). `inference` never imports `stream`: the caller passes arrays.
Frames should be one continuous shot (a cut makes the follower fade, which is right live but is
not what this measures).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.live.follow_settings import FollowSettings
from inference.live.mask_motion import MaskFollower

Frame = npt.NDArray[np.uint8]
Progress = Callable[[str], None]


class _Prediction(Protocol):
    @property
    def masks(self) -> npt.NDArray[np.bool_]: ...


class SegmenterLike(Protocol):
    """The part of `inference.segmentation.segmenter.Segmenter` used here (a stand-in may fake
    it)."""

    def embed(self, frames: Sequence[Frame]) -> Sequence[Any]: ...

    def predict(self, boxes: Any = None, *, embedding: Any = None) -> _Prediction: ...


@dataclass(frozen=True)
class FollowingResult:
    """Mean IoU of the drawn masks against the segmenter's own masks for each frame.

    iou_without / iou_with   masks drawn as made / moved by the follower
    follow_ms_per_frame      the follower's mean cost per drawn frame (all objects)
    frames                   frames scored (those at least `lag_frames` in)
    lag_frames               frames between the frame a result was made on and its first use
    objects                  object-frames scored
    mean_alpha               the followed masks' mean opacity (1: never lost)
    """

    iou_without: float
    iou_with: float
    follow_ms_per_frame: float
    frames: int
    lag_frames: int = 0
    objects: int = 0
    mean_alpha: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class _EllipseEmbedding:
    frame_size: tuple[int, int]


@dataclass(frozen=True)
class _EllipseMasks:
    masks: npt.NDArray[np.bool_]


class InscribedEllipses:
    """A stand-in segmenter whose masks are fixed to the picture: the ellipse inscribed in each
    box prompt. Given the objects' true boxes (`boxes_from_views`), its mask on every frame is
    where the object really is, so following can be scored on geometry alone (random-weight
    MobileSAM masks are speckle tied to the frame, not the picture)."""

    def embed(self, frames: Sequence[Frame]) -> list[_EllipseEmbedding]:
        return [_EllipseEmbedding((int(f.shape[0]), int(f.shape[1]))) for f in frames]

    def predict(self, boxes: Any = None, *, embedding: Any = None) -> _EllipseMasks:
        """boxes (N, 4) xyxy → masks (N, H, W) bool at the embedded frame's size."""
        height, width = embedding.frame_size
        box_array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        ys, xs = np.mgrid[0:height, 0:width]
        masks = np.zeros((len(box_array), height, width), bool)
        for i, (x1, y1, x2, y2) in enumerate(box_array):
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            rx, ry = max((x2 - x1) / 2, 1.0), max((y2 - y1) / 2, 1.0)
            masks[i] = ((xs + 0.5 - cx) / rx) ** 2 + ((ys + 0.5 - cy) / ry) ** 2 <= 1.0
        return _EllipseMasks(masks)


def boxes_from_views(
    first_boxes: npt.ArrayLike, views: Sequence[npt.ArrayLike]
) -> npt.NDArray[np.float32]:
    """Boxes (N, 4) xyxy on the first frame carried through a static scene filmed by a moving
    camera: views[t] (2, 3) maps frame t pixels to scene (photo) pixels. Returns (T, N, 4): the
    bounding box of each box's corners mapped scene-ward by views[0] and back by views[t]⁻¹."""
    boxes = np.asarray(first_boxes, dtype=np.float64).reshape(-1, 4)
    corners = boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 4, 2)
    first = np.asarray(views[0], dtype=np.float64)
    scene = corners @ first[:, :2].T + first[:, 2]
    out = np.zeros((len(views), len(boxes), 4), np.float32)
    for t, view in enumerate(views):
        inverse = cv2.invertAffineTransform(np.asarray(view, dtype=np.float64))
        moved = scene @ inverse[:, :2].T + inverse[:, 2]
        out[t, :, :2] = moved.min(axis=1)
        out[t, :, 2:] = moved.max(axis=1)
    return out


def _iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float | None:
    union = int(np.count_nonzero(a | b))
    return None if union == 0 else int(np.count_nonzero(a & b)) / union


def _gray(frame: Frame) -> npt.NDArray[np.uint8]:
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def measure_mask_following(
    segmenter: SegmenterLike,
    frames: Sequence[Frame],
    boxes: npt.ArrayLike,
    lag_frames: int,
    progress: Progress | None = None,
    settings: FollowSettings | None = None,
) -> FollowingResult:
    """Score drawn masks with and without following (see the module docstring).

    frames: T RGB frames (H, W, 3) uint8 of one shot; boxes: (T, N, 4) xyxy per frame (the
    objects' true boxes); lag_frames >= 1: the model's latency in frames (e.g. round(model
    seconds × camera fps)). `progress` gets a line after segmenting and at the end.
    """
    box_array = np.asarray(boxes, dtype=np.float32)
    if box_array.ndim != 3 or box_array.shape[2] != 4 or len(box_array) != len(frames):
        raise ValueError(f"boxes must be (T={len(frames)}, N, 4), got {box_array.shape}")
    if lag_frames < 1:
        raise ValueError(f"lag_frames must be at least 1, got {lag_frames}")
    if len(frames) <= lag_frames:
        raise ValueError(f"need more than lag_frames={lag_frames} frames, got {len(frames)}")
    count = box_array.shape[1]
    truth: list[npt.NDArray[np.bool_]] = []
    for frame, frame_boxes in zip(frames, box_array, strict=True):
        (embedding,) = segmenter.embed([frame])
        truth.append(np.asarray(segmenter.predict(boxes=frame_boxes, embedding=embedding).masks))
    if progress is not None:
        progress(f"mask following: segmented {len(frames)} frames ({count} object(s) each)")
    follower = MaskFollower(settings if settings is not None else FollowSettings())
    without: list[float] = []
    with_following: list[float] = []
    alphas: list[float] = []
    follow_s = 0.0
    scored = 0
    for t in range(lag_frames):  # shown before the first result: remembered, as live
        follower.observe(_gray(frames[t]))
    for t in range(lag_frames, len(frames)):
        made = lag_frames * (t // lag_frames - 1)
        drawn = truth[made]
        started = time.perf_counter()
        if t % lag_frames == 0:  # a new result arrives: made on frame `made`
            detections = Detections(
                box_array[made], np.ones(count, np.float32), ("object",) * count, drawn
            )
            follower.reset(_gray(frames[made]), detections)
        followed, alpha = follower.follow(_gray(frames[t]))
        follow_s += time.perf_counter() - started
        scored += 1
        assert followed.masks is not None
        for i in range(count):
            before = _iou(drawn[i], truth[t][i])
            after = _iou(followed.masks[i], truth[t][i])
            if before is None or after is None:
                continue
            without.append(before)
            with_following.append(after)
            alphas.append(float(alpha[i]))
    result = FollowingResult(
        iou_without=float(np.mean(without)) if without else float("nan"),
        iou_with=float(np.mean(with_following)) if with_following else float("nan"),
        follow_ms_per_frame=1000.0 * follow_s / max(1, scored),
        frames=scored,
        lag_frames=lag_frames,
        objects=len(without),
        mean_alpha=float(np.mean(alphas)) if alphas else float("nan"),
    )
    if progress is not None:
        progress(
            f"mask following (lag {lag_frames} frames): IoU {result.iou_without:.3f} without, "
            f"{result.iou_with:.3f} with following, {result.follow_ms_per_frame:.1f} ms/frame"
        )
    return result
