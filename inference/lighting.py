"""Lighting: cheap luma statistics per frame → a lighting state with hysteresis → preprocessing
before the models and the detector/segmenter thresholds, on documented curves.

Pipeline per processed frame (all of it well under a few milliseconds at 640×480)::

    stats  = measure(frame)            # LumaStats, on a ≤160 px wide luma (+ full-res noise strips)
    report = tracker.update(stats)     # LightingReport: state (hysteresis), thresholds, plan
    model_input = preprocess(frame, report)   # the SAME object in normal light, else a new array

The models see `model_input`; the video and the overlays keep the camera's own frame, and the
geometry never changes, so boxes and masks map 1:1 onto it.

Statistics (`LumaStats`, all on a 0..1 scale)
    Luma is BT.601 (cv2 RGB2GRAY) of the gamma-encoded frame, i.e. roughly what a person sees.
    It is shrunk with INTER_AREA to at most 160 px wide (19 200 pixels at 640×480): mean,
    std, p5/p50/p95 come from a 256-bin histogram of that, `contrast` = p95 − p5,
    `centre_mean` is the mean of the central half (in each dimension) and `border_mean` the mean of
    the ring around it. `noise` is Immerkær's estimator (a 3×3 mask that cancels up to
    second-order image structure, σ = median|r| / (6 · 0.6745)) on 16 evenly spaced 3-row strips
    of the FULL-resolution luma: shrinking first would average the grain away (4×4 pixels → σ/4)
    and leave mostly texture.

Darkness (one signed number, `darkness(stats)` in [-1, 1]; 0 = normal, +1 = pitch dark,
-1 = washed out)::

    d = clip((0.36 − mean) / 0.34, 0, 1)        # dark side: 0 at mean ≥ 0.36, 1 at mean 0.02
      + 0.35 · ramp(noise, 0.03 → 0.07)         # grain: phones auto-expose a dim room to a
                                                #   grainy mid-grey, so noise is the tell
      − ramp(mean, 0.45 → 0.85)                 # bright side: 0 at mean ≤ 0.45, -1 at 0.85
    (clipped to [-1, 1]; ramp(x, a → b) = clip((x − a) / (b − a), 0, 1))

    Calibration on skimage.data photos: normal photos have mean luma 0.41-0.51 (d from -0.14
    to 0); the dusk photo `rocket` has 0.24 (d = 0.36, DIM: it is twilight); the same photos
    ×0.35 have 0.14-0.18 (DIM), ×0.2 0.08-0.10 (DARK), gamma 0.5 0.59-0.67 (BRIGHT). Clean
    photos measure noise 0.002-0.007 (the `grass` texture 0.04), below the grain ramp; σ = 20
    levels of RGB noise measures 0.05 (luma σ = 0.67 · RGB σ). Grain alone adds at most 0.35:
    it can make a well-lit-looking frame DIM, never DARK.

States (`classify`): BACKLIT first, then by darkness::

    BACKLIT   border_mean − centre_mean ≥ 0.30 and border_mean ≥ 0.55
              (a subject in the centre much darker than a bright surround: a window, the sky;
              normal photos score ≤ 0.13)
    DARK      d ≥ 0.70          (mean ≲ 0.12 when clean)
    DIM       0.30 ≤ d < 0.70   (mean ≲ 0.26 when clean)
    NORMAL    -0.25 < d < 0.30
    BRIGHT    d ≤ -0.25         (mean ≳ 0.55)

Hysteresis (`LightingTracker`): to leave the state in force a frame must cross the boundary by
`margin` (0.06 in darkness ≈ 0.02 of mean luma, and 0.06 of backlight score), and that must
happen on `hold_frames` (3) consecutive frames; the tracker then takes the state the latest
frame indicates. A frame back inside the current state's (widened) range resets the count, so
a sequence alternating around a boundary never switches, while a real change is followed after
3 frames. The first frame is taken as is.

Thresholds (`ThresholdCurves`): every threshold is a piecewise-linear, NON-INCREASING function of
darkness, flat at the model defaults throughout NORMAL, ramping linearly from the DIM boundary
(d = 0.30) to pitch dark (d = 1) and from the BRIGHT boundary (d = -0.25) to d = -1::

    darkness d      -1 (washed out)  BRIGHT edge..DIM edge  0.50   0.70 (DARK edge)  1.0
    box              0.35             0.35                   0.313  0.276             0.22
    text             0.25             0.25                   0.230  0.210             0.18
    mask (logit)    +0.20             0.00                  -0.143 -0.286            -0.50

    Why: Grounding DINO's scores drop in low light (less contrast, more noise, even after the
    preprocessing below), so fixed 0.35/0.25 thresholds would drop real objects in a dim room;
    the floors 0.22 and 0.18 bound how far we trade that against false positives. (These numbers
    are reasoned defaults, not yet fitted on real low-light footage with the real checkpoints;
    that is what the pins are for.) An unpinned text threshold never exceeds the box threshold
    in force: a kept box's best word scores at most the box score, so a higher text threshold
    would silently drop boxes the box threshold let through. SAM's mask logits near object
    edges weaken in the dark, so masks shrink and break up; a negative logit threshold (≥ -0.5,
    well inside the ±1 sane bounds) keeps them whole. In washed-out frames masks tend to bleed
    into blown highlights, so the threshold rises a little (≤ +0.2); box/text stay at the
    defaults there: bright light is the detector's home ground and the gamma below restores
    mid-tones. Every curve being non-increasing means "darker never makes a threshold stricter".

    The darkness fed to the curves is clamped to the band of the state in force, so the
    thresholds never contradict the state shown (NORMAL ⇒ exactly the defaults) and inherit its
    hysteresis; inside a band they glide with the light. BACKLIT uses the darkness of the
    subject (the centre's mean luma), clamped to the DIM band: the detector must find a dark
    subject, but the frame is not dark. `LightingSettings` can pin any threshold (a number
    replaces the curve; pins must lie in [0, 1] for box/text, [-1, 1] for mask).

Preprocessing (`plan_preprocessing`, `preprocess`)::

    NORMAL    none: the input object itself is returned (no copy, no cost)
    DIM       gamma lift g = log(0.40) / log(p50) in [0.5, 1]: the median goes to 0.40
              (skipped when g > 0.95, e.g. a grainy but well-exposed frame)
    DARK      gamma lift as above with g in [0.4, 1], then CLAHE (clip 2.0, 8×8 tiles) on luma
    BACKLIT   CLAHE (clip 3.0, 8×8 tiles) on luma: lifts the shadowed subject locally without
              blowing out the already bright surround (a global gamma would)
    BRIGHT    mild gamma g = log(0.45) / log(p50) in [1, 1.5] (skipped below 1.05)
    any       none for a flat frame (p95 − p5 < 2/255: all black, all white): there is nothing
              to bring out, and CLAHE would only turn black into an even dark grey

    The gamma curve is a 256-entry LUT applied to R, G and B (the tone curve a camera applies;
    lifting Y alone would wash colours out), with its slope capped at 6× near black so sensor
    noise and compression blocks in the blacks are not amplified 30×. CLAHE works on Y of
    YCrCb (cheaper than LAB's L, same effect on luma); its objects are cached per thread (cv2's
    CLAHE keeps scratch buffers and is not thread-safe).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.frames import check_frame

__all__ = [
    "BACKLIGHT_BORDER_MIN",
    "BACKLIGHT_SCORE",
    "BRIGHT_AT",
    "DARK_AT",
    "DIM_AT",
    "Curve",
    "LightingReport",
    "LightingSettings",
    "LightingState",
    "LightingTracker",
    "LumaStats",
    "PreprocessPlan",
    "ThresholdCurves",
    "Thresholds",
    "assess",
    "backlight_score",
    "classify",
    "darkness",
    "measure",
    "plan_preprocessing",
    "preprocess",
    "threshold_darkness",
]

# -- statistics ------------------------------------------------------------------------------

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


def _u8(array: Any) -> npt.NDArray[np.uint8]:
    """cv2's results, typed (no copy: they are uint8 already)."""
    return np.asarray(array, dtype=np.uint8)


def measure(frame: npt.NDArray[np.uint8]) -> LumaStats:
    """Luma statistics of an RGB uint8 frame (H, W, 3); ValueError for anything else."""
    check_frame(frame)
    luma = _u8(cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY))
    height, width = luma.shape
    if width > MEASURE_WIDTH:
        small_height = max(1, round(height * MEASURE_WIDTH / width))
        small = _u8(cv2.resize(luma, (MEASURE_WIDTH, small_height), interpolation=cv2.INTER_AREA))
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


# -- darkness and states ----------------------------------------------------------------------

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


# -- thresholds -------------------------------------------------------------------------------

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


# -- preprocessing ----------------------------------------------------------------------------

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


def preprocess(
    frame: npt.NDArray[np.uint8],
    how: LightingReport | LightingState | PreprocessPlan,
) -> npt.NDArray[np.uint8]:
    """The frame the models should see. Returns `frame` itself when nothing is to be done
    (NORMAL light); otherwise a new array of the same shape. Never modifies `frame`."""
    check_frame(frame)
    if isinstance(how, LightingReport):
        plan = how.preprocessing
    elif isinstance(how, LightingState):
        plan = _DEFAULT_PLANS[how]
    else:
        plan = how
    if plan.is_identity:
        return frame
    out = frame
    if plan.gamma != 1.0:
        out = _u8(cv2.LUT(np.ascontiguousarray(out), _gamma_lut(plan.gamma)))
    if plan.clahe_clip > 0.0:
        ycrcb = cv2.cvtColor(np.ascontiguousarray(out), cv2.COLOR_RGB2YCrCb)
        luma = np.ascontiguousarray(ycrcb[:, :, 0])
        ycrcb[:, :, 0] = _clahe(plan.clahe_clip).apply(luma)
        out = _u8(cv2.cvtColor(ycrcb, cv2.COLOR_YCrCb2RGB))
    return out


# -- reports and the tracker ------------------------------------------------------------------


@dataclass(frozen=True)
class LightingReport:
    """The lighting of one frame as the pipeline uses it.

    state:         the state in force (after hysteresis)
    indicated:     what this frame alone indicates (plain `classify`)
    stats:         the frame's luma statistics
    darkness:      the frame's darkness (`darkness(stats)`)
    thresholds:    the thresholds in force (curves at the state's darkness, then pins)
    pinned:        names of the pinned thresholds
    preprocessing: what `preprocess(frame, report)` does
    changed:       the state switched on this frame
    """

    state: LightingState
    indicated: LightingState
    stats: LumaStats
    darkness: float
    thresholds: Thresholds
    pinned: tuple[str, ...]
    preprocessing: PreprocessPlan
    changed: bool = False

    def to_dict(self, digits: int = 3) -> dict[str, Any]:
        """JSON-ready (plain types, rounded floats) for the `stats` message and still images."""
        return {
            "state": self.state.value,
            "indicated": self.indicated.value,
            "darkness": round(self.darkness, digits),
            "thresholds": self.thresholds.to_dict(digits),
            "pinned": list(self.pinned),
            "preprocessing": self.preprocessing.describe(),
            "luma": self.stats.to_dict(digits),
        }


def _report(
    state: LightingState,
    stats: LumaStats,
    settings: LightingSettings,
    changed: bool,
) -> LightingReport:
    plan = plan_preprocessing(state, stats) if settings.preprocess else PreprocessPlan()
    return LightingReport(
        state=state,
        indicated=classify(stats),
        stats=stats,
        darkness=darkness(stats),
        thresholds=settings.thresholds_at(threshold_darkness(state, stats)),
        pinned=tuple(settings.pinned),
        preprocessing=plan,
        changed=changed,
    )


def _stats_of(frame_or_stats: npt.NDArray[np.uint8] | LumaStats) -> LumaStats:
    return frame_or_stats if isinstance(frame_or_stats, LumaStats) else measure(frame_or_stats)


def assess(
    frame_or_stats: npt.NDArray[np.uint8] | LumaStats,
    settings: LightingSettings | None = None,
) -> LightingReport:
    """One frame on its own (a still image): no history, no hysteresis."""
    stats = _stats_of(frame_or_stats)
    return _report(classify(stats), stats, settings or LightingSettings(), changed=False)


class LightingTracker:
    """The lighting of a stream: `update(frame)` per processed frame, with hysteresis.

    Not thread-safe: one tracker per session, updated by whoever processes its frames.
    """

    def __init__(self, settings: LightingSettings | None = None) -> None:
        self.settings = settings or LightingSettings()
        self._state: LightingState | None = None
        self._against = 0  # consecutive frames that indicated a change
        self._last: LightingReport | None = None

    @property
    def state(self) -> LightingState:
        """The state in force (NORMAL before the first frame)."""
        return self._state or LightingState.NORMAL

    @property
    def last(self) -> LightingReport | None:
        """The latest report, None before the first frame."""
        return self._last

    def reset(self) -> None:
        """Forget the history: the next frame is taken as is."""
        self._state = None
        self._against = 0
        self._last = None

    def update(self, frame_or_stats: npt.NDArray[np.uint8] | LumaStats) -> LightingReport:
        """Measure (unless given statistics), apply hysteresis, return the report."""
        stats = _stats_of(frame_or_stats)
        settings = self.settings
        changed = False
        if self._state is None:
            self._state = classify(stats)
        else:
            candidate = classify(stats, current=self._state, margin=settings.margin)
            if candidate is self._state:
                self._against = 0
            else:
                self._against += 1
                if self._against >= settings.hold_frames:
                    self._state = candidate
                    self._against = 0
                    changed = True
        report = _report(self._state, stats, settings, changed)
        self._last = report
        return report
