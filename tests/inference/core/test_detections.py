"""`Detections.mask_areas`, including the empty case (no objects, masks of shape (0, H, W)),
which segment-everything produces on a picture where no mask survives its filters."""

from __future__ import annotations

import numpy as np
import pytest

from inference.core.detections import Detections


@pytest.mark.parametrize(
    ("count", "with_masks", "expected"),
    [(0, True, []), (0, False, []), (2, False, [0, 0]), (2, True, [12, 30])],
)
def test_mask_areas(count: int, with_masks: bool, expected: list[int]) -> None:
    masks = None
    if with_masks:
        masks = np.zeros((count, 8, 10), bool)
        if count:
            masks[0, :3, :4] = True  # 12 pixels
            masks[1, 2:7, 4:10] = True  # 30 pixels
    boxes = np.tile(np.array([[0, 0, 9, 7]], np.float32), (count, 1))
    found = Detections(boxes, np.full(count, 0.5, np.float32), ("x",) * count, masks)
    areas = found.mask_areas
    assert areas.dtype == np.int64 and areas.tolist() == expected
