"""Tracker: ids stay stable across keyframes and follow masks between them."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.detections import Detections
from inference.live.tracker import BoxTracker, TrackerSettings, box_iou, mask_box


def _detections(boxes: list[list[float]], labels: list[str]) -> Detections:
    return Detections(np.array(boxes, np.float32), np.full(len(boxes), 0.8), tuple(labels))


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),
    ],
)
def test_box_iou(a: list[float], b: list[float], expected: float) -> None:
    iou = box_iou(np.array([a], np.float32), np.array([b], np.float32))
    assert iou.shape == (1, 1) and iou[0, 0] == pytest.approx(expected)


def test_ids_survive_small_moves_and_new_objects_get_new_ids() -> None:
    tracker = BoxTracker()
    first = tracker.update_detections(
        _detections([[10, 10, 50, 50], [100, 100, 150, 160]], ["cat", "cup"])
    )
    assert first.track_ids is not None
    cat_id, cup_id = first.track_ids.tolist()
    second = tracker.update_detections(
        _detections(
            [[104, 98, 152, 158], [12, 11, 53, 52], [300, 300, 340, 340]], ["cup", "cat", "dog"]
        )
    )
    assert second.track_ids is not None
    assert second.track_ids[0] == cup_id and second.track_ids[1] == cat_id
    assert second.track_ids[2] not in (cat_id, cup_id)


def test_lost_tracks_are_dropped_after_missed_keyframes() -> None:
    tracker = BoxTracker(TrackerSettings(max_missed_keyframes=1))
    tracker.update_detections(_detections([[10, 10, 50, 50]], ["cat"]))
    tracker.update_detections(Detections.empty())
    assert len(tracker.tracks) == 1  # one miss is tolerated
    tracker.update_detections(Detections.empty())
    assert tracker.tracks == []


def test_boxes_follow_masks_and_empty_masks_end_tracks() -> None:
    tracker = BoxTracker(TrackerSettings(max_empty_masks=1, mask_box_margin=0.0))
    tracker.update_detections(_detections([[10, 10, 50, 50]], ["cat"]))
    prompts = tracker.prompts()
    masks = np.zeros((1, 100, 100), bool)
    masks[0, 30:60, 40:70] = True  # the cat moved down and right
    visible = tracker.update_masks(prompts.with_masks(masks))
    assert len(visible) == 1
    np.testing.assert_allclose(tracker.tracks[0].box, [38, 28, 72, 62])  # mask box + 2 px
    empty = prompts.with_masks(np.zeros((1, 100, 100), bool))
    assert len(tracker.update_masks(empty)) == 0 and len(tracker.tracks) == 1
    tracker.update_masks(empty)
    assert tracker.tracks == []


def test_tap_tracks_can_be_named_later() -> None:
    tracker = BoxTracker()
    track_id = tracker.add("something", 0.0, np.array([1, 2, 30, 40], np.float32))
    assert tracker.prompts().labels == ("something",)
    assert tracker.relabel(track_id, "ball", 0.6)
    assert tracker.prompts().labels == ("ball",) and not tracker.relabel(999, "x", 0.1)


@pytest.mark.parametrize(
    ("pixels", "expected"),
    [(0, None), (4, None), (100, [5.0, 5.0, 15.0, 15.0])],
)
def test_mask_box(pixels: int, expected: list[float] | None) -> None:
    mask = np.zeros((20, 20), bool)
    if pixels:
        side = int(pixels**0.5)
        mask[5 : 5 + side, 5 : 5 + side] = True
    box = mask_box(mask)
    assert (box is None) if expected is None else box.tolist() == expected  # type: ignore[union-attr]


def test_prompts_keep_the_most_confident_tracks_when_limited() -> None:
    tracker = BoxTracker()
    boxes = [[i * 20, 0, i * 20 + 10, 10] for i in range(5)]
    scores = np.array([0.2, 0.9, 0.5, 0.7, 0.1], np.float32)
    tracker.update_detections(Detections(np.array(boxes, np.float32), scores, ("cat",) * 5))
    assert len(tracker.prompts()) == 5
    assert sorted(tracker.prompts(limit=2).scores.tolist()) == pytest.approx([0.7, 0.9])
