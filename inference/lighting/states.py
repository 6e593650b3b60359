"""How dark a frame is, and its lighting state (BRIGHT, NORMAL, DIM, DARK, BACKLIT)."""

from __future__ import annotations

import math
from enum import StrEnum

from inference.lighting.luma import LumaStats

DARK_MEAN_ZERO = 0.36  # mean luma at and above which the dark side of darkness is 0
DARK_MEAN_ONE = 0.02  # mean luma at which it is 1
NOISE_RAMP = (0.03, 0.07)  # grain σ from which / up to which it adds to darkness
NOISE_WEIGHT = 0.35  # the most grain can add: enough for DIM, never DARK
BRIGHT_RAMP = (0.45, 0.85)  # mean luma from which / up to which darkness goes 0 → -1

DIM_AT = 0.30  # darkness at and above which the frame is DIM
DARK_AT = 0.70  # ... DARK
BRIGHT_AT = -0.25  # darkness at and below which the frame is BRIGHT
BACKLIGHT_SCORE = 0.30  # border_mean − centre_mean at and above which the frame is BACKLIT ...
BACKLIGHT_BORDER_MIN = 0.55  # ... provided the surround is at least this bright


def _ramp(value: float, start: float, end: float) -> float:
    return min(1.0, max(0.0, (value - start) / (end - start)))


def _darkness(mean: float, noise: float) -> float:
    dark = min(1.0, max(0.0, (DARK_MEAN_ZERO - mean) / (DARK_MEAN_ZERO - DARK_MEAN_ONE)))
    grain = NOISE_WEIGHT * _ramp(noise, *NOISE_RAMP)
    bright = _ramp(mean, *BRIGHT_RAMP)
    return min(1.0, max(-1.0, dark + grain - bright))


def darkness(stats: LumaStats) -> float:
    """Signed darkness in [-1, 1]: 0 normal, +1 pitch dark, -1 washed out (module docstring)."""
    return _darkness(stats.mean, stats.noise)


def backlight_score(stats: LumaStats) -> float:
    """How much brighter the surround is than the centre (luma, -1..1)."""
    return stats.border_mean - stats.centre_mean


class LightingState(StrEnum):
    """The lighting of a frame; the value is what JSON and the page show."""

    DARK = "dark"
    DIM = "dim"
    NORMAL = "normal"
    BRIGHT = "bright"
    BACKLIT = "backlit"


# darkness band of each state on the exposure axis (BACKLIT lies off it)
_BANDS: dict[LightingState, tuple[float, float]] = {
    LightingState.BRIGHT: (-math.inf, BRIGHT_AT),
    LightingState.NORMAL: (BRIGHT_AT, DIM_AT),
    LightingState.DIM: (DIM_AT, DARK_AT),
    LightingState.DARK: (DARK_AT, math.inf),
}


def _by_darkness(d: float) -> LightingState:
    if d >= DARK_AT:
        return LightingState.DARK
    if d >= DIM_AT:
        return LightingState.DIM
    if d <= BRIGHT_AT:
        return LightingState.BRIGHT
    return LightingState.NORMAL


def classify(
    stats: LumaStats, current: LightingState | None = None, margin: float = 0.0
) -> LightingState:
    """The state `stats` indicate. With `current`, leaving it needs a crossing by `margin`.

    Without `current` (or with margin 0) this is the plain, stateless rule of the module
    docstring. With it, the current state's range is widened by `margin` on every side and the
    other states' backlight test is narrowed by it.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    shift = 0.0 if current is None else -margin if current is LightingState.BACKLIT else margin
    if (
        backlight_score(stats) >= BACKLIGHT_SCORE + shift
        and stats.border_mean >= BACKLIGHT_BORDER_MIN + shift
    ):
        return LightingState.BACKLIT
    d = darkness(stats)
    if current is not None and current is not LightingState.BACKLIT:
        low, high = _BANDS[current]
        if low - margin <= d <= high + margin:
            return current
    return _by_darkness(d)
