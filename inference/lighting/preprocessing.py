"""What a frame gets before the models see it in bad light: gamma and CLAHE, planned from its
lighting state."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.frames import check_frame
from inference.lighting.luma import LumaStats, as_u8
from inference.lighting.states import (
    LightingState,
)

GAMMA_TARGET_DARK = 0.40  # DIM/DARK: gamma maps the median luma to this
GAMMA_TARGET_BRIGHT = 0.45  # BRIGHT: ... to this
GAMMA_MIN_DIM = 0.5
GAMMA_MIN_DARK = 0.4
GAMMA_MAX_BRIGHT = 1.5
GAMMA_TOE_SLOPE = 6.0  # the lifted curve rises at most this steeply near black
CLAHE_CLIP_DARK = 2.0
CLAHE_CLIP_BACKLIT = 3.0
CLAHE_TILES = (8, 8)
FLAT_CONTRAST = 2.0 / 255.0  # p95 − p5 below this: a flat frame, left alone


@dataclass(frozen=True)
class PreprocessPlan:
    """What `preprocess` does: a gamma (1.0 = none) then CLAHE on luma (clip 0.0 = none)."""

    gamma: float = 1.0
    clahe_clip: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.gamma == 1.0 and self.clahe_clip == 0.0

    def describe(self) -> str:
        """E.g. "none", "gamma 0.62", "gamma 0.45 + clahe 2.0", "clahe 3.0"."""
        parts = []
        if self.gamma != 1.0:
            parts.append(f"gamma {self.gamma:.2f}")
        if self.clahe_clip > 0.0:
            parts.append(f"clahe {self.clahe_clip:.1f}")
        return " + ".join(parts) or "none"


# plans for a bare state (no statistics to adapt the gamma to)
_DEFAULT_PLANS: dict[LightingState, PreprocessPlan] = {
    LightingState.NORMAL: PreprocessPlan(),
    LightingState.DIM: PreprocessPlan(gamma=0.7),
    LightingState.DARK: PreprocessPlan(gamma=0.5, clahe_clip=CLAHE_CLIP_DARK),
    LightingState.BACKLIT: PreprocessPlan(clahe_clip=CLAHE_CLIP_BACKLIT),
    LightingState.BRIGHT: PreprocessPlan(gamma=1.3),
}


def _gamma_to(p50: float, target: float, low: float, high: float) -> float:
    """The gamma that maps the median `p50` to `target`, clamped, rounded to 0.01."""
    if p50 <= 0.0:
        gamma = low
    elif p50 >= 1.0:
        gamma = high
    else:
        gamma = math.log(target) / math.log(p50)
    return round(min(high, max(low, gamma)), 2)


def plan_preprocessing(state: LightingState, stats: LumaStats | None = None) -> PreprocessPlan:
    """The preprocessing for `state`, its gamma fitted to `stats` when given."""
    if stats is None:
        return _DEFAULT_PLANS[state]
    if stats.contrast < FLAT_CONTRAST:
        return PreprocessPlan()  # a flat frame (all black, all white): nothing to bring out
    if state in (LightingState.NORMAL, LightingState.BACKLIT):
        return _DEFAULT_PLANS[state]
    if state is LightingState.BRIGHT:
        gamma = _gamma_to(stats.p50, GAMMA_TARGET_BRIGHT, 1.0, GAMMA_MAX_BRIGHT)
        return PreprocessPlan(gamma=1.0 if gamma < 1.05 else gamma)
    low = GAMMA_MIN_DARK if state is LightingState.DARK else GAMMA_MIN_DIM
    gamma = _gamma_to(stats.p50, GAMMA_TARGET_DARK, low, 1.0)
    gamma = 1.0 if gamma > 0.95 else gamma
    clip = CLAHE_CLIP_DARK if state is LightingState.DARK else 0.0
    return PreprocessPlan(gamma=gamma, clahe_clip=clip)


@lru_cache(maxsize=64)
def _gamma_lut(gamma: float) -> npt.NDArray[np.uint8]:
    x = np.arange(256, dtype=np.float64) / 255.0
    y = np.power(x, gamma)
    if gamma < 1.0:
        y = np.minimum(y, GAMMA_TOE_SLOPE * x)
    lut = np.clip(np.rint(y * 255.0), 0, 255).astype(np.uint8)
    lut.setflags(write=False)
    return lut


_local = threading.local()


def _clahe(clip: float) -> Any:
    cache: dict[float, Any] | None = getattr(_local, "clahe", None)
    if cache is None:
        cache = _local.clahe = {}
    if clip not in cache:
        cache[clip] = cv2.createCLAHE(clipLimit=clip, tileGridSize=CLAHE_TILES)
    return cache[clip]


class Planned(Protocol):
    """Anything that carries a plan (`inference.lighting.tracker.LightingReport`)."""

    @property
    def preprocessing(self) -> PreprocessPlan: ...


def preprocess(
    frame: npt.NDArray[np.uint8],
    how: Planned | LightingState | PreprocessPlan,
) -> npt.NDArray[np.uint8]:
    """The frame the models should see. Returns `frame` itself when nothing is to be done
    (NORMAL light); otherwise a new array of the same shape. Never modifies `frame`."""
    check_frame(frame)
    if isinstance(how, LightingState):
        plan = _DEFAULT_PLANS[how]
    elif isinstance(how, PreprocessPlan):
        plan = how
    else:
        plan = how.preprocessing
    if plan.is_identity:
        return frame
    out = frame
    if plan.gamma != 1.0:
        out = as_u8(cv2.LUT(np.ascontiguousarray(out), _gamma_lut(plan.gamma)))
    if plan.clahe_clip > 0.0:
        ycrcb = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2YCrCb)
        luma = np.ascontiguousarray(ycrcb[:, :, 0])
        ycrcb[:, :, 0] = _clahe(plan.clahe_clip).apply(luma)
        out = as_u8(cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB))
    return out
