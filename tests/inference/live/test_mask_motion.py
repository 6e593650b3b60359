"""Masks that follow the picture: `MaskFollower` on a synthetic shot (a textured disk moving and
growing over a panning textured background), a cut that makes the masks fade, per-object
opacity in the renderer, and the geometry check of `mask_following_bench`."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from inference.bench.mask_following import (
    FollowingResult,
    boxes_from_views,
    measure_mask_following,
)
from inference.core.detections import Detections
from inference.live.follow_settings import FollowSettings
from inference.live.mask_motion import MaskFollower
from inference.live.motion_geometry import spread_corners, working_size
from inference.overlay.renderer import OverlayRenderer

H, W = 240, 320


def _texture(height: int, width: int, seed: int) -> npt.NDArray[np.uint8]:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 6 + 1, width // 6 + 1), dtype=np.uint8)
    smooth = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    grain = rng.integers(-25, 25, (height, width), dtype=np.int16)
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


BACKGROUND = _texture(2 * H, 2 * W, 1)
DISK = _texture(200, 200, 2)


@dataclass(frozen=True)
class Shot:
    rgb: npt.NDArray[np.uint8]
    luma: npt.NDArray[np.uint8]
    mask: npt.NDArray[np.bool_]
    box: npt.NDArray[np.float32]


def shot(t: int) -> Shot:
    """Frame t: the camera pans right/down (background moves 3, 1 px a frame the other way) while
    a textured disk crosses to the right and grows 1.5 % a frame."""
    ox, oy = 60 + 3 * t, 40 + t
    gray = BACKGROUND[oy : oy + H, ox : ox + W].copy()
    cx, cy, r = 100.0 + 5 * t, 110.0 + 2 * t, 45.0 * (1 + 0.015 * t)
    s = r / 100
    disk = cv2.warpAffine(DISK, np.array([[s, 0, cx - 100 * s], [0, s, cy - 100 * s]]), (W, H))
    mask = np.zeros((H, W), np.uint8)
    cv2.circle(mask, (round(cx), round(cy)), round(r), 1, -1)
    gray[mask > 0] = disk[mask > 0]
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    box = np.array([cx - r, cy - r, cx + r, cy + r], np.float32)
    return Shot(rgb, gray, mask.astype(bool), box)


def _detections(s: Shot) -> Detections:
    return Detections(
        s.box[None], np.array([0.9], np.float32), ("ball",), s.mask[None], np.array([7])
    )


def _iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_working_size_is_at_most_320_wide() -> None:
    assert working_size((480, 640), 320) == (240, 320)
    assert working_size((240, 320), 320) == (240, 320)
    h, w = working_size((1280, 720), 320)
    assert w <= 320 and h <= 427


def test_following_keeps_the_mask_on_a_moving_growing_disk() -> None:
    follower = MaskFollower()
    first = shot(0)
    follower.reset(first.luma, _detections(first))
    costs = []
    for t in range(1, 13):
        now = shot(t)
        started = time.perf_counter()
        moved, alphas = follower.follow(now.luma)
        costs.append(1000 * (time.perf_counter() - started))
        assert moved.masks is not None and moved.masks.shape == (1, H, W)
        assert follower.last_step is not None and follower.last_step.ok == (True,)
        assert alphas[0] == 1.0
        followed, stale = _iou(moved.masks[0], now.mask), _iou(first.mask, now.mask)
        assert followed > 0.85, f"frame {t}: IoU {followed:.3f}"
        if t >= 3:
            assert followed > stale + 0.2
        np.testing.assert_allclose(moved.boxes[0], now.box, atol=6)
    assert moved.track_ids is not None and moved.track_ids[0] == 7 and moved.labels == ("ball",)
    print(f"follow: {np.median(costs):.2f} ms per frame (median), first {costs[0]:.2f} ms")


def test_a_late_result_is_caught_up_through_the_frames_shown_since() -> None:
    """A result made on frame 0 arrives while frame 4 is shown: the follower replays frames 1-3
    from its history (one flow step each), then steps to 4; masks come out at the size asked
    for, from a camera luma of another size with the same aspect."""
    follower = MaskFollower()
    for t in range(4):
        follower.observe(np.asarray(cv2.resize(shot(t).luma, (2 * W, 2 * H)), np.uint8))
    first, now = shot(0), shot(4)
    follower.reset(first.luma, _detections(first))
    assert follower.behind == 3 and follower.caught_up == 0
    big = np.asarray(cv2.resize(now.luma, (2 * W, 2 * H)), np.uint8)
    moved, alphas = follower.follow(big, output_size=(2 * H, 2 * W))
    assert follower.caught_up == 3 and follower.behind == 0
    assert moved.masks is not None and moved.masks.shape == (1, 2 * H, 2 * W)
    truth = cv2.resize(now.mask.view(np.uint8), (2 * W, 2 * H), interpolation=cv2.INTER_NEAREST)
    assert _iou(moved.masks[0], truth.astype(bool)) > 0.85 and alphas[0] == 1.0


def test_a_long_backlog_is_caught_up_a_few_steps_per_frame() -> None:
    """A result 10 frames late: each outgoing frame makes at most catch_up_steps flow steps, the
    masks lag less with every frame (by catch_up_steps - 1) and end on the newest frame."""
    follower = MaskFollower(FollowSettings(catch_up_steps=4))
    for t in range(11):
        follower.observe(shot(t).luma)
    first = shot(0)
    follower.reset(first.luma, _detections(first))
    assert follower.behind == 10
    steps: list[int] = []
    original = follower._step

    def counted(frame: npt.NDArray[np.uint8]) -> None:
        steps[-1] += 1
        original(frame)

    follower._step = counted  # type: ignore[method-assign,assignment]
    lags = []
    t = 11
    while follower.behind or not steps:
        steps.append(0)
        moved, _ = follower.follow(shot(t).luma)
        lags.append(follower.behind)
        t += 1
    assert lags == [7, 4, 1, 0] and max(steps) == 4
    # every frame stepped through once: the 10 kept ones and the 4 shown meanwhile, of which
    # all but the last were stepped on while a newer one was already out
    assert sum(steps) == 14 and follower.caught_up == 13
    assert moved.masks is not None and _iou(moved.masks[0], shot(t - 1).mask) > 0.85
    with pytest.raises(ValueError, match="catch_up_steps"):
        FollowSettings(catch_up_steps=1)


@pytest.mark.parametrize("fade_frames", [3, 4, 5])
def test_a_cut_makes_the_mask_fade_instead_of_sticking(fade_frames: int) -> None:
    follower = MaskFollower(FollowSettings(fade_frames=fade_frames))
    first = shot(0)
    follower.reset(first.luma, _detections(first))
    follower.follow(shot(1).luma)
    elsewhere = _texture(H, W, 99)
    seen = [float(follower.follow(elsewhere)[1][0]) for _ in range(follower.settings.fade_frames)]
    assert seen == sorted(seen, reverse=True) and seen[0] < 1.0, seen
    assert seen[-1] == 0.0, "faded out completely after fade_frames failed steps"
    assert follower.follow(elsewhere)[1][0] == 0.0, "and stays out until the next result"
    follower.reset(elsewhere, _detections(first))
    assert follower.follow(elsewhere)[1][0] == 1.0


def test_a_mask_reaching_outside_its_box_is_moved_whole() -> None:
    """A segmenter's mask may stick out of its prompt box: all of it follows the picture."""
    follower = MaskFollower()
    first = shot(0)
    x1, y1, x2, y2 = first.box
    small_box = np.array([x1, y1, (x1 + x2) / 2, (y1 + y2) / 2], np.float32)
    detections = Detections(
        small_box[None], np.array([0.9], np.float32), ("ball",), first.mask[None]
    )
    follower.reset(first.luma, detections)
    for t in (1, 2, 3):
        now = shot(t)
        moved, _ = follower.follow(now.luma)
    assert moved.masks is not None
    assert moved.masks[0].sum() > 0.8 * now.mask.sum()
    assert _iou(moved.masks[0], now.mask) > 0.85


def test_tracked_points_are_spread_so_a_dense_patch_cannot_outvote_the_object() -> None:
    """A patch of strong corners that does not move with the object (the load-test frame-code
    strip, a screen) keeps only its share of the points; RANSAC can then outvote it."""
    rng = np.random.default_rng(0)
    patch = rng.uniform([0, 0], [20, 20], (60, 2))  # strongest, all in one corner cell
    elsewhere = rng.uniform([30, 30], [200, 200], (40, 2))
    corners = np.concatenate([patch, elsewhere]).astype(np.float32)
    picked = spread_corners(corners, (200, 200), 24)
    assert len(picked) == 24
    in_patch = int(((picked[:, 0] < 20) & (picked[:, 1] < 20)).sum())
    assert in_patch <= 3, in_patch  # a plain top-24 would take 24 from the patch
    assert len(spread_corners(corners[:10], (200, 200), 24)) == 10


def test_one_bad_frame_dims_the_mask_and_it_recovers() -> None:
    """A single unreadable frame (blur, a flash) costs one step of fade; the object is found
    again from the last good frame (its anchor) and comes back to full opacity."""
    follower = MaskFollower()
    first = shot(0)
    follower.reset(first.luma, _detections(first))
    follower.follow(shot(1).luma)
    flat = np.full((H, W), 128, np.uint8)
    assert follower.follow(flat)[1][0] < 1.0
    alphas = [float(follower.follow(shot(t).luma)[1][0]) for t in (2, 3, 4, 5)]
    assert alphas[-1] == 1.0
    moved, _ = follower.follow(shot(6).luma)
    assert moved.masks is not None and _iou(moved.masks[0], shot(6).mask) > 0.85


def test_a_turned_camera_fades_and_bad_input_is_refused() -> None:
    follower = MaskFollower()
    with pytest.raises(RuntimeError):
        follower.follow(shot(0).luma)
    first = shot(0)
    with pytest.raises(ValueError):
        follower.reset(first.luma[:100], _detections(first))
    follower.reset(first.luma, _detections(first))
    _, alphas = follower.follow(np.ascontiguousarray(first.luma.T))  # portrait now
    assert alphas[0] < 1.0


def test_boxes_without_masks_move_with_the_camera() -> None:
    follower = MaskFollower()
    before = np.ascontiguousarray(BACKGROUND[40 : 40 + H, 60 : 60 + W])
    after = np.ascontiguousarray(BACKGROUND[42 : 42 + H, 66 : 66 + W])  # the picture moves -6, -2
    box = np.array([[100, 100, 150, 150]], np.float32)
    follower.reset(before, Detections(box, np.array([0.5]), ("thing",)))
    moved, alphas = follower.follow(after)
    assert moved.masks is None and alphas[0] == 1.0
    np.testing.assert_allclose(moved.boxes[0], [94, 98, 144, 148], atol=1)


def test_opacity_fades_a_whole_object_in_the_renderer() -> None:
    scene = np.full((H, W, 3), 90, np.uint8)
    s = shot(0)
    detections = _detections(s)
    renderer = OverlayRenderer()
    full = renderer.annotate(scene, detections, ("ball",)).astype(int)
    half = renderer.annotate(scene, detections, ("ball",), opacities=[0.5]).astype(int)
    none = renderer.annotate(scene, detections, ("ball",), opacities=[0.0])
    np.testing.assert_array_equal(none, scene)
    inside = s.mask
    change_full = np.abs(full - 90).sum(axis=2)[inside].mean()
    change_half = np.abs(half - 90).sum(axis=2)[inside].mean()
    assert 0.3 * change_full < change_half < 0.7 * change_full
    with pytest.raises(ValueError):
        renderer.annotate(scene, detections, None, opacities=[1.0, 1.0])


class DiskSegmenter:
    """A stand-in segmenter: for frame t of `shot`, the true disk mask (the box is ignored,
    but it must be given, one per object)."""

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, frames: Sequence[npt.NDArray[np.uint8]]) -> list[Any]:
        return list(frames)

    def predict(self, boxes: Any = None, *, embedding: Any = None) -> Any:
        self.calls += 1
        frame = np.asarray(embedding)
        index = next(t for t in range(40) if np.array_equal(shot(t).rgb, frame))
        assert boxes is not None and len(boxes) == 1

        @dataclass
        class Prediction:
            masks: npt.NDArray[np.bool_]

        return Prediction(shot(index).mask[None])


def test_the_benchmark_sees_following_raise_the_iou() -> None:
    frames = [shot(t) for t in range(16)]
    lines: list[str] = []
    segmenter = DiskSegmenter()
    result = measure_mask_following(
        segmenter,
        [f.rgb for f in frames],
        np.stack([f.box[None] for f in frames]),
        lag_frames=4,
        progress=lines.append,
    )
    assert isinstance(result, FollowingResult)
    print(result.to_dict())
    assert segmenter.calls == 16 and result.frames == 12 and result.objects == 12
    assert result.iou_with > 0.85 and result.iou_with > result.iou_without + 0.15
    assert result.mean_alpha == 1.0 and len(lines) == 2
    with pytest.raises(ValueError):
        measure_mask_following(segmenter, [f.rgb for f in frames], np.zeros((3, 1, 4)), 4)


def test_boxes_from_views_carries_a_box_with_the_camera() -> None:
    # the camera moves right by 10 px and zooms in 2x about the origin between two frames
    first = np.array([[1.0, 0, 0], [0, 1.0, 0]])
    second = np.array([[0.5, 0, 10.0], [0, 0.5, 0]])
    boxes = boxes_from_views([[20, 20, 40, 30]], [first, second])
    np.testing.assert_allclose(boxes[0, 0], [20, 20, 40, 30])
    np.testing.assert_allclose(boxes[1, 0], [20, 40, 60, 60])
