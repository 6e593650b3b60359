"""Luma statistics of a frame: brightness percentiles, centre and border means, grain."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.frames import check_frame

MEASURE_WIDTH = 160  # luma statistics on a frame at most this wide
NOISE_STRIPS = 16  # full-resolution 3-row strips for the noise estimate
_MAD_TO_SIGMA = 1.0 / (6.0 * 0.6745)  # Immerkær's mask has L2 norm 6; median|N(0,1)| = 0.6745


@dataclass(frozen=True)
class LumaStats:
    """Luma statistics of one frame, every value on a 0..1 scale.

    mean, std:   of the downscaled luma
    p5/p50/p95:  percentiles of the downscaled luma (histogram, 1/255 resolution)
    contrast:    p95 − p5
    noise:       σ of the pixel-level grain (Immerkær), full resolution
    centre_mean: mean of the central half (in each dimension) of the frame
    border_mean: mean of the ring around it (equals centre_mean when the frame is too small)
    """

    mean: float
    std: float
    p5: float
    p50: float
    p95: float
    contrast: float
    noise: float
    centre_mean: float
    border_mean: float

    def to_dict(self, digits: int = 3) -> dict[str, float]:
        return {
            "mean": round(self.mean, digits),
            "std": round(self.std, digits),
            "p5": round(self.p5, digits),
            "p50": round(self.p50, digits),
            "p95": round(self.p95, digits),
            "contrast": round(self.contrast, digits),
            "noise": round(self.noise, digits),
            "centre": round(self.centre_mean, digits),
            "border": round(self.border_mean, digits),
        }


def as_u8(array: Any) -> npt.NDArray[np.uint8]:
    """cv2's results, typed (no copy: they are uint8 already)."""
    return np.asarray(array, dtype=np.uint8)


def measure(frame: npt.NDArray[np.uint8]) -> LumaStats:
    """Luma statistics of an RGB uint8 frame (H, W, 3); ValueError for anything else."""
    check_frame(frame)
    luma = as_u8(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY))
    height, width = luma.shape
    if width > MEASURE_WIDTH:
        small_height = max(1, round(height * MEASURE_WIDTH / width))
        small = as_u8(cv2.resize(luma, (MEASURE_WIDTH, small_height), interpolation=cv2.INTER_AREA))
    else:
        small = luma

    histogram = np.bincount(small.ravel(), minlength=256).astype(np.float64)
    count = float(histogram.sum())
    levels = np.arange(256, dtype=np.float64)
    mean = float(histogram @ levels) / count
    variance = max(0.0, float(histogram @ (levels * levels)) / count - mean * mean)
    cumulative = np.cumsum(histogram)
    p5, p50, p95 = (
        float(np.searchsorted(cumulative, q * count, side="left")) / 255.0
        for q in (0.05, 0.50, 0.95)
    )

    sh, sw = small.shape
    top, bottom, left, right = sh // 4, sh - sh // 4, sw // 4, sw - sw // 4
    total = float(histogram @ levels)
    centre_sum = float(small[top:bottom, left:right].sum(dtype=np.int64))
    centre_count = (bottom - top) * (right - left)
    border_count = sh * sw - centre_count
    centre_mean = centre_sum / centre_count / 255.0
    border_mean = (total - centre_sum) / border_count / 255.0 if border_count else centre_mean

    return LumaStats(
        mean=mean / 255.0,
        std=math.sqrt(variance) / 255.0,
        p5=p5,
        p50=p50,
        p95=p95,
        contrast=p95 - p5,
        noise=_noise(luma),
        centre_mean=centre_mean,
        border_mean=border_mean,
    )


def _noise(luma: npt.NDArray[np.uint8]) -> float:
    """σ of the grain (0..1) by Immerkær's mask on full-resolution 3-row strips, median-based."""
    height, width = luma.shape
    if height < 3 or width < 3:
        return 0.0
    strips = min(NOISE_STRIPS, height // 3)
    starts = np.linspace(0, height - 3, strips).astype(np.intp)
    rows = (starts[:, None] + np.arange(3)).ravel()
    block = luma[rows].astype(np.int16).reshape(strips, 3, width)
    second = block[:, :, :-2] - 2 * block[:, :, 1:-1] + block[:, :, 2:]  # horizontal [1 -2 1]
    response = second[:, 0] - 2 * second[:, 1] + second[:, 2]  # then vertical [1 -2 1]
    return float(np.median(np.abs(response))) * _MAD_TO_SIGMA / 255.0
