"""Lighting: statistics, states, hysteresis, preprocessing and thresholds on real photos.

The photos come from skimage.data; darkened (×factor + a little sensor noise), brightened
(gamma 0.5) and backlit (the subject darkened in the centre, the surround pushed to near white)
versions stand in for a phone camera in a dim room, in sunlight and against a window.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from skimage import data

from inference.lighting.luma import LumaStats, measure
from inference.lighting.preprocessing import PreprocessPlan, plan_preprocessing, preprocess
from inference.lighting.states import BRIGHT_AT, DARK_AT, DIM_AT, LightingState, classify, darkness
from inference.lighting.thresholds import Curve, LightingSettings, ThresholdCurves
from inference.lighting.tracker import LightingReport, LightingTracker, assess

Frame = npt.NDArray[np.uint8]
DARK = LightingState.DARK
DIM = LightingState.DIM
NORMAL = LightingState.NORMAL
BRIGHT = LightingState.BRIGHT
BACKLIT = LightingState.BACKLIT

_PHOTOS: dict[str, Callable[[], Frame]] = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "chelsea": data.chelsea,
    "motorcycle": lambda: data.stereo_motorcycle()[0],
    "rocket": data.rocket,  # a launch pad at dusk: genuinely dim light
}
WELL_LIT = ["astronaut", "coffee", "chelsea", "motorcycle"]


def photo(name: str) -> Frame:
    return np.ascontiguousarray(_PHOTOS[name](), dtype=np.uint8)


def darkened(frame: Frame, factor: float, noise: float = 2.0, seed: int = 0) -> Frame:
    """Less light: scale the pixel values, add a little sensor noise (σ in levels)."""
    rng = np.random.default_rng(seed)
    out = frame.astype(np.float64) * factor + rng.normal(0.0, noise, frame.shape)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def brightened(frame: Frame, gamma: float = 0.5) -> Frame:
    """Overexposed: gamma < 1 on the encoded values, clipped."""
    out = 255.0 * (frame.astype(np.float64) / 255.0) ** gamma
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def backlit(frame: Frame) -> Frame:
    """A subject (an ellipse in the centre) in shadow against a near-white surround."""
    height, width = frame.shape[:2]
    rows, cols = np.mgrid[:height, :width]
    subject = ((rows - 0.55 * height) / (0.38 * height)) ** 2 + (
        (cols - 0.5 * width) / (0.3 * width)
    ) ** 2 <= 1.0
    pixels = frame.astype(np.float64)
    out = 255.0 - (255.0 - pixels) * 0.15
    out[subject] = pixels[subject] * 0.3
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def luma(frame: Frame) -> npt.NDArray[np.float64]:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0


def at_darkness(frame: Frame, target: float) -> Frame:
    """`frame` scaled (no noise) until its measured darkness is as close to `target` as can be."""
    low, high = 0.0, 1.0  # scale factors: darker ... brighter
    best = frame
    for _ in range(30):
        middle = (low + high) / 2.0
        best = darkened(frame, middle, noise=0.0)
        if darkness(measure(best)) > target:
            low = middle
        else:
            high = middle
    return best


# -- states ------------------------------------------------------------------------------------

STATE_CASES = [
    *[(name, "as shot", NORMAL) for name in WELL_LIT],
    ("rocket", "as shot", DIM),
    *[(name, "×0.35", DIM) for name in WELL_LIT],
    *[(name, "×0.2", DARK) for name in WELL_LIT],
    *[(name, "×0.15", DARK) for name in [*WELL_LIT, "rocket"]],
    *[(name, "gamma 0.5", BRIGHT) for name in WELL_LIT],
    *[(name, "backlit", BACKLIT) for name in [*WELL_LIT, "rocket"]],
]

_VERSIONS: dict[str, Callable[[Frame], Frame]] = {
    "as shot": lambda frame: frame,
    "×0.35": lambda frame: darkened(frame, 0.35),
    "×0.2": lambda frame: darkened(frame, 0.2),
    "×0.15": lambda frame: darkened(frame, 0.15),
    "gamma 0.5": brightened,
    "backlit": backlit,
}


@pytest.mark.parametrize(("name", "version", "expected"), STATE_CASES)
def test_state_of_real_photos(name: str, version: str, expected: LightingState) -> None:
    frame = _VERSIONS[version](photo(name))
    stats = measure(frame)
    assert classify(stats) is expected, (stats, darkness(stats))
    # a tracker takes the first frame as it is; a one-shot assessment agrees
    assert LightingTracker().update(frame).state is expected
    assert assess(frame).state is expected


@pytest.mark.parametrize("name", WELL_LIT)
@pytest.mark.parametrize("factor", [0.15, 0.2, 0.25, 0.3, 0.35])
def test_darkened_photos_are_dim_or_dark(name: str, factor: float) -> None:
    assert classify(measure(darkened(photo(name), factor))) in (DIM, DARK)


def test_darker_never_means_a_lighter_state() -> None:
    order = [BRIGHT, NORMAL, DIM, DARK]
    for name in WELL_LIT:
        states = [
            classify(measure(darkened(photo(name), f)))
            for f in (1.0, 0.8, 0.6, 0.45, 0.35, 0.25, 0.15, 0.1)
        ]
        ranks = [order.index(state) for state in states]
        assert ranks == sorted(ranks), (name, states)
        assert states[0] is NORMAL and states[-1] is DARK


def test_grain_alone_never_makes_a_frame_dark() -> None:
    frame = photo("chelsea")
    grainy = darkened(frame, 1.0, noise=40.0)
    clean, noisy = measure(frame), measure(grainy)
    assert noisy.noise > 3 * clean.noise
    assert darkness(noisy) > darkness(clean)
    assert classify(noisy) in (NORMAL, DIM)


# -- statistics ---------------------------------------------------------------------------------


def test_stats_of_a_flat_grey_frame() -> None:
    stats = measure(np.full((480, 640, 3), 128, dtype=np.uint8))
    for value in (stats.mean, stats.p5, stats.p50, stats.p95, stats.centre_mean, stats.border_mean):
        assert value == pytest.approx(128 / 255, abs=1e-6)
    assert stats.contrast == 0.0 and stats.std == pytest.approx(0.0, abs=1e-6)
    assert stats.noise == 0.0


def test_stats_match_full_resolution_luma() -> None:
    frame = photo("astronaut")
    stats, full = measure(frame), luma(frame)
    assert stats.mean == pytest.approx(full.mean(), abs=0.005)
    assert stats.std == pytest.approx(full.std(), abs=0.02)
    for value, q in ((stats.p5, 5), (stats.p50, 50), (stats.p95, 95)):
        assert value == pytest.approx(np.percentile(full, q), abs=0.03)
    assert stats.contrast == pytest.approx(stats.p95 - stats.p5)
    assert 0.0 <= stats.p5 <= stats.p50 <= stats.p95 <= 1.0


@pytest.mark.parametrize("sigma", [4.0, 8.0, 16.0])
def test_noise_estimate_follows_added_noise(sigma: float) -> None:
    frame = darkened(photo("chelsea"), 0.6, noise=sigma)
    # independent noise per channel: luma noise σ · |(0.299, 0.587, 0.114)|
    expected = sigma * float(np.linalg.norm([0.299, 0.587, 0.114])) / 255.0
    assert measure(frame).noise == pytest.approx(expected, rel=0.3)


@pytest.mark.parametrize("name", WELL_LIT)
def test_clean_photos_measure_little_noise(name: str) -> None:
    assert measure(photo(name)).noise < 0.02


def test_backlight_shows_in_centre_and_border() -> None:
    stats = measure(backlit(photo("coffee")))
    assert stats.border_mean > 0.7 and stats.centre_mean < 0.25


# -- preprocessing ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", WELL_LIT)
def test_normal_frames_pass_through_untouched(name: str) -> None:
    frame = photo(name)
    before = frame.copy()
    report = LightingTracker().update(frame)
    assert report.state is NORMAL and report.preprocessing.describe() == "none"
    assert preprocess(frame, report) is frame
    assert preprocess(frame, NORMAL) is frame
    assert preprocess(frame, PreprocessPlan()) is frame
    assert np.array_equal(frame, before)


@pytest.mark.parametrize("name", [*WELL_LIT, "rocket"])
@pytest.mark.parametrize("factor", [0.15, 0.25, 0.35])
def test_preprocessing_raises_contrast_in_dark_frames(name: str, factor: float) -> None:
    frame = darkened(photo(name), factor)
    before = frame.copy()
    report = assess(frame)
    assert report.state in (DIM, DARK)
    lifted = preprocess(frame, report)
    assert lifted is not frame and lifted.shape == frame.shape and lifted.dtype == np.uint8
    assert np.array_equal(frame, before), "the camera frame must not be modified"
    old, new = luma(frame), luma(lifted)
    assert new.std() > 1.3 * old.std()
    spread = np.percentile(new, 95) - np.percentile(new, 5)
    assert spread > 1.3 * (np.percentile(old, 95) - np.percentile(old, 5))
    assert new.mean() > old.mean()
    # preprocessed, the frame no longer looks dark
    assert darkness(measure(lifted)) < darkness(report.stats)


def test_dark_frames_get_gamma_and_clahe_dim_frames_gamma_only() -> None:
    dim = assess(darkened(photo("coffee"), 0.35))
    dark = assess(darkened(photo("coffee"), 0.15))
    assert dim.state is DIM and dim.preprocessing.clahe_clip == 0.0
    assert 0.5 <= dim.preprocessing.gamma < 1.0
    assert dark.state is DARK and dark.preprocessing.clahe_clip > 0.0
    assert 0.4 <= dark.preprocessing.gamma < dim.preprocessing.gamma
    assert (
        dark.preprocessing.describe().startswith("gamma 0.")
        and "clahe" in dark.to_dict()["preprocessing"]
    )


@pytest.mark.parametrize("name", WELL_LIT)
def test_backlit_preprocessing_lifts_the_subject(name: str) -> None:
    frame = backlit(photo(name))
    report = assess(frame)
    assert report.preprocessing == PreprocessPlan(clahe_clip=report.preprocessing.clahe_clip)
    after = measure(preprocess(frame, report))
    assert after.centre_mean > report.stats.centre_mean + 0.05
    assert after.border_mean > report.stats.border_mean - 0.1  # the surround is not crushed


@pytest.mark.parametrize("name", WELL_LIT)
def test_bright_preprocessing_restores_mid_tones(name: str) -> None:
    frame = brightened(photo(name))
    report = assess(frame)
    assert report.state is BRIGHT and 1.0 < report.preprocessing.gamma <= 1.5
    assert measure(preprocess(frame, report)).mean < report.stats.mean


def test_preprocessing_can_be_switched_off() -> None:
    frame = darkened(photo("astronaut"), 0.15)
    report = LightingTracker(LightingSettings(preprocess=False)).update(frame)
    assert report.state is DARK and report.preprocessing.describe() == "none"
    assert preprocess(frame, report) is frame
    assert report.thresholds.box < 0.35  # the thresholds still adapt


@pytest.mark.parametrize("state", list(LightingState))
def test_a_bare_state_has_a_default_plan(state: LightingState) -> None:
    frame = darkened(photo("chelsea"), 0.3)
    out = preprocess(frame, state)
    assert (out is frame) == (state is NORMAL)
    assert (plan_preprocessing(state).describe() == "none") == (state is NORMAL)


def test_gamma_lift_does_not_blow_up_the_blacks() -> None:
    plan = PreprocessPlan(gamma=0.4)
    ramp = np.repeat(np.arange(256, dtype=np.uint8)[None, :, None], 3, axis=2)
    lifted = preprocess(ramp, plan)[0, :, 0].astype(int)
    assert lifted[0] == 0 and lifted[-1] == 255
    assert np.all(np.diff(lifted) >= 0)
    assert lifted[1] <= 6 and lifted[4] <= 24  # slope capped near black


# -- thresholds ---------------------------------------------------------------------------------

SWEEP = [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1]


@pytest.mark.parametrize("name", [*WELL_LIT, "rocket"])
def test_thresholds_fall_monotonically_with_darkness(name: str) -> None:
    frame = photo(name)
    reports = [assess(darkened(frame, f, seed=i)) for i, f in enumerate(SWEEP)]
    levels = [r.darkness for r in reports]
    assert levels == sorted(levels), "darker frames measure darker"
    for field in ("box", "text", "mask"):
        values = [getattr(r.thresholds, field) for r in reports]
        assert all(b <= a + 1e-9 for a, b in itertools.pairwise(values)), (field, values)
    for r in reports:
        assert 0.22 <= r.thresholds.box <= 0.35
        assert 0.18 <= r.thresholds.text <= 0.25
        assert -0.5 <= r.thresholds.mask <= 0.0
        assert r.thresholds.text <= r.thresholds.box
    assert reports[-1].thresholds.box < reports[0].thresholds.box - 0.05
    assert reports[-1].thresholds.mask < -0.2


@pytest.mark.parametrize("name", WELL_LIT)
def test_normal_light_keeps_the_model_defaults(name: str) -> None:
    thresholds = assess(photo(name)).thresholds
    assert (thresholds.box, thresholds.text, thresholds.mask) == (0.35, 0.25, 0.0)


def test_curves_are_monotonic_and_bounded_over_the_whole_axis() -> None:
    curves = ThresholdCurves()
    grid = np.linspace(-1.0, 1.0, 401)
    for field, low, high in (("box", 0.22, 0.35), ("text", 0.18, 0.25), ("mask", -0.5, 0.2)):
        values = np.array([getattr(curves.at(float(d)), field) for d in grid])
        assert np.all(np.diff(values) <= 1e-12), field
        assert values.min() == pytest.approx(low) and values.max() == pytest.approx(high)
        flat = values[(grid > BRIGHT_AT) & (grid <= DIM_AT)]
        assert np.all(flat == flat[0]), f"{field} is flat in normal light"
    assert curves.at(1.0).mask >= -1.0 and curves.at(-1.0).mask <= 1.0


def test_bright_and_backlit_thresholds() -> None:
    bright = assess(brightened(photo("chelsea")))
    assert bright.thresholds.box == 0.35 and bright.thresholds.text == 0.25
    assert 0.0 < bright.thresholds.mask <= 0.2
    back = assess(backlit(photo("chelsea")))
    dim_band = (ThresholdCurves().at(DARK_AT), ThresholdCurves().at(DIM_AT))
    assert dim_band[0].box <= back.thresholds.box <= dim_band[1].box
    assert dim_band[0].mask <= back.thresholds.mask <= dim_band[1].mask
    assert back.thresholds.box < 0.35  # the subject is dark even though the frame is not


def test_pins_override_the_curves() -> None:
    frame = darkened(photo("coffee"), 0.15)
    free = assess(frame)
    pinned = assess(frame, LightingSettings(box_threshold=0.4, mask_threshold=0.25))
    assert pinned.thresholds.box == 0.4 and pinned.thresholds.mask == 0.25
    assert pinned.thresholds.text == free.thresholds.text  # not pinned: follows the curve
    assert pinned.to_dict()["pinned"] == ["box", "mask"]
    text_only = assess(photo("coffee"), LightingSettings(text_threshold=0.3))
    assert text_only.thresholds.text == 0.3 and text_only.thresholds.box == 0.35
    # an unpinned text threshold never exceeds the box threshold in force
    low_box = assess(photo("coffee"), LightingSettings(box_threshold=0.2))
    assert low_box.thresholds.text == 0.2


@pytest.mark.parametrize(
    "settings",
    [
        {"box_threshold": 1.5},
        {"text_threshold": -0.1},
        {"mask_threshold": 2.0},
        {"box_threshold": float("nan")},
        {"hold_frames": 0},
        {"margin": -0.1},
    ],
)
def test_bad_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LightingSettings(**settings)  # type: ignore[arg-type]


def test_a_curve_that_rises_with_darkness_is_refused() -> None:
    with pytest.raises(ValueError, match="must not rise"):
        Curve(bright=0.35, normal=0.35, dark=0.5)
    with pytest.raises(ValueError, match="mask curve"):
        ThresholdCurves(mask=Curve(bright=3.0, normal=0.0, dark=0.0))


# -- hysteresis ---------------------------------------------------------------------------------


def _state_changes(reports: list[LightingReport]) -> int:
    return sum(a.state is not b.state for a, b in itertools.pairwise(reports))


@pytest.mark.parametrize(
    ("boundary", "low_state", "high_state"),
    [(DIM_AT, NORMAL, DIM), (DARK_AT, DIM, DARK)],
)
@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_alternating_around_a_boundary_does_not_flicker(
    name: str, boundary: float, low_state: LightingState, high_state: LightingState
) -> None:
    frame = photo(name)
    below = at_darkness(frame, boundary - 0.02)
    above = at_darkness(frame, boundary + 0.02)
    assert classify(measure(below)) is low_state and classify(measure(above)) is high_state
    for first in (below, above):
        tracker = LightingTracker()
        sequence = [first, above if first is below else below] * 15
        reports = [tracker.update(f) for f in sequence]
        assert _state_changes(reports) == 0
        assert not any(r.changed for r in reports)


def test_alternating_far_across_a_boundary_does_not_flicker_either() -> None:
    frame = photo("coffee")
    lit, dark = frame, darkened(frame, 0.15)
    tracker = LightingTracker()
    reports = [tracker.update(f) for f in [lit, dark] * 15]
    assert _state_changes(reports) <= 1
    assert {r.state for r in reports} == {NORMAL}


def test_a_drift_within_the_margin_is_held() -> None:
    frame = photo("chelsea")
    tracker = LightingTracker()
    tracker.update(frame)
    inside_margin = at_darkness(frame, DIM_AT + 0.03)
    assert classify(measure(inside_margin)) is DIM
    reports = [tracker.update(inside_margin) for _ in range(10)]
    assert all(r.state is NORMAL and r.indicated is DIM for r in reports)
    assert all(r.thresholds.box == 0.35 for r in reports)


@pytest.mark.parametrize(
    ("version", "expected"),
    [("×0.15", DARK), ("×0.35", DIM), ("gamma 0.5", BRIGHT), ("backlit", BACKLIT)],
)
def test_a_sustained_change_is_followed_within_a_few_frames(
    version: str, expected: LightingState
) -> None:
    frame = photo("astronaut")
    changed = _VERSIONS[version](frame)
    settings = LightingSettings()
    tracker = LightingTracker(settings)
    for _ in range(10):
        assert tracker.update(frame).state is NORMAL
    reports = [tracker.update(changed) for _ in range(10)]
    switched = next(i for i, r in enumerate(reports) if r.state is expected)
    assert switched == settings.hold_frames - 1
    assert reports[switched].changed and _state_changes(reports) == 1
    assert all(r.state is expected for r in reports[switched:])
    back = [tracker.update(frame) for _ in range(10)]
    assert back[settings.hold_frames - 1].state is NORMAL and back[-1].state is NORMAL


def test_tracker_state_reset_and_stats_input() -> None:
    tracker = LightingTracker()
    assert tracker.state is NORMAL and tracker.last is None
    stats = measure(darkened(photo("coffee"), 0.15))
    report = tracker.update(stats)
    assert tracker.state is DARK and tracker.last is report and report.stats is stats
    tracker.reset()
    assert tracker.state is NORMAL and tracker.last is None
    assert tracker.update(photo("coffee")).state is NORMAL  # taken as is after a reset


# -- reports ------------------------------------------------------------------------------------


def test_report_to_dict_is_json_ready_and_rounded() -> None:
    report = LightingTracker().update(darkened(photo("astronaut"), 0.3))
    payload = report.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["state"] == report.state.value == "dim"
    assert set(payload) == {
        "state",
        "indicated",
        "darkness",
        "thresholds",
        "pinned",
        "preprocessing",
        "luma",
    }
    assert set(payload["thresholds"]) == {"box", "text", "mask"}
    assert set(payload["luma"]) >= {"mean", "p5", "p50", "p95", "contrast", "noise"}
    numbers = [payload["darkness"], *payload["thresholds"].values(), *payload["luma"].values()]
    assert all(isinstance(x, float) and round(x, 3) == x for x in numbers)
    assert len(json.dumps(payload)) < 1024


# -- edge cases ---------------------------------------------------------------------------------


def test_all_black_frame() -> None:
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    report = assess(frame)
    assert report.state is DARK and report.darkness == 1.0
    assert report.stats.mean == 0.0 and report.stats.noise == 0.0
    assert report.preprocessing.describe() == "none"  # flat: nothing to bring out
    assert preprocess(frame, report) is frame
    out = preprocess(frame, DARK)  # forced: still nothing invented, no structure, no NaN
    assert out.shape == frame.shape and out.max() == out.min() <= 8
    assert report.thresholds.box == pytest.approx(0.22)


def test_all_white_frame() -> None:
    frame = np.full((480, 640, 3), 255, dtype=np.uint8)
    report = assess(frame)
    assert report.state is BRIGHT and report.darkness == -1.0
    assert preprocess(frame, report) is frame
    assert np.array_equal(preprocess(frame, BRIGHT), frame)  # white stays white


@pytest.mark.parametrize("shape", [(4, 4, 3), (1, 1, 3), (2, 7, 3), (3, 161, 3), (600, 2, 3)])
def test_tiny_and_odd_frames(shape: tuple[int, int, int]) -> None:
    frame = np.random.default_rng(1).integers(0, 60, shape, dtype=np.uint8)
    stats = measure(frame)
    assert all(0.0 <= v <= 1.0 for v in (stats.mean, stats.p50, stats.noise, stats.border_mean))
    for state in LightingState:
        assert preprocess(frame, state).shape == shape
    LightingTracker().update(frame)


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8, 3), dtype=np.float32),
        np.zeros((8, 8, 3), dtype=np.uint16),
        np.zeros((8, 8), dtype=np.uint8),
        np.zeros((8, 8, 4), dtype=np.uint8),
        np.zeros((0, 8, 3), dtype=np.uint8),
        [[0, 0, 0]],
    ],
)
def test_bad_input_is_a_clear_value_error(bad: object) -> None:
    with pytest.raises(ValueError, match="frame"):
        measure(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frame"):
        preprocess(bad, DARK)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="frame"):
        LightingTracker().update(bad)  # type: ignore[arg-type]


def test_non_contiguous_frames_are_fine() -> None:
    frame = photo("chelsea")[:, ::-1]  # a mirrored view, as a selfie camera might deliver
    assert not frame.flags.c_contiguous
    assert measure(frame) == measure(np.ascontiguousarray(frame))
    assert preprocess(darkened(frame, 0.2)[::2], DARK).shape[1] == frame.shape[1]


# -- benchmark (timings printed, never asserted; what is timed is checked) -------------------


def _median_ms(fn: Callable[[], object], repeats: int = 50) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(np.median(times)), float(np.min(times))


def _check_preprocessing(label: str, report: LightingReport, lifted: Frame) -> None:
    """What each lighting's preprocessing must do to the benchmark's 640×480 frame."""
    plan, before, after = report.preprocessing, report.stats, measure(lifted)
    if label == "normal":
        assert plan.is_identity
        return
    assert lifted.shape == (480, 640, 3) and lifted.dtype == np.uint8
    if label in ("dim", "dark"):
        assert plan.gamma < 1.0 and (plan.clahe_clip > 0.0) == (label == "dark"), plan
        assert after.mean > before.mean and darkness(after) < darkness(before)
    elif label == "backlit":
        assert plan.gamma == 1.0 and plan.clahe_clip > 0.0, plan
        assert after.centre_mean > before.centre_mean + 0.05
    else:  # bright
        assert plan.gamma > 1.0 and plan.clahe_clip == 0.0, plan
        assert after.mean < before.mean


def test_benchmark_at_640x480(capsys: pytest.CaptureFixture[str]) -> None:
    base = np.asarray(
        cv2.resize(photo("astronaut"), (640, 480), interpolation=cv2.INTER_AREA), dtype=np.uint8
    )
    frames = {
        "normal": base,
        "dim": darkened(base, 0.35),
        "dark": darkened(base, 0.15),
        "backlit": backlit(base),
        "bright": brightened(base),
    }
    lines = []
    for label, frame in frames.items():
        before = frame.copy()
        report = assess(frame)
        stats: LumaStats = report.stats
        assert report.state.value == label, (label, report.state, darkness(stats))
        lifted = preprocess(frame, report)
        if label == "normal":
            assert lifted is frame, "a normal frame goes to the models as it is"
        else:
            assert lifted is not frame, f"{label}: the frame was not preprocessed"
        _check_preprocessing(label, report, lifted)
        m_med, m_min = _median_ms(lambda f=frame: measure(f))  # type: ignore[misc]
        p_med, p_min = _median_ms(lambda f=frame, r=report: preprocess(f, r))  # type: ignore[misc]
        # the timed calls compute the same results and leave the camera frame alone
        assert measure(frame) == stats
        np.testing.assert_array_equal(preprocess(frame, report), lifted)
        np.testing.assert_array_equal(frame, before)
        lines.append(
            f"{label:8s} {report.state.value:8s} {report.preprocessing.describe():22s} "
            f"measure {m_med:5.2f} ms (min {m_min:4.2f})  "
            f"preprocess {p_med:5.2f} ms (min {p_min:4.2f})  mean {stats.mean:.2f}"
        )
    with capsys.disabled():
        print("\nlighting at 640×480 (median / min of 50):\n" + "\n".join(lines))
