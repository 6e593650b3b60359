"""Evaluate the models on a COCO-format image set: box-prompted mIoU, detection AP, and both on a
darkened copy with and without the lighting module.

Conditions (each over every image of the set):
  original        the frames as they are, lighting assessed as `segment_image` does it
  dark            the frames darkened (`darken`, default 25 % brightness), seen as they are with
                  the normal-light thresholds: the pipeline without its lighting module
  dark+lighting   the darkened frames through `inference.lighting.tracker` (assess → preprocess, and
                  the thresholds it adapts): the pipeline with it
The lighting module's gain is (dark+lighting) − dark.

Metrics:
  miou  mean over ground-truth objects of IoU(segmenter mask prompted by the GT box, GT mask)
  ap    COCO box AP@[.5:.95] (pycocotools COCOeval) of the detector's boxes, the category taken
        from the label's name; ap50 at IoU 0.5
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.core.frames import read_image
from inference.labels.vocabulary import parse_vocabulary
from inference.lighting.preprocessing import preprocess
from inference.lighting.thresholds import LightingSettings, Thresholds
from inference.lighting.tracker import assess
from inference.models import Models

log = logging.getLogger(__name__)

CONDITIONS = ("original", "dark", "dark+lighting")
METRICS = ("miou", "ap", "ap50")
DEFAULT_BRIGHTNESS = 0.25


@dataclass(frozen=True)
class Sample:
    """One image of the set with its ground truth.

    frame:        (H, W, 3) uint8 RGB
    boxes:        (N, 4) float32 xyxy pixels
    masks:        (N, H, W) bool
    category_ids: (N,) int64
    """

    image_id: int
    path: Path
    frame: npt.NDArray[np.uint8]
    boxes: npt.NDArray[np.float32]
    masks: npt.NDArray[np.bool_]
    category_ids: npt.NDArray[np.int64]


def decode_segmentation(segmentation: Any, height: int, width: int) -> npt.NDArray[np.bool_]:
    """A COCO segmentation (polygon list, uncompressed or compressed RLE) → (H, W) bool."""
    from pycocotools import mask as mask_utils  # type: ignore[import-untyped]

    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if len(p) >= 6]
        if not polygons:
            return np.zeros((height, width), dtype=bool)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict):
        rle = dict(segmentation)
    else:
        raise ValueError(f"unreadable segmentation of type {type(segmentation).__name__}")
    decoded: npt.NDArray[Any] = np.asarray(mask_utils.decode(rle))
    if decoded.ndim == 3:
        decoded = np.asarray(decoded.any(axis=2))
    return decoded.astype(bool)


def load_dataset(annotations: Path) -> dict[str, Any]:
    """Read a COCO instances file, filling what COCOeval needs (iscrowd, area, bbox, ids)."""
    dataset: dict[str, Any] = json.loads(Path(annotations).read_text())
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise ValueError(f"{annotations}: no {key!r} list; not a COCO instances file")
    sizes = {img["id"]: (int(img["height"]), int(img["width"])) for img in dataset["images"]}
    for number, ann in enumerate(dataset["annotations"], start=1):
        ann.setdefault("id", number)
        ann.setdefault("iscrowd", 0)
        if "bbox" not in ann or "area" not in ann:
            mask = decode_segmentation(ann["segmentation"], *sizes[ann["image_id"]])
            ys, xs = np.nonzero(mask)
            if "bbox" not in ann:
                ann["bbox"] = (
                    [float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)]
                    if len(xs)
                    else [0.0, 0.0, 0.0, 0.0]
                )
            ann.setdefault("area", float(mask.sum()))
    return dataset


def load_samples(images: Path, dataset: dict[str, Any]) -> list[Sample]:
    """The set's images at full size (annotations are in their pixels), with decoded masks."""
    samples = []
    for image in dataset["images"]:
        path = Path(images) / image["file_name"]
        frame = read_image(path, max_side=16384).pixels
        height, width = frame.shape[:2]
        if (height, width) != (int(image["height"]), int(image["width"])):
            raise ValueError(
                f"{path} is {width}×{height}, the annotations say "
                f"{image['width']}×{image['height']}"
            )
        anns = [
            a for a in dataset["annotations"] if a["image_id"] == image["id"] and not a["iscrowd"]
        ]
        boxes = np.array(
            [
                [
                    a["bbox"][0],
                    a["bbox"][1],
                    a["bbox"][0] + a["bbox"][2],
                    a["bbox"][1] + a["bbox"][3],
                ]
                for a in anns
            ],
            dtype=np.float32,
        ).reshape(-1, 4)
        masks = (
            np.stack([decode_segmentation(a["segmentation"], height, width) for a in anns])
            if anns
            else np.zeros((0, height, width), dtype=bool)
        )
        samples.append(
            Sample(
                image_id=int(image["id"]),
                path=path,
                frame=frame,
                boxes=boxes,
                masks=masks,
                category_ids=np.array([a["category_id"] for a in anns], dtype=np.int64),
            )
        )
    return samples


def darken(
    frame: npt.NDArray[np.uint8], brightness: float = DEFAULT_BRIGHTNESS
) -> npt.NDArray[np.uint8]:
    """(H, W, 3) uint8 → the same scene at `brightness` (0..1] of its linear intensity."""
    if not 0.0 < brightness <= 1.0:
        raise ValueError(f"brightness must lie in (0, 1], got {brightness}")
    linear = (frame.astype(np.float32) / 255.0) ** 2.2 * brightness
    return np.clip(np.round(linear ** (1 / 2.2) * 255.0), 0, 255).astype(np.uint8)


def mask_iou(a: npt.NDArray[np.bool_], b: npt.NDArray[np.bool_]) -> float:
    """IoU of two (H, W) masks; 1.0 when both are empty."""
    union = int(np.logical_or(a, b).sum())
    return 1.0 if union == 0 else int(np.logical_and(a, b).sum()) / union


def coco_ap(dataset: dict[str, Any], results: list[dict[str, Any]]) -> tuple[float, float]:
    """COCO box AP@[.5:.95] and AP@.5 of `results` against `dataset`; 0.0 without results."""
    from pycocotools.coco import COCO  # type: ignore[import-untyped]
    from pycocotools.cocoeval import COCOeval  # type: ignore[import-untyped]

    if not results or not dataset["annotations"]:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO()
        truth.dataset = dataset
        truth.createIndex()
        found = truth.loadRes(results)
        run = COCOeval(truth, found, "bbox")
        run.evaluate()
        run.accumulate()
        run.summarize()
    ap, ap50 = (float(v) for v in run.stats[:2])
    return max(ap, 0.0), max(ap50, 0.0)


def _model_view(
    frame: npt.NDArray[np.uint8], condition: str, brightness: float
) -> tuple[npt.NDArray[np.uint8], Thresholds]:
    """What the models see under `condition`, and the thresholds they use."""
    if condition == "original":
        report = assess(frame)
        return preprocess(frame, report), report.thresholds
    dark = darken(frame, brightness)
    if condition == "dark":
        return dark, LightingSettings().thresholds_at(0.0)
    if condition == "dark+lighting":
        report = assess(dark)
        return preprocess(dark, report), report.thresholds
    raise ValueError(f"unknown condition {condition!r}; choose one of {CONDITIONS}")


def evaluate_condition(
    models: Models,
    samples: Sequence[Sample],
    dataset: dict[str, Any],
    vocabulary: Sequence[str],
    condition: str,
    *,
    brightness: float = DEFAULT_BRIGHTNESS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """{"miou", "ap", "ap50", "objects"} for one condition over the whole set."""
    words = parse_vocabulary(list(vocabulary))
    category_of = {parse_vocabulary([c["name"]])[0]: int(c["id"]) for c in dataset["categories"]}
    ious: list[float] = []
    results: list[dict[str, Any]] = []
    for number, sample in enumerate(samples, start=1):
        view, thresholds = _model_view(sample.frame, condition, brightness)
        embedding = models.segmenter.embed([view])[0]
        if len(sample.boxes):
            predicted = models.segmenter.predict(
                boxes=sample.boxes, embedding=embedding, mask_threshold=thresholds.mask
            )
            ious.extend(mask_iou(p, t) for p, t in zip(predicted.masks, sample.masks, strict=True))
        (found,) = models.detector.detect(
            [view], words, box_threshold=thresholds.box, text_threshold=thresholds.text
        )
        for box, score, label in zip(found.boxes, found.scores, found.labels, strict=True):
            if label not in category_of:
                continue
            x1, y1, x2, y2 = (float(v) for v in box)
            results.append(
                {
                    "image_id": sample.image_id,
                    "category_id": category_of[label],
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "score": float(score),
                }
            )
        if progress is not None:
            progress(
                f"[{condition}] {number}/{len(samples)} {sample.path.name}: "
                f"{len(sample.boxes)} objects, {len(found)} found"
            )
    ap, ap50 = coco_ap(dataset, results)
    miou = float(np.mean(ious)) if ious else 0.0
    return {"miou": miou, "ap": ap, "ap50": ap50, "objects": float(len(ious))}


def evaluate(
    models: Models,
    images: Path,
    annotations: Path,
    *,
    vocabulary: Sequence[str] | None = None,
    brightness: float = DEFAULT_BRIGHTNESS,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The whole evaluation as a JSON-ready report (see the module docstring)."""
    dataset = load_dataset(annotations)
    samples = load_samples(images, dataset)
    words = (
        parse_vocabulary(list(vocabulary))
        if vocabulary
        else parse_vocabulary([c["name"] for c in dataset["categories"]])
    )
    models.detector.encode_text(words)  # a too-long vocabulary fails before any image
    conditions = {
        condition: evaluate_condition(
            models,
            samples,
            dataset,
            words,
            condition,
            brightness=brightness,
            progress=progress,
        )
        for condition in CONDITIONS
    }
    gain = {
        metric: conditions["dark+lighting"][metric] - conditions["dark"][metric]
        for metric in METRICS
    }
    return {
        "images": len(samples),
        "objects": int(sum(len(s.boxes) for s in samples)),
        "vocabulary": list(words),
        "brightness": brightness,
        "conditions": conditions,
        "lighting_gain": gain,
        "models": models.describe(),
        "random_weights": models.random,
    }


def format_table(report: dict[str, Any]) -> str:
    """The report's numbers as a fixed-width text table."""
    lines = [f"{'condition':<15}" + "".join(f"{m:>8}" for m in METRICS)]
    for condition in CONDITIONS:
        row = report["conditions"][condition]
        lines.append(f"{condition:<15}" + "".join(f"{row[m]:>8.3f}" for m in METRICS))
    gain = report["lighting_gain"]
    lines.append(f"{'lighting gain':<15}" + "".join(f"{gain[m]:>+8.3f}" for m in METRICS))
    return "\n".join(lines)


def write_report(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """Write eval.json and eval.png (grouped bars per metric) into `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "eval.json", "plot": out / "eval.png"}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    figure, axes = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(CONDITIONS)
    positions = np.arange(len(METRICS))
    for i, condition in enumerate(CONDITIONS):
        values = [report["conditions"][condition][m] for m in METRICS]
        axes.bar(positions + (i - 1) * width, values, width, label=condition)
    axes.set_xticks(positions, [m.upper() for m in METRICS])
    axes.set_ylim(0, 1)
    axes.set_ylabel("score")
    note = " (RANDOM WEIGHTS)" if report.get("random_weights") else ""
    axes.set_title(f"{report['images']} images, {report['objects']} objects{note}")
    axes.legend()
    figure.tight_layout()
    figure.savefig(paths["plot"], dpi=100)
    plt.close(figure)
    return paths


def finite_unit(value: float) -> bool:
    """True for a finite number in [0, 1] (what every metric must be)."""
    return math.isfinite(value) and 0.0 <= value <= 1.0
