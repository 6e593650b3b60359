"""Still-image exports of a segmentation: COCO JSON (RLE masks), per-object mask PNGs, trimaps.

Names, for an image written under stem STEM in the output folder:
  coco    STEM.coco.json              one `images` entry, one annotation per object
  masks   STEM.mask<i>-<label>.png    (H, W) uint8, 255 = object i, 0 = elsewhere
  trimap  STEM.trimap<i>-<label>.png  (H, W) uint8, 0 background, 128 unknown band, 255 object
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from inference.core.detections import Detections

EXPORT_KINDS = ("coco", "masks", "trimap")
DEFAULT_TRIMAP_BAND = 10


def parse_exports(text: str | None) -> tuple[str, ...]:
    """ "coco,masks" → ("coco", "masks"); raises ValueError for unknown kinds."""
    if not text:
        return ()
    kinds = tuple(dict.fromkeys(k.strip().lower() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in EXPORT_KINDS]
    if unknown:
        raise ValueError(f"unknown export {', '.join(unknown)}; choose from {EXPORT_KINDS}")
    return kinds


def encode_rle(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """(H, W) bool → COCO compressed RLE {"size": [H, W], "counts": str} (JSON-ready)."""
    from pycocotools import mask as mask_utils  # type: ignore[import-untyped]

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts = rle["counts"]
    return {
        "size": [int(v) for v in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


def category_ids(labels: Sequence[str], vocabulary: Sequence[str] = ()) -> dict[str, int]:
    """Label → category id (1-based): vocabulary order first, then other labels as they come."""
    ids: dict[str, int] = {}
    for name in [*vocabulary, *labels]:
        if name not in ids:
            ids[name] = len(ids) + 1
    return ids


def to_coco(
    detections: Detections,
    *,
    file_name: str,
    image_id: int = 1,
    vocabulary: Sequence[str] = (),
) -> dict[str, Any]:
    """A COCO results document for one image: images, annotations (RLE, xywh bbox, area,
    score) and categories. Requires masks (N, H, W)."""
    if detections.masks is None:
        raise ValueError("detections have no masks")
    height, width = detections.masks.shape[1:]
    ids = category_ids(detections.labels, vocabulary)
    annotations = []
    for i in range(len(detections)):
        x1, y1, x2, y2 = (float(v) for v in detections.boxes[i])
        annotations.append(
            {
                "id": i + 1,
                "image_id": image_id,
                "category_id": ids[detections.labels[i]],
                "segmentation": encode_rle(detections.masks[i]),
                "area": int(detections.masks[i].sum()),
                "bbox": [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)],
                "iscrowd": 0,
                "score": round(float(detections.scores[i]), 4),
            }
        )
    return {
        "images": [{"id": image_id, "file_name": file_name, "width": width, "height": height}],
        "annotations": annotations,
        "categories": [{"id": cid, "name": name} for name, cid in ids.items()],
    }


def trimap(mask: npt.NDArray[np.bool_], band: int = DEFAULT_TRIMAP_BAND) -> npt.NDArray[np.uint8]:
    """(H, W) bool → (H, W) uint8 trimap: 255 inside, 0 outside, 128 in a band about `band`
    pixels wide centred on the contour (the mask eroded by band // 2 and dilated by the rest)."""
    if band < 0:
        raise ValueError(f"trimap band must be >= 0, got {band}")
    binary = mask.astype(np.uint8)
    inner, outer = band // 2, band - band // 2
    sure = _morph(binary, inner, erode=True)
    maybe = _morph(binary, outer, erode=False)
    out = np.zeros(mask.shape, dtype=np.uint8)
    out[maybe > 0] = 128
    out[sure > 0] = 255
    if band == 0:
        out[binary > 0] = 255
    return out


def _morph(binary: npt.NDArray[np.uint8], radius: int, *, erode: bool) -> npt.NDArray[np.uint8]:
    if radius <= 0:
        return binary
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    op = cv2.erode if erode else cv2.dilate
    result = np.asarray(op(binary, kernel, borderType=cv2.BORDER_REPLICATE), dtype=np.uint8)
    return result


def safe_label(label: str) -> str:
    """A label as a file-name part: lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "object"


def write_exports(
    detections: Detections,
    out: Path,
    stem: str,
    kinds: Sequence[str],
    *,
    file_name: str,
    vocabulary: Sequence[str] = (),
    trimap_band: int = DEFAULT_TRIMAP_BAND,
) -> dict[str, list[str]]:
    """Write the chosen exports for one image; returns kind → paths written."""
    if detections.masks is None:
        raise ValueError("detections have no masks")
    written: dict[str, list[str]] = {}
    for kind in kinds:
        paths: list[Path] = []
        if kind == "coco":
            path = out / f"{stem}.coco.json"
            document = to_coco(detections, file_name=file_name, vocabulary=vocabulary)
            path.write_text(json.dumps(document, indent=2) + "\n")
            paths.append(path)
        elif kind in ("masks", "trimap"):
            for i, label in enumerate(detections.labels):
                mask = detections.masks[i]
                if kind == "masks":
                    pixels: npt.NDArray[np.uint8] = np.where(mask, 255, 0).astype(np.uint8)
                    path = out / f"{stem}.mask{i}-{safe_label(label)}.png"
                else:
                    pixels = trimap(mask, trimap_band)
                    path = out / f"{stem}.trimap{i}-{safe_label(label)}.png"
                Image.fromarray(pixels).save(path)
                paths.append(path)
        else:
            raise ValueError(f"unknown export {kind!r}; choose from {EXPORT_KINDS}")
        written[kind] = [str(p) for p in paths]
    return written
