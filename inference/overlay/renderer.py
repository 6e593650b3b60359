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
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.overlay.colours import (
    BLACK,
    MAX_DISC_RADIUS,
    RGB,
    colours_for,
    sanitise_text,
)
from inference.overlay.style import Badge, OverlayStyle, StyleMetrics, frame_size


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
        height, width = frame_size(frame_shape)
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

        A disc keeps the border even around curves; above MAX_DISC_RADIUS px (frames over
        about 1100 px on the short side) a square, which cv2 erodes separably, at a cost that does
        not grow with the radius (a 35 px disc costs ~10x more on a 4000×3000 frame).
        """
        cached = self._kernels.get(thickness)
        if cached is not None:
            return cached
        size = 2 * thickness + 1
        form = cv2.MORPH_ELLIPSE if thickness <= MAX_DISC_RADIUS else cv2.MORPH_RECT
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
