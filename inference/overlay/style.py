"""How the overlay looks: mask opacity, outlines, label badges, sizes that follow the frame."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2

from inference.overlay.colours import (
    RGB,
    text_colour_for,
)


@dataclass(frozen=True)
class OverlayStyle:
    """How overlays look. Sizes left as None are derived from the frame (see `metrics`).

    fill_alpha          weight of the object colour in the mask fill, 0 (none) to 1 (opaque)
    contour_thickness   width in pixels of the inner contour (or of the box outline)
    contour_shade       the contour colour is the object colour times this (below 1: darker)
    font_scale          cv2 font scale of the labels (1.0 ≈ 22 px capital height)
    font_thickness      stroke width of the label text in pixels
    padding             space in pixels between the text and the badge's edge
    max_text_chars      longer labels are cut and end in "..."
    draw_labels         False draws masks and contours only
    font                a cv2 Hershey font
    """

    fill_alpha: float = 0.45
    contour_thickness: int | None = None
    contour_shade: float = 0.7
    font_scale: float | None = None
    font_thickness: int | None = None
    padding: int | None = None
    max_text_chars: int = 24
    draw_labels: bool = True
    font: int = cv2.FONT_HERSHEY_SIMPLEX

    def __post_init__(self) -> None:
        if not 0.0 <= self.fill_alpha <= 1.0:
            raise ValueError(f"fill_alpha must lie in [0, 1], got {self.fill_alpha}")
        if not 0.0 <= self.contour_shade <= 1.0:
            raise ValueError(f"contour_shade must lie in [0, 1], got {self.contour_shade}")
        for name in ("contour_thickness", "font_thickness"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.padding is not None and self.padding < 0:
            raise ValueError(f"padding must not be negative, got {self.padding}")
        if self.font_scale is not None and not (
            math.isfinite(self.font_scale) and self.font_scale > 0
        ):
            raise ValueError(f"font_scale must be a positive number, got {self.font_scale}")
        if self.max_text_chars < 1:
            raise ValueError(f"max_text_chars must be at least 1, got {self.max_text_chars}")

    def metrics(self, frame_shape: Sequence[int]) -> StyleMetrics:
        """Concrete pixel sizes for a frame of shape (H, W) or (H, W, 3).

        Derived sizes scale with the frame's shorter side S: contour S/180 px, font scale S/400
        (text about 5% of S tall: readable on a phone held at arm's length and on a projector).
        """
        height, width = frame_size(frame_shape)
        short_side = min(height, width)
        font_scale = self.font_scale if self.font_scale is not None else max(0.35, short_side / 400)
        font_thickness = (
            self.font_thickness
            if self.font_thickness is not None
            else max(1, round(font_scale * 1.8))
        )
        (_, text_height), _ = cv2.getTextSize("Ag", self.font, font_scale, font_thickness)
        padding = self.padding if self.padding is not None else max(1, round(text_height * 0.35))
        contour = (
            self.contour_thickness
            if self.contour_thickness is not None
            else max(1, round(short_side / 180))
        )
        return StyleMetrics(
            contour_thickness=contour,
            font_scale=font_scale,
            font_thickness=font_thickness,
            padding=padding,
        )


@dataclass(frozen=True)
class StyleMetrics:
    """`OverlayStyle` sizes resolved for one frame size, in pixels (font_scale: cv2 units)."""

    contour_thickness: int
    font_scale: float
    font_thickness: int
    padding: int


@dataclass(frozen=True)
class Badge:
    """Where one object's label goes: the rectangle [x1, x2) × [y1, y2) in frame pixels.

    index is the object's position in the `Detections`; colour is the badge fill (the object's
    colour) and text_colour the black or white text drawn on it.
    """

    index: int
    text: str
    x1: int
    y1: int
    x2: int
    y2: int
    colour: RGB

    @property
    def text_colour(self) -> RGB:
        return text_colour_for(self.colour)

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1

    def overlaps(self, other: Badge) -> bool:
        return (
            self.x1 < other.x2 and other.x1 < self.x2 and self.y1 < other.y2 and other.y1 < self.y2
        )


def frame_size(frame_shape: Sequence[int]) -> tuple[int, int]:
    if len(frame_shape) < 2 or frame_shape[0] < 1 or frame_shape[1] < 1:
        raise ValueError(f"a frame shape must be (H, W[, C]) with H, W >= 1, got {frame_shape}")
    return int(frame_shape[0]), int(frame_shape[1])
