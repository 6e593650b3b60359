"""Detection and mask thresholds that follow the lighting: one curve per threshold over darkness."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from inference.lighting.luma import LumaStats
from inference.lighting.states import (
    _BANDS,
    BRIGHT_AT,
    DIM_AT,
    LightingState,
    _darkness,
    _ramp,
    darkness,
)

BOX_LIMITS = (0.0, 1.0)
TEXT_LIMITS = (0.0, 1.0)
MASK_LIMITS = (-1.0, 1.0)


@dataclass(frozen=True)
class Thresholds:
    """Thresholds in force: detector box and text (probabilities), segmenter mask (a logit)."""

    box: float
    text: float
    mask: float

    def to_dict(self, digits: int = 3) -> dict[str, float]:
        return {
            "box": round(self.box, digits),
            "text": round(self.text, digits),
            "mask": round(self.mask, digits),
        }


@dataclass(frozen=True)
class Curve:
    """One threshold against darkness d: `bright` at d = -1, `normal` from BRIGHT_AT to DIM_AT,
    `dark` at d = +1, linear in between. Must be non-increasing: bright >= normal >= dark."""

    bright: float
    normal: float
    dark: float

    def __post_init__(self) -> None:
        if not self.bright >= self.normal >= self.dark:
            raise ValueError(
                "a threshold curve must not rise with darkness: need bright >= normal >= dark, "
                f"got {self.bright}, {self.normal}, {self.dark}"
            )

    def at(self, d: float) -> float:
        dark = _ramp(d, DIM_AT, 1.0)
        bright = _ramp(-d, -BRIGHT_AT, 1.0)
        return self.normal + (self.dark - self.normal) * dark + (self.bright - self.normal) * bright


def _check_within(name: str, value: float, limits: tuple[float, float]) -> None:
    if not (limits[0] <= value <= limits[1]) or math.isnan(value):
        raise ValueError(f"{name} must lie in [{limits[0]}, {limits[1]}], got {value}")


@dataclass(frozen=True)
class ThresholdCurves:
    """The three curves; defaults are the documented ones (module docstring)."""

    box: Curve = field(default_factory=lambda: Curve(bright=0.35, normal=0.35, dark=0.22))
    text: Curve = field(default_factory=lambda: Curve(bright=0.25, normal=0.25, dark=0.18))
    mask: Curve = field(default_factory=lambda: Curve(bright=0.20, normal=0.0, dark=-0.50))

    def __post_init__(self) -> None:
        for name, curve, limits in (
            ("box", self.box, BOX_LIMITS),
            ("text", self.text, TEXT_LIMITS),
            ("mask", self.mask, MASK_LIMITS),
        ):
            for end in (curve.bright, curve.dark):
                _check_within(f"the {name} curve", end, limits)

    def at(self, d: float) -> Thresholds:
        return Thresholds(box=self.box.at(d), text=self.text.at(d), mask=self.mask.at(d))


@dataclass(frozen=True)
class LightingSettings:
    """How lighting adapts. A threshold set to a number is pinned (the curve is ignored).

    preprocess:  False = never alter the frame (the state and thresholds still adapt)
    hold_frames: consecutive frames that must indicate a change before the state switches
    margin:      how far (darkness units, and luma for the backlight score) a frame must cross
                 a boundary to count against the state in force
    """

    box_threshold: float | None = None
    text_threshold: float | None = None
    mask_threshold: float | None = None
    curves: ThresholdCurves = field(default_factory=ThresholdCurves)
    preprocess: bool = True
    hold_frames: int = 3
    margin: float = 0.06

    def __post_init__(self) -> None:
        for name, value, limits in (
            ("box_threshold", self.box_threshold, BOX_LIMITS),
            ("text_threshold", self.text_threshold, TEXT_LIMITS),
            ("mask_threshold", self.mask_threshold, MASK_LIMITS),
        ):
            if value is not None:
                _check_within(name, float(value), limits)
        if self.hold_frames < 1:
            raise ValueError(f"hold_frames must be >= 1, got {self.hold_frames}")
        if not 0.0 <= self.margin <= 0.5:
            raise ValueError(f"margin must lie in [0, 0.5], got {self.margin}")

    @property
    def pinned(self) -> list[str]:
        """Names of the pinned thresholds ("box", "text", "mask")."""
        pins = (
            ("box", self.box_threshold),
            ("text", self.text_threshold),
            ("mask", self.mask_threshold),
        )
        return [name for name, value in pins if value is not None]

    def thresholds_at(self, d: float) -> Thresholds:
        """The thresholds in force at darkness `d`: the curves, then the pins."""
        curve = self.curves.at(d)
        box = curve.box if self.box_threshold is None else float(self.box_threshold)
        text = curve.text if self.text_threshold is None else float(self.text_threshold)
        if self.text_threshold is None:
            text = min(text, box)
        mask = curve.mask if self.mask_threshold is None else float(self.mask_threshold)
        return Thresholds(
            box=_clip(box, BOX_LIMITS), text=_clip(text, TEXT_LIMITS), mask=_clip(mask, MASK_LIMITS)
        )


def _clip(value: float, limits: tuple[float, float]) -> float:
    return min(limits[1], max(limits[0], value))


def threshold_darkness(state: LightingState, stats: LumaStats) -> float:
    """The darkness the curves are read at: the frame's, clamped to the state's band;
    for BACKLIT the centre's (the subject's), clamped to the DIM band."""
    if state is LightingState.BACKLIT:
        low, high = _BANDS[LightingState.DIM]
        return min(high, max(low, _darkness(stats.centre_mean, stats.noise)))
    low, high = _BANDS[state]
    return min(max(darkness(stats), max(low, -1.0)), min(high, 1.0))
