"""Exports: COCO RLE round trip, trimap band width on a disk, file names."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils  # type: ignore[import-untyped]

from inference.core.detections import Detections
from inference.still.exports import encode_rle, parse_exports, to_coco, trimap, write_exports


def _disk(radius: int = 40, size: int = 120) -> np.ndarray:
    mask = np.zeros((size, size), dtype=np.uint8)
    cv2.circle(mask, (size // 2, size // 2), radius, 1, thickness=-1)
    return mask.astype(bool)


def _detections() -> Detections:
    masks = np.zeros((2, 60, 80), dtype=bool)
    masks[0] = _disk(20, 80)[10:70, :]
    masks[1, 5:15, 60:75] = True
    return Detections(
        np.array([[20, 10, 61, 51], [60, 5, 75, 15]], np.float32),
        np.array([0.9, 0.4], np.float32),
        ("cup", "something"),
        masks,
    )


def test_rle_decodes_back_to_the_same_mask() -> None:
    for mask in _detections().masks:  # type: ignore[union-attr]
        rle = encode_rle(mask)
        assert isinstance(rle["counts"], str)
        json.dumps(rle)
        assert (mask_utils.decode(rle).astype(bool) == mask).all()


def test_coco_document() -> None:
    document = to_coco(_detections(), file_name="x.png", vocabulary=("cat", "cup"))
    assert document["images"] == [{"id": 1, "file_name": "x.png", "width": 80, "height": 60}]
    assert {c["name"]: c["id"] for c in document["categories"]} == {
        "cat": 1,
        "cup": 2,
        "something": 3,
    }
    first, second = document["annotations"]
    assert first["category_id"] == 2 and second["category_id"] == 3
    assert first["bbox"] == [20.0, 10.0, 41.0, 41.0]
    assert second["area"] == 150


@pytest.mark.parametrize("band", [4, 10, 11])
def test_trimap_band_has_the_asked_width(band: int) -> None:
    radius = 40
    out = trimap(_disk(radius), band)
    assert set(np.unique(out).tolist()) == {0, 128, 255}
    row = out[60, 60:]  # from the centre outwards along a radius
    assert (row[: radius - band // 2 - 1] == 255).all()
    assert abs(int((row == 128).sum()) - band) <= 1
    unknown = out == 128
    area = np.pi * ((radius + band / 2) ** 2 - (radius - band / 2) ** 2)
    assert abs(unknown.sum() - area) / area < 0.1


def test_trimap_without_band_is_the_mask() -> None:
    disk = _disk()
    assert ((trimap(disk, 0) == 255) == disk).all()


def test_files_are_written_with_the_right_names(tmp_path: Path) -> None:
    written = write_exports(
        _detections(), tmp_path, "photo", parse_exports("coco, masks,trimap"), file_name="p.jpg"
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "photo.coco.json",
        "photo.mask0-cup.png",
        "photo.mask1-something.png",
        "photo.trimap0-cup.png",
        "photo.trimap1-something.png",
    ]
    assert set(written) == {"coco", "masks", "trimap"}
    mask = np.asarray(Image.open(tmp_path / "photo.mask0-cup.png"))
    assert set(np.unique(mask).tolist()) == {0, 255}
    assert ((mask == 255) == _detections().masks[0]).all()  # type: ignore[index]


def test_unknown_export_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown export"):
        parse_exports("coco,pdf")
    assert parse_exports("") == ()
