"""Frames in and out of `inference`: RGB uint8 arrays (H, W, 3), checked and bounded."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

MIN_SIDE = 8
DEFAULT_MAX_SIDE = 2048
_EXIF_ORIENTATION = 0x0112


class ImageReadError(ValueError):
    """An image file could not be used; the message says why."""


def check_frame(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Raise ValueError unless `frame` is an RGB uint8 array (H, W, 3) with H, W >= 1."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"a frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(
            f"a frame must be RGB uint8 with shape (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"a frame must not be empty, got shape {frame.shape}")
    return frame


@dataclass(frozen=True)
class LoadedImage:
    """pixels (H, W, 3) RGB uint8, after EXIF rotation and downscaling to `max_side`."""

    pixels: npt.NDArray[np.uint8]
    original_size: tuple[int, int]  # (H, W) as stored in the file, after EXIF rotation
    scale: float  # pixels side / original side (1.0 when not downscaled)


def read_image(path: Path, max_side: int = DEFAULT_MAX_SIDE) -> LoadedImage:
    """Decode JPEG / PNG / WebP (anything Pillow reads) to RGB, downscaling very large images.

    Raises `ImageReadError` with a clear reason for missing, unreadable, tiny or absurdly large
    files.
    """
    if max_side < MIN_SIDE:
        raise ValueError(f"max_side must be at least {MIN_SIDE}, got {max_side}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height = image.size
                # EXIF orientations 5-8 rotate by 90°: the picture people see is width × height.
                turned = image.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8)
                original = (width, height) if turned else (height, width)
                # JPEG can decode at 1/2, 1/4, 1/8 scale directly: far cheaper for huge photos.
                image.draft("RGB", (max_side, max_side))
                upright = ImageOps.exif_transpose(image)
                pixels = np.array(upright.convert("RGB"), dtype=np.uint8)  # writable
    except FileNotFoundError as exc:
        raise ImageReadError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(f"{path}: is a directory, not an image") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses pixel counts beyond ~89 MP (warning, made an error here) before decoding.
        raise ImageReadError(f"{path}: too large to decode safely ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{path}: not a readable image ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{path}: the image data is damaged ({exc})") from exc
    if min(pixels.shape[:2]) < MIN_SIDE:
        raise ImageReadError(
            f"{path}: {pixels.shape[1]}×{pixels.shape[0]} pixels is too small "
            f"(at least {MIN_SIDE} pixels per side)"
        )
    pixels = fit_within(pixels, max_side)
    return LoadedImage(pixels, original, pixels.shape[0] / original[0])


def fit_within(frame: npt.NDArray[np.uint8], max_side: int) -> npt.NDArray[np.uint8]:
    """Downscale (area interpolation) so the longest side is at most `max_side`."""
    height, width = frame.shape[:2]
    if max(height, width) <= max_side:
        return np.ascontiguousarray(frame)
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
