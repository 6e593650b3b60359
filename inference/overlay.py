"""Draw what the models found onto a frame: translucent coloured masks, crisp inner contours and
big readable label badges, cheap enough to run on every outgoing video frame.

Frames are RGB uint8 arrays (H, W, 3); masks are bool (N, H, W) as in `Detections`. All
per-object work is confined to the object's mask (or box) bounding rectangle and uses uint8
arithmetic, so the cost grows with the area of the objects, not with the number of objects times
the frame size.

Colours are deterministic across processes and machines (`colour_for`), so the colour the page
shows next to a spoken label is the colour of the overlay, for every server in a cluster.
"""

from __future__ import annotations

import math
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections

RGB = tuple[int, int, int]

# Twenty bright, child-friendly colours (red, mint, sky, peach, purple, cyan, green, blue, orange,
# pink, yellow, teal, violet, brown, rose, lime, lavender, coral, gold, magenta). The smallest
# CIEDE2000 distance between any two is about 13; consecutive entries differ by much more, so
# consecutive track ids get clearly different colours.
PALETTE: tuple[RGB, ...] = (
    (230, 38, 51),
    (100, 240, 180),
    (70, 140, 255),
    (255, 190, 130),
    (185, 50, 190),
    (30, 210, 245),
    (40, 180, 80),
    (20, 90, 200),
    (255, 133, 27),
    (255, 130, 190),
    (255, 214, 0),
    (0, 160, 150),
    (110, 60, 255),
    (170, 100, 40),
    (225, 30, 110),
    (160, 220, 40),
    (190, 160, 255),
    (255, 120, 100),
    (175, 160, 10),
    (255, 40, 220),
)
# crc32 start value, chosen so that common words (cat, dog, cup, apple, ball, person, banana,
# book, chair, bottle, car, bird) all get different palette entries. Changing it (or the palette)
# changes every label's colour.
_LABEL_HASH_SEED = 16

# contours thicker than this are eroded with a square kernel instead of a disc (see _kernel)
_MAX_DISC_RADIUS = 6

BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)


def colour_for(key: str | int | np.integer[Any]) -> RGB:
    """The overlay colour for a label (str) or a track id (int), identical in every process.

    Labels are compared case- and whitespace-insensitively ("Cat " is "cat") and hashed with
    crc32 (Python's `hash()` is salted per process); track ids index the palette directly, so any
    20 consecutive ids get 20 different colours.
    """
    if isinstance(key, bool) or not isinstance(key, int | np.integer):
        if not isinstance(key, str):
            raise TypeError(f"a colour key must be a str or an int, got {type(key).__name__}")
        normalised = " ".join(key.split()).lower()
        index = zlib.crc32(normalised.encode("utf-8"), _LABEL_HASH_SEED) % len(PALETTE)
    else:
        index = int(key) % len(PALETTE)
    return PALETTE[index]


def colours_for(detections: Detections) -> list[RGB]:
    """One colour per object (N entries): by track id when the objects are tracked, else by label.

    The same colours `OverlayRenderer.annotate` draws, for sending alongside the labels.
    """
    if detections.track_ids is not None:
        return [colour_for(int(track_id)) for track_id in detections.track_ids]
    return [colour_for(label) for label in detections.labels]


def to_hex(colour: RGB) -> str:
    """The CSS form of an RGB triple, "#rrggbb", as the page shows it."""
    r, g, b = colour
    return f"#{r:02x}{g:02x}{b:02x}"


def _relative_luminance(colour: RGB) -> float:
    """WCAG 2 relative luminance of an sRGB colour, 0 (black) to 1 (white)."""
    channels = []
    for value in colour:
        c = value / 255.0
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def text_colour_for(background: RGB) -> RGB:
    """Black or white, whichever has the higher WCAG contrast ratio against `background`."""
    luminance = _relative_luminance(background)
    contrast_white = 1.05 / (luminance + 0.05)
    contrast_black = (luminance + 0.05) / 0.05
    return BLACK if contrast_black >= contrast_white else WHITE


def sanitise_text(text: str, max_chars: int) -> str:
    """`text` reduced to printable ASCII for cv2's Hershey fonts, at most `max_chars` long.

    Accents are dropped ("café" → "cafe"), other non-ASCII characters and control characters
    removed, runs of whitespace collapsed; an over-long text ends in "...".
    """
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(ch if 32 <= ord(ch) < 127 else " " for ch in decomposed if ord(ch) < 128)
    cleaned = " ".join(ascii_only.split())
    if len(cleaned) > max_chars:
        cleaned = (
            cleaned[: max_chars - 3].rstrip() + "..." if max_chars > 3 else cleaned[:max_chars]
        )
    return cleaned


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
        height, width = _frame_size(frame_shape)
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


def _frame_size(frame_shape: Sequence[int]) -> tuple[int, int]:
    if len(frame_shape) < 2 or frame_shape[0] < 1 or frame_shape[1] < 1:
        raise ValueError(f"a frame shape must be (H, W[, C]) with H, W >= 1, got {frame_shape}")
    return int(frame_shape[0]), int(frame_shape[1])


def _box_pixels(box: npt.NDArray[np.float32], height: int, width: int) -> tuple[int, int, int, int]:
    """The pixels [x1, x2) × [y1, y2) an xyxy box covers, clamped to the frame, at least 1×1."""
    x1 = min(max(math.floor(float(box[0])), 0), width - 1)
    y1 = min(max(math.floor(float(box[1])), 0), height - 1)
    x2 = min(max(math.ceil(float(box[2])), x1 + 1), width)
    y2 = min(max(math.ceil(float(box[3])), y1 + 1), height)
    return x1, y1, x2, y2


def _solid(height: int, width: int, colour: RGB) -> npt.NDArray[np.uint8]:
    """A read-only (height, width, 3) uint8 image of one colour (much faster than np.full)."""
    pixels = np.frombuffer(bytes(colour) * (height * width), dtype=np.uint8)
    return pixels.reshape(height, width, 3)


def _copy_where(dst: npt.NDArray[np.uint8], src: npt.NDArray[Any], mask: npt.NDArray[Any]) -> None:
    """dst[mask != 0] = src[mask != 0] in place; dst (h, w, 3) may be a view into a frame."""
    result = cv2.copyTo(src, mask, dst)
    if not np.may_share_memory(result, dst):  # cv2 had to reallocate: copy the result in
        dst[...] = result


class OverlayRenderer:
    """Annotates frames with the objects of a `Detections` (see `annotate`)."""

    def __init__(self, style: OverlayStyle | None = None) -> None:
        self.style = style if style is not None else OverlayStyle()
        self._kernels: dict[int, npt.NDArray[np.uint8]] = {}

    # ---------------------------------------------------------------- layout

    def layout(
        self,
        frame_shape: Sequence[int],
        detections: Detections,
        texts: Sequence[str] | None = None,
    ) -> list[Badge]:
        """Where each object's label badge goes on a frame of shape (H, W) or (H, W, 3).

        Pure and deterministic; looks only at the boxes, never at pixels or masks. A badge sits
        at the top-left corner of its object's box: just above the box when there is room, else
        just inside it. It is clamped to the frame (cut to the frame when the frame is smaller
        than the badge) and moved down (or up, near the bottom) past badges placed before it, in
        object order, where that keeps it in the frame. `texts` (N entries) replaces the labels;
        an object whose text is empty after `sanitise_text` gets no badge.
        Returns badges in object order.
        """
        height, width = _frame_size(frame_shape)
        n = len(detections)
        if texts is None:
            texts = detections.labels
        elif len(texts) != n:
            raise ValueError(f"texts must have one entry per object ({n}), got {len(texts)}")
        if not self.style.draw_labels or n == 0:
            return []
        metrics = self.style.metrics((height, width))
        colours = colours_for(detections)
        placed: list[Badge] = []
        for index in range(n):
            text = sanitise_text(str(texts[index]), self.style.max_text_chars)
            if not text:
                continue
            (text_w, text_h), baseline = cv2.getTextSize(
                text, self.style.font, metrics.font_scale, metrics.font_thickness
            )
            badge_w = min(text_w + 2 * metrics.padding, width)
            badge_h = min(text_h + baseline + 2 * metrics.padding, height)
            bx1, by1, _, _ = _box_pixels(detections.boxes[index], height, width)
            x1 = min(bx1, width - badge_w)
            y1 = by1 - badge_h if by1 - badge_h >= 0 else by1
            y1 = min(y1, height - badge_h)
            y1 = self._avoid(placed, x1, y1, badge_w, badge_h, height)
            placed.append(Badge(index, text, x1, y1, x1 + badge_w, y1 + badge_h, colours[index]))
        return placed

    @staticmethod
    def _avoid(placed: Sequence[Badge], x1: int, y1: int, w: int, h: int, height: int) -> int:
        """A top edge near `y1` where a w×h badge at `x1` overlaps none of `placed`, if cheap.

        Tries moving down past each overlapping badge, then up; keeps `y1` if neither fits.
        """

        def clash(top: int) -> Badge | None:
            probe = Badge(-1, "", x1, top, x1 + w, top + h, BLACK)
            return next((b for b in placed if b.overlaps(probe)), None)

        for step_direction in (1, -1):
            top = y1
            for _ in range(len(placed) + 1):
                other = clash(top)
                if other is None:
                    return top
                top = other.y2 if step_direction == 1 else other.y1 - h
                if top < 0 or top + h > height:
                    break
        return y1

    # -------------------------------------------------------------- drawing

    def annotate(
        self,
        scene: npt.NDArray[np.uint8],
        detections: Detections,
        texts: Sequence[str] | None = None,
        opacities: Sequence[float] | npt.NDArray[np.floating[Any]] | None = None,
    ) -> npt.NDArray[np.uint8]:
        """A new RGB uint8 image (H, W, 3): `scene` with every object drawn on it.

        `opacities` (N values in 0..1, default all 1) fade whole objects: an object's fill,
        contour and badge are blended over the scene with that weight (0: not drawn at all), so a
        mask whose motion was lost can fade out instead of vanishing at once.

        With masks (N, H, W): a translucent fill of the object's colour over the mask and an
        opaque contour, a darker shade of the colour, along the mask's inner border; larger
        masks are drawn first so small objects on top of them stay visible. Without masks: an
        outline just inside each box. Then the label badges where `layout` puts them. Pixels
        outside the masks (boxes) and badge rectangles are never changed; `scene` is not
        modified.
        """
        if not isinstance(scene, np.ndarray) or scene.dtype != np.uint8 or scene.ndim != 3:
            raise ValueError("scene must be an RGB uint8 array (H, W, 3)")
        if scene.shape[2] != 3 or scene.shape[0] < 1 or scene.shape[1] < 1:
            raise ValueError(f"scene must have shape (H, W, 3), got {scene.shape}")
        height, width = scene.shape[:2]
        out: npt.NDArray[np.uint8] = np.array(scene, dtype=np.uint8, copy=True, order="C")
        if len(detections) == 0:
            return out
        weights = _opacities(opacities, len(detections))
        metrics = self.style.metrics(out.shape)
        colours = colours_for(detections)
        if detections.masks is not None:
            if detections.masks.shape[1:] != (height, width):
                raise ValueError(
                    f"masks are {detections.masks.shape[1:]} but the scene is {(height, width)}"
                )
            self._draw_masks(out, detections.masks, colours, metrics.contour_thickness, weights)
        else:
            for index, colour in enumerate(colours):
                if weights[index] <= 0:
                    continue
                x1, y1, x2, y2 = _box_pixels(detections.boxes[index], height, width)
                roi = out[y1:y2, x1:x2]
                outlined = roi.copy()
                self._draw_outline(outlined, self._shade(colour), metrics)
                _blend_into(roi, outlined, weights[index])
        for badge in self.layout(out.shape, detections, texts):
            if weights[badge.index] > 0:
                self._draw_badge(out, badge, metrics, weights[badge.index])
        return out

    def _shade(self, colour: RGB) -> RGB:
        r, g, b = (round(c * self.style.contour_shade) for c in colour)
        return (r, g, b)

    def _kernel(self, thickness: int) -> npt.NDArray[np.uint8]:
        """The erosion kernel for an inner border `thickness` px wide.

        A disc keeps the border even around curves; above _MAX_DISC_RADIUS px (frames over
        about 1100 px on the short side) a square, which cv2 erodes separably, at a cost that does
        not grow with the radius (a 35 px disc costs ~10x more on a 4000×3000 frame).
        """
        cached = self._kernels.get(thickness)
        if cached is not None:
            return cached
        size = 2 * thickness + 1
        form = cv2.MORPH_ELLIPSE if thickness <= _MAX_DISC_RADIUS else cv2.MORPH_RECT
        shape = cv2.getStructuringElement(form, (size, size))
        kernel: npt.NDArray[np.uint8] = np.asarray(shape, dtype=np.uint8)
        self._kernels[thickness] = kernel
        return kernel

    def _draw_masks(
        self,
        out: npt.NDArray[np.uint8],
        masks: npt.NDArray[np.bool_],
        colours: Sequence[RGB],
        thickness: int,
        opacities: Sequence[float],
    ) -> None:
        """Fill and outline each mask (N, H, W) in place on `out` (H, W, 3), largest first,
        each object blended with its opacity (N values)."""
        regions: list[tuple[int, int, tuple[int, int, int, int]]] = []
        for index in range(len(masks)):
            if opacities[index] <= 0:
                continue
            mask_u8 = np.ascontiguousarray(masks[index]).view(np.uint8)
            x, y, w, h = cv2.boundingRect(mask_u8)
            if w == 0 or h == 0:
                continue
            area = cv2.countNonZero(mask_u8[y : y + h, x : x + w])
            regions.append((area, index, (x, y, w, h)))
        # larger first; ties keep object order, so the result never depends on sort stability
        regions.sort(key=lambda item: (-item[0], item[1]))
        kernel = self._kernel(thickness)
        for _, index, (x, y, w, h) in regions:
            crop = np.ascontiguousarray(masks[index, y : y + h, x : x + w]).view(np.uint8)
            roi = out[y : y + h, x : x + w]
            colour = colours[index]
            opacity = min(1.0, float(opacities[index]))
            alpha = self.style.fill_alpha * opacity
            if alpha > 0:
                blended = cv2.addWeighted(roi, 1.0 - alpha, _solid(h, w, colour), alpha, 0.0)
                _copy_where(roi, blended, crop)
            # inner border: mask pixels within `thickness` of a non-mask pixel (or of the frame
            # edge, which closes the outline of objects cut off by the frame)
            eroded = cv2.erode(crop, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            border: npt.NDArray[Any] = _solid(h, w, self._shade(colour))
            if opacity < 1:
                border = cv2.addWeighted(roi, 1.0 - opacity, border, opacity, 0.0)
            _copy_where(roi, border, cv2.subtract(crop, eroded))

    @staticmethod
    def _draw_outline(roi: npt.NDArray[np.uint8], colour: RGB, metrics: StyleMetrics) -> None:
        """A rectangle outline `contour_thickness` wide just inside `roi` (h, w, 3), in place."""
        t = metrics.contour_thickness
        roi[:t, :] = colour
        roi[-t:, :] = colour
        roi[:, :t] = colour
        roi[:, -t:] = colour

    def _draw_badge(
        self,
        out: npt.NDArray[np.uint8],
        badge: Badge,
        metrics: StyleMetrics,
        opacity: float = 1.0,
    ) -> None:
        """Fill the badge rectangle of `out` (H, W, 3) and write its text, clipped to it
        (blended over the scene with `opacity` below 1)."""
        roi = out[badge.y1 : badge.y2, badge.x1 : badge.x2]
        (_, text_h), _ = cv2.getTextSize(
            badge.text, self.style.font, metrics.font_scale, metrics.font_thickness
        )
        # draw on a separate canvas so cv2 can never write outside the badge, then copy it in
        canvas = _solid(badge.height, badge.width, badge.colour).copy()
        cv2.putText(
            canvas,
            badge.text,
            (metrics.padding, metrics.padding + text_h),
            self.style.font,
            metrics.font_scale,
            badge.text_colour,
            metrics.font_thickness,
            cv2.LINE_AA,
        )
        _blend_into(roi, canvas, opacity)


def _opacities(
    opacities: Sequence[float] | npt.NDArray[np.floating[Any]] | None, count: int
) -> list[float]:
    """N opacities clipped to 0..1 (all 1 when None); ValueError for a wrong count or NaN."""
    if opacities is None:
        return [1.0] * count
    values = [float(v) for v in np.asarray(opacities, dtype=np.float64).reshape(-1)]
    if len(values) != count:
        raise ValueError(f"opacities must have one entry per object ({count}), got {len(values)}")
    if any(math.isnan(v) for v in values):
        raise ValueError("opacities must not be NaN")
    return [min(1.0, max(0.0, v)) for v in values]


def _blend_into(dst: npt.NDArray[np.uint8], src: npt.NDArray[np.uint8], opacity: float) -> None:
    """dst = src·opacity + dst·(1 − opacity), in place (opacity 1: a plain copy)."""
    if opacity >= 1:
        dst[...] = src
    elif opacity > 0:
        dst[...] = cv2.addWeighted(dst, 1.0 - opacity, src, opacity, 0.0)
