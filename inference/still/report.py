"""What a segmented still photo becomes for people: the overlay and label-map PNGs and the
JSON report (schema `inference/schemas/segment_result.schema.json`). One implementation for
the `segment` command (files on disk) and `POST /api/segment` (bytes served over HTTP)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from inference.core.frames import LoadedImage
from inference.labels import describe_object, say_objects
from inference.models import Models
from inference.overlay.colours import colours_for, to_hex
from inference.overlay.renderer import OverlayRenderer
from inference.still.grounded_segmentation import SCHEMA_ID, StillResult, label_map_of


@dataclass(frozen=True)
class RenderedStill:
    """overlay (H, W, 3) uint8; label_map (H, W) object i painted as i + 1; the sentence to
    say and the report's `objects` entries."""

    overlay: npt.NDArray[np.uint8]
    label_map: npt.NDArray[Any]
    say: str
    objects: list[dict[str, Any]]


def render_still(
    renderer: OverlayRenderer, frame: npt.NDArray[np.uint8], result: StillResult
) -> RenderedStill:
    detections = result.detections
    pairs = list(zip(detections.labels, detections.scores.tolist(), strict=True))
    texts = [describe_object(label, score) for label, score in pairs]
    overlay = renderer.annotate(frame, detections, texts)
    badges = {badge.index: badge for badge in renderer.layout(frame.shape, detections, texts)}
    colours = colours_for(detections)
    objects = []
    for i in range(len(detections)):
        badge = badges.get(i)
        objects.append(
            {
                "id": i,
                "label": detections.labels[i],
                "say": say_objects([pairs[i]]),
                "score": round(float(detections.scores[i]), 4),
                "box": [round(float(v), 1) for v in detections.boxes[i]],
                "mask_area": int(detections.mask_areas[i]),
                "mask_value": i + 1,
                "colour": to_hex(colours[i]),
                "label_box": (
                    [0, 0, 0, 0] if badge is None else [badge.x1, badge.y1, badge.x2, badge.y2]
                ),
            }
        )
    return RenderedStill(overlay, label_map_of(detections), say_objects(pairs), objects)


def still_report(
    image: LoadedImage,
    path: str,
    vocabulary: tuple[str, ...] | list[str],
    models: Models,
    result: StillResult,
    rendered: RenderedStill,
    outputs: dict[str, str],
) -> dict[str, Any]:
    """The JSON report; `timings_ms` is left empty for the caller to fill in at the end."""
    frame = image.pixels
    return {
        "schema": SCHEMA_ID,
        "image": {
            "path": path,
            "width": int(frame.shape[1]),
            "height": int(frame.shape[0]),
            "original_width": image.original_size[1],
            "original_height": image.original_size[0],
            "scale": round(image.scale, 6),
        },
        "vocabulary": list(vocabulary),
        "say": rendered.say,
        "objects": rendered.objects,
        "models": models.describe(),
        "random_weights": models.random,
        "device": str(models.segmenter.device),
        "thresholds": result.lighting.thresholds.to_dict(),
        "lighting": result.lighting.to_dict(),
        "timings_ms": {},
        "outputs": outputs,
    }


def png_bytes(pixels: npt.NDArray[Any], random_weights: bool) -> bytes:
    """A PNG whose text chunks say it came from random weights (meaningless) or checkpoints."""
    info = PngInfo()
    info.add_text("Software", "visionanything")
    info.add_text("visionanything:weights", "random" if random_weights else "checkpoint")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()
