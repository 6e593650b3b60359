"""Geometry for masks that follow: corner candidates spread over the frame, affine composition,
the working size, faded alphas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Luma = npt.NDArray[np.uint8]
Affine = npt.NDArray[np.float64]  # (2, 3)


@dataclass(frozen=True)
class Candidates:
    """Corner candidates of one working-size frame, strongest first: pixel columns xs (K,),
    rows ys (K,) and Shi-Tomasi strengths (K,)."""

    xs: npt.NDArray[np.int32]
    ys: npt.NDArray[np.int32]
    strength: npt.NDArray[np.float32]


IDENTITY: Affine = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def compose(after: Affine, before: Affine) -> Affine:
    """The 2×3 affine doing `before`, then `after`."""
    full = np.vstack([before, [0.0, 0.0, 1.0]])
    return np.asarray(after @ full, dtype=np.float64)


def working_size(frame_size: tuple[int, int], max_width: int) -> tuple[int, int]:
    """(h, w) of the working resolution for a (H, W) frame: at most `max_width` wide (and at most
    as tall as wide would allow for a portrait frame: the longer side ≤ max_width·4/3)."""
    height, width = frame_size
    scale = min(1.0, max_width / width, max_width * 4 / 3 / height)
    return max(8, round(height * scale)), max(8, round(width * scale))


def faded(alphas: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
    """Alphas after a fade step, with float dust (1 - 5 × 0.2 ≈ 6e-17) rounded to exactly 0, so
    a faded mask is neither drawn nor counted."""
    out = np.asarray(alphas, np.float32).copy()
    out[out < 1e-4] = 0.0
    return out


def spread_corners(
    corners: npt.NDArray[np.float32], shape: tuple[int, ...], count: int
) -> npt.NDArray[np.float32]:
    """Up to `count` of `corners` (K, 2), strongest first, spread over a 4×4 grid of the (H, W)
    region: one cell round-robin at a time. A small patch of strong corners that does not move
    with the object (an overlay, a changing code strip, a reflection) then holds only its share
    of the points, and RANSAC can outvote it."""
    if len(corners) <= count:
        return corners
    height, width = shape[0], shape[1]
    cells = (np.minimum(corners[:, 1] * 4 // max(height, 1), 3) * 4).astype(int) + np.minimum(
        corners[:, 0] * 4 // max(width, 1), 3
    ).astype(int)
    queues: dict[int, list[int]] = {}
    for index, cell in enumerate(cells):  # goodFeaturesToTrack lists the strongest first
        queues.setdefault(int(cell), []).append(index)
    picked: list[int] = []
    rank = 0
    while len(picked) < count:
        row = [queue[rank] for queue in queues.values() if rank < len(queue)]
        if not row:
            break
        picked.extend(row[: count - len(picked)])
        rank += 1
    return corners[np.array(picked)]
