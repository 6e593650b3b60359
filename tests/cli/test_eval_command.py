"""`visionanything eval` on a tiny hand-annotated COCO set (random weights: the numbers are
checked for being computed, never for being good), and `segment --mode everything --export`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils  # type: ignore[import-untyped]
from skimage import data

import inference.detector
from inference.evaluation import darken, decode_segmentation, load_dataset, mask_iou
from visionanything.cli import main

FAST = ["--models", "random", "--device", "cpu", "--runtime", "torch"]
FAST += ["--detector-runtime", "torch", "--detector-size", "256"]

# Approximate outlines at 320 px wide: the cup and saucer in coffee, the cat's head in chelsea.
CUP = [40, 60, 120, 25, 230, 30, 280, 80, 270, 150, 200, 190, 90, 190, 30, 140]
CAT = [70, 40, 120, 10, 190, 15, 250, 40, 260, 130, 200, 200, 110, 205, 60, 150]


def _small(image: np.ndarray) -> np.ndarray:
    height = round(image.shape[0] * 320 / image.shape[1])
    return np.ascontiguousarray(cv2.resize(image, (320, height), interpolation=cv2.INTER_AREA))


def _make_set(folder: Path) -> tuple[Path, Path]:
    images = folder / "images"
    images.mkdir()
    entries, annotations = [], []
    for image_id, (name, polygon, category) in enumerate(
        [("coffee", CUP, 1), ("chelsea", CAT, 2)], start=1
    ):
        pixels = _small(getattr(data, name)())
        Image.fromarray(pixels).save(images / f"{name}.png")
        height, width = pixels.shape[:2]
        entries.append(
            {"id": image_id, "file_name": f"{name}.png", "width": width, "height": height}
        )
        annotations.append(
            {"image_id": image_id, "category_id": category, "segmentation": [polygon]}
        )
    # one more object as compressed RLE: the saucer's lower rim, a plain rectangle
    rim = np.zeros((entries[0]["height"], 320), dtype=np.uint8, order="F")
    rim[170:200, 60:260] = 1
    rle = mask_utils.encode(rim)
    rle["counts"] = rle["counts"].decode("ascii")
    annotations.append({"image_id": 1, "category_id": 1, "segmentation": rle})
    coco = {
        "images": entries,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "cat"}],
    }
    path = folder / "coco.json"
    path.write_text(json.dumps(coco))
    return images, path


@pytest.fixture(autouse=True)
def tiny_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--models random` builds the tiny Grounding DINO here (the full one takes minutes)."""
    build = inference.detector.build_random_detector

    def tiny(*args: Any, **kwargs: Any) -> inference.detector.Detector:
        return build(*args, **(kwargs | {"tiny": True}))

    monkeypatch.setattr(inference.detector, "build_random_detector", tiny)


@pytest.fixture(scope="module")
def coco_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _make_set(tmp_path_factory.mktemp("coco"))


def test_dataset_is_completed_and_decoded(coco_set: tuple[Path, Path]) -> None:
    _, path = coco_set
    dataset = load_dataset(path)
    first = dataset["annotations"][0]
    assert first["iscrowd"] == 0 and first["id"] == 1
    mask = decode_segmentation(first["segmentation"], 213, 320)
    assert first["area"] == mask.sum() > 10000
    x, y, w, h = first["bbox"]
    assert (x, y) == (30.0, 25.0) and 249 <= w <= 252 and 165 <= h <= 168
    rim = decode_segmentation(dataset["annotations"][2]["segmentation"], 213, 320)
    assert rim.sum() == 30 * 200
    assert mask_iou(rim, rim) == 1.0


def test_darken_reaches_a_quarter_of_the_light() -> None:
    frame = np.full((4, 4, 3), 200, dtype=np.uint8)
    dark = darken(frame, 0.25)
    linear = (dark / 255.0) ** 2.2 / (200 / 255.0) ** 2.2
    assert np.allclose(linear, 0.25, atol=0.02)


def test_eval_command_computes_every_number(
    coco_set: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, annotations = coco_set
    out = tmp_path / "eval"
    status = main(
        [
            "eval",
            "--images",
            str(images),
            "--annotations",
            str(annotations),
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert status == 0
    report: dict[str, Any] = json.loads((out / "eval.json").read_text())
    assert report["images"] == 2 and report["objects"] == 3
    assert report["vocabulary"] == ["cup", "cat"]
    assert report["random_weights"] is True
    for condition in ("original", "dark", "dark+lighting"):
        for metric in ("miou", "ap", "ap50"):
            value = report["conditions"][condition][metric]
            assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0
    for metric in ("miou", "ap", "ap50"):
        assert math.isfinite(report["lighting_gain"][metric])
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "lighting gain" in printed and "dark+lighting" in printed


def test_eval_command_refuses_a_missing_file(tmp_path: Path) -> None:
    status = main(
        ["eval", "--images", str(tmp_path), "--annotations", str(tmp_path / "no.json"), *FAST]
    )
    assert status == 2


def test_segment_everything_with_exports(coco_set: tuple[Path, Path], tmp_path: Path) -> None:
    images, _ = coco_set
    out = tmp_path / "seg"
    status = main(
        [
            "segment",
            str(images / "coffee.png"),
            "--find",
            "cup",
            "--out",
            str(out),
            "--mode",
            "everything",
            "--points-per-side",
            "4",
            "--pred-iou-threshold",
            "0",
            "--stability-threshold",
            "0",
            "--export",
            "coco,masks,trimap",
            "--trimap-band",
            "6",
            *FAST,
        ]
    )
    assert status == 0
    report = json.loads((out / "coffee.json").read_text())
    count = len(report["objects"])
    assert count >= 1
    coco = json.loads((out / "coffee.coco.json").read_text())
    assert len(coco["annotations"]) == count
    assert coco["images"][0]["file_name"] == "coffee.png"
    masks = []
    for i, obj in enumerate(report["objects"]):
        label = obj["label"]
        mask = np.asarray(Image.open(out / f"coffee.mask{i}-{label}.png")) == 255
        trimap = np.asarray(Image.open(out / f"coffee.trimap{i}-{label}.png"))
        assert set(np.unique(trimap).tolist()) <= {0, 128, 255}
        decoded = mask_utils.decode(coco["annotations"][i]["segmentation"]).astype(bool)
        assert (decoded == mask).all()
        masks.append(mask)
    stacked = np.stack(masks).astype(np.int64)
    assert stacked.sum(axis=0).max() <= 1  # everything mode: no pixel in two objects
