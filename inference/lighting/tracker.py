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

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.lighting.luma import LumaStats, measure
from inference.lighting.preprocessing import PreprocessPlan, plan_preprocessing
from inference.lighting.states import (
    LightingState,
    classify,
    darkness,
)
from inference.lighting.thresholds import (
    LightingSettings,
    Thresholds,
    threshold_darkness,
)

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
