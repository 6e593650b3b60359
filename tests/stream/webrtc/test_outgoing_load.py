"""The outgoing video gets lighter step by step when its frames leave late, and back when calm
(injected clock: no sleeping, no dependence on the machine's speed)."""

from __future__ import annotations

import pytest

from stream.webrtc.outgoing_load import MAX_LEVEL, LoadSettings, OutgoingLoad


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _frames(load: OutgoingLoad, clock: Clock, delay_s: float, seconds: float) -> list[int]:
    """15 fps for `seconds`, each frame `delay_s` late; the levels changed to, in order."""
    changes = []
    for _ in range(round(seconds * 15)):
        clock.now += 1 / 15
        level = load.frame_out(delay_s)
        if level is not None:
            changes.append(level)
    return changes


def test_late_frames_step_down_one_level_at_a_time_and_calm_steps_back() -> None:
    clock = Clock()
    load = OutgoingLoad(LoadSettings(min_step_s=3.0, calm_s=5.0), clock)
    assert _frames(load, clock, 0.02, 10) == []  # on time: full
    assert _frames(load, clock, 0.2, 2.0) == [1]  # late: one step lighter...
    assert _frames(load, clock, 0.2, 1.0) == []  # ...and no second step within min_step_s
    assert _frames(load, clock, 0.2, 4.0) == [2]
    assert _frames(load, clock, 0.2, 10) == [], "never lighter than the last level"
    assert load.level == MAX_LEVEL
    # calm again: one level back per calm_s, never at once
    changes = _frames(load, clock, 0.01, 7.0)
    assert changes == [1]
    assert _frames(load, clock, 0.01, 7.0) == [0]


def test_a_delay_between_calm_and_busy_holds_the_level() -> None:
    clock = Clock()
    load = OutgoingLoad(LoadSettings(min_step_s=0.0), clock)
    assert _frames(load, clock, 0.3, 2.0) == [1, 2]
    assert _frames(load, clock, 0.05, 30.0) == []  # 50 ms: neither late nor calm
    assert load.level == 2


def test_dropped_camera_frames_count_as_late_ones() -> None:
    clock = Clock()
    load = OutgoingLoad(LoadSettings(min_step_s=0.0), clock)
    levels = []
    for _ in range(30):
        clock.now += 1 / 15
        levels.append(load.dropped())
    assert 1 in levels


@pytest.mark.parametrize(
    "changes", [{"calm_delay_s": 0.1, "busy_delay_s": 0.05}, {"smoothing": 0.0}, {"calm_s": -1}]
)
def test_settings_are_checked(changes: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LoadSettings(**changes)
