"""`visionanything eval` on a tiny hand-annotated COCO set (random weights: the numbers are
checked for being computed, never for being good), and `segment --mode everything --export`."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils  # type: ignore[import-untyped]
from skimage import data

import inference.detection.detector
import inference.detection.random_weights
import visionanything.commands.eval as eval_command
from inference.bench.evaluation import darken, decode_segmentation, load_dataset, mask_iou
from inference.core.detections import Detections
from inference.models import Models
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
    build = inference.detection.random_weights.build_random_detector

    def tiny(*args: Any, **kwargs: Any) -> inference.detection.detector.Detector:
        return build(*args, **(kwargs | {"tiny": True}))

    monkeypatch.setattr(inference.detection.random_weights, "build_random_detector", tiny)


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


# A hand-made set whose scores follow from its shapes (test_eval_command_computes_every_number).
# Image 1 (100 x 120): cup A, a full rectangle; cup B, an L whose box is 40 x 40 = 1600 px but
# which covers 800 + 200 = 1000 px. Image 2 (100 x 100): cat C, a full 60 x 50 rectangle.
SHAPES_SIZES = {"shapes1.png": (100, 120), "shapes2.png": (100, 100)}
CUP_A = (slice(10, 30), slice(10, 50))
CUP_B = [(slice(50, 90), slice(20, 40)), (slice(50, 60), slice(40, 60))]
CAT_C = (slice(20, 70), slice(20, 80))
# What the stand-in detector reports per image (xyxy, label, score): A exactly, B not at all,
# C as a box of the same height but 43.2 of its 60 columns wide, so IoU(C) = 43.2 / 60 = 0.72.
FOUND = {
    (100, 120): [((10.0, 10.0, 50.0, 30.0), "cup", 0.9)],
    (100, 100): [((20.0, 20.0, 63.2, 70.0), "cat", 0.8)],
}


def _rle(mask: np.ndarray, compressed: bool) -> dict[str, Any]:
    """COCO RLE of a (H, W) mask: compressed (pycocotools) or uncompressed (written out here:
    run lengths in column-major order, the first one background)."""
    if compressed:
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}
    flat = mask.flatten(order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff([0, *changes.tolist(), flat.size]).tolist()
    return {"size": list(mask.shape), "counts": ([0] if flat[0] else []) + counts}


def _make_shapes_set(folder: Path) -> tuple[Path, Path]:
    images = folder / "images"
    images.mkdir()
    cup_a = np.zeros(SHAPES_SIZES["shapes1.png"], dtype=bool)
    cup_a[CUP_A] = True
    cup_b = np.zeros(SHAPES_SIZES["shapes1.png"], dtype=bool)
    for part in CUP_B:
        cup_b[part] = True
    cat_c = np.zeros(SHAPES_SIZES["shapes2.png"], dtype=bool)
    cat_c[CAT_C] = True
    assert (cup_a.sum(), cup_b.sum(), cat_c.sum()) == (800, 1000, 3000)
    entries = []
    for image_id, (name, (height, width)) in enumerate(SHAPES_SIZES.items(), start=1):
        pixels = np.ascontiguousarray(_small(data.coffee())[:height, :width])
        Image.fromarray(pixels).save(images / name)
        entries.append({"id": image_id, "file_name": name, "width": width, "height": height})
    coco = {
        "images": entries,
        "annotations": [
            {"image_id": 1, "category_id": 1, "segmentation": _rle(cup_a, compressed=True)},
            {"image_id": 1, "category_id": 1, "segmentation": _rle(cup_b, compressed=False)},
            {"image_id": 2, "category_id": 2, "segmentation": _rle(cat_c, compressed=True)},
        ],
        "categories": [{"id": 1, "name": "cup"}, {"id": 2, "name": "cat"}],
    }
    path = folder / "coco.json"
    path.write_text(json.dumps(coco))
    return images, path


class BoxFillingSegmenter:
    """Stands in for MobileSAM: answers every box prompt with the box filled, whatever the
    picture; exact for a rectangular object, the object's share of its box otherwise."""

    weights = "hand-made"
    device = "cpu"

    def describe(self) -> dict[str, Any]:
        return {"weights": self.weights}

    def embed(self, frames: list[np.ndarray]) -> list[SimpleNamespace]:
        return [SimpleNamespace(frame_size=frame.shape[:2]) for frame in frames]

    def predict(
        self, boxes: np.ndarray, *, embedding: SimpleNamespace, mask_threshold: float
    ) -> SimpleNamespace:
        masks = np.zeros((len(boxes), *embedding.frame_size), dtype=bool)
        for mask, (x1, y1, x2, y2) in zip(masks, np.asarray(boxes), strict=True):
            mask[round(y1) : round(y2), round(x1) : round(x2)] = True
        return SimpleNamespace(masks=masks)


class TableDetector:
    """Stands in for Grounding DINO: reports `FOUND` for the image of that size."""

    def __init__(self) -> None:
        self.calls = 0

    def describe(self) -> dict[str, Any]:
        return {"weights": "hand-made"}

    def encode_text(self, words: Any) -> None:
        return None

    def detect(self, frames: list[np.ndarray], words: Any, **thresholds: float) -> list[Detections]:
        self.calls += 1
        found = FOUND[frames[0].shape[:2]]
        return [
            Detections(
                np.array([box for box, _, _ in found], np.float32),
                np.array([score for _, _, score in found], np.float32),
                tuple(label for _, label, _ in found),
            )
        ]


def test_eval_command_computes_every_number(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command on the hand-made set, with stand-in models whose answers are known, gives
    the numbers worked out by hand below."""
    images, annotations = _make_shapes_set(tmp_path)
    detector = TableDetector()
    models = Models(detector, BoxFillingSegmenter())  # type: ignore[arg-type]
    monkeypatch.setattr(eval_command, "models_from_args", lambda args, device: models)
    out = tmp_path / "eval"
    args = ["--images", str(images), "--annotations", str(annotations), "--out", str(out)]
    assert main(["eval", *args, *FAST]) == 0
    report: dict[str, Any] = json.loads((out / "eval.json").read_text())
    assert report["images"] == 2 and report["objects"] == 3
    assert report["vocabulary"] == ["cup", "cat"]
    assert report["random_weights"] is False
    assert detector.calls == 2 * 3, "each image once per condition"

    # mIoU: the filled boxes match A and C exactly and cover B's 1000 px with 1600
    miou = (1.0 + 1000 / 1600 + 1.0) / 3
    # AP (COCO: 101 recall points, IoU thresholds .50:.05:.95, averaged over categories):
    # cup: A found exactly, B missed -> precision 1 up to recall 0.5: 51 of 101 points, at
    # every threshold; cat: C found with IoU 0.72 -> AP 1 at .50-.70 (5 thresholds), 0 above
    cup = 51 / 101
    ap = (10 * cup + 5 * 1.0 + 5 * 0.0) / 20
    ap50 = (cup + 1.0) / 2
    expected = {"miou": miou, "ap": ap, "ap50": ap50}
    # the stand-ins ignore the light, so darkening changes nothing and the gain is zero
    for condition in ("original", "dark", "dark+lighting"):
        row = report["conditions"][condition]
        assert {m: row[m] for m in expected} == pytest.approx(expected, abs=1e-9), condition
        assert row["objects"] == 3
    assert report["lighting_gain"] == pytest.approx({"miou": 0, "ap": 0, "ap50": 0}, abs=1e-12)
    assert (out / "eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert f"{'original':<15}{miou:>8.3f}{ap:>8.3f}{ap50:>8.3f}" in printed
    assert "lighting gain" in printed and "dark+lighting" in printed


def test_eval_command_runs_the_random_models(
    coco_set: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command with the real (random-weight) models: the pipeline wires them up and
    every number is a score (their values mean nothing with random weights)."""
    images, annotations = coco_set
    out = tmp_path / "eval"
    args = ["--images", str(images), "--annotations", str(annotations), "--out", str(out)]
    assert main(["eval", *args, *FAST]) == 0
    report: dict[str, Any] = json.loads((out / "eval.json").read_text())
    assert report["images"] == 2 and report["objects"] == 3
    assert report["random_weights"] is True
    for condition in ("original", "dark", "dark+lighting"):
        assert report["conditions"][condition]["objects"] == 3
        for metric in ("miou", "ap", "ap50"):
            value = report["conditions"][condition][metric]
            assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0
    assert "(random weights" in capsys.readouterr().out


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
