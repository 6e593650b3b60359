"""Segment-everything: grid, stability, NMS, exclusivity, naming, and a real photo end to end
with random-weight models (thresholds opened so random masks pass; coverage is measured)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from inference.core.detections import Detections
from inference.lighting.thresholds import LightingSettings
from inference.models import Models
from inference.segmentation.everything import (
    EverythingSettings,
    boxes_of,
    make_exclusive,
    mask_nms,
    name_masks,
    point_grid,
    segment_everything,
    stability_scores,
)
from inference.still.grounded_segmentation import segment_image

CPU = torch.device("cpu")
OPEN = EverythingSettings(points_per_side=6, iou_threshold=0.0, stability_threshold=0.0)


def _photo(name: str) -> np.ndarray:
    image = getattr(data, name)()
    height = round(image.shape[0] * 320 / image.shape[1])
    return np.ascontiguousarray(cv2.resize(image, (320, height), interpolation=cv2.INTER_AREA))


def test_point_grid_covers_the_frame_evenly() -> None:
    grid = point_grid(4, (100, 200))
    assert grid.shape == (16, 2)
    assert sorted(set(grid[:, 0].tolist())) == [25.0, 75.0, 125.0, 175.0]
    assert sorted(set(grid[:, 1].tolist())) == [12.5, 37.5, 62.5, 87.5]


def test_stability_is_iou_of_the_two_thresholded_masks() -> None:
    logits = torch.tensor([[[-2.0, -0.5, 0.5, 2.0]], [[5.0, 5.0, 5.0, 5.0]]])
    scores = stability_scores(logits, 0.0, 1.0)
    assert scores[0].item() == pytest.approx(1 / 3)  # > 1: one pixel; > -1: three
    assert scores[1].item() == 1.0


def test_mask_nms_removes_duplicates_and_keeps_the_best() -> None:
    masks = torch.zeros(3, 10, 10, dtype=torch.bool)
    masks[0, :5] = True
    masks[1, :5, :9] = True  # IoU 0.9 with mask 0
    masks[2, 6:] = True
    keep = mask_nms(masks, torch.tensor([0.5, 0.9, 0.7]), 0.7)
    assert keep.tolist() == [1, 2]


def test_make_exclusive_gives_each_pixel_to_the_best_mask() -> None:
    masks = np.zeros((2, 4, 4), dtype=bool)
    masks[0, :3] = True
    masks[1, 1:] = True
    out = make_exclusive(masks, np.array([0.2, 0.8], dtype=np.float32))
    assert not (out[0] & out[1]).any()
    assert out[1].sum() == 12 and out[0].sum() == 4
    assert (out.any(axis=0) == masks.any(axis=0)).all()


def test_masks_are_named_by_the_box_holding_most_of_them() -> None:
    masks = np.zeros((2, 20, 20), dtype=bool)
    masks[0, 2:8, 2:8] = True
    masks[1, 12:18, 12:18] = True
    found = Detections(
        np.array([[0, 0, 10, 10], [0, 0, 20, 14]], np.float32),
        np.array([0.6, 0.9], np.float32),
        ("cup", "table"),
    )
    labels, sources = name_masks(masks, found, overlap=0.5)
    assert labels == ("table", "something")  # both boxes hold all of mask 0: the better wins
    assert sources.tolist() == [1, -1]
    assert boxes_of(masks).tolist() == [[2, 2, 8, 8], [12, 12, 18, 18]]


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_everything_on_a_photo_gives_disjoint_masks_covering_most_of_it(
    models: Models, name: str
) -> None:
    frame = _photo(name)
    found = segment_everything(
        models.segmenter, models.detector, frame, ("cup", "cat"), settings=OPEN
    )
    masks = found.masks
    assert masks is not None and len(found) >= 1
    assert masks.shape[1:] == frame.shape[:2]
    flat = masks.reshape(len(found), -1).astype(np.int64)
    overlaps = flat @ flat.T
    assert (overlaps[~np.eye(len(found), dtype=bool)] == 0).all()
    assert masks.any(axis=0).mean() >= 0.5
    assert set(found.labels) <= {"cup", "cat", "something"}
    assert ((found.scores >= 0) & (found.scores <= 1)).all()
    for box, mask in zip(found.boxes, masks, strict=True):
        ys, xs = np.nonzero(mask)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_default_thresholds_reject_what_random_weights_give(models: Models) -> None:
    """The real defaults (0.88 IoU, 0.95 stability) are strict: random masks do not pass,
    while the same grid with the filters opened does give masks."""
    frame = _photo("coffee")
    embedding = models.segmenter.embed([frame])[0]  # both runs decode the same image
    strict = segment_everything(
        models.segmenter,
        None,
        frame,
        settings=EverythingSettings(points_per_side=4),
        embedding=embedding,
    )
    assert len(strict) == 0, f"{len(strict)} random masks passed the default thresholds"
    assert strict.masks is not None and strict.masks.shape == (0, *frame.shape[:2])
    opened = segment_everything(
        models.segmenter,
        None,
        frame,
        settings=EverythingSettings(points_per_side=4, iou_threshold=0.0, stability_threshold=0.0),
        embedding=embedding,
    )
    assert len(opened) >= 1, "the grid gave no candidates at all: the test would prove nothing"
    assert set(opened.labels) == {"something"}


def test_segment_image_everything_mode(models: Models) -> None:
    frame = _photo("chelsea")
    result = segment_image(
        models, frame, ["cat"], LightingSettings(), mode="everything", everything=OPEN
    )
    assert result.detections.extra["mode"] == "everything"
    assert result.detections.masks is not None
    with pytest.raises(ValueError, match="mode"):
        segment_image(models, frame, ["cat"], mode="nothing")  # type: ignore[arg-type]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        EverythingSettings(points_per_side=0)
    with pytest.raises(ValueError):
        EverythingSettings(iou_threshold=1.5)
