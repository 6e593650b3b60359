"""Colours for objects (stable per label or track), readable text on them, safe label text."""

from __future__ import annotations

import unicodedata
import zlib
from typing import Any

import numpy as np

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
MAX_DISC_RADIUS = 6

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
