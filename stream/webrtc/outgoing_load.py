"""How much work each outgoing frame may cost, from how late the frames leave.

On a saturated CPU (several phones on two cores) the returned video, the mask following and the
models all want the same cores. The video is what a child looks at, so when its frames start
leaving late, the session makes them cheaper step by step instead of letting them stall:

    level 0  full: masks followed at full working size, video at the camera's size
    level 1  lighter following: fewer corners on a smaller picture (`LIGHT_FOLLOWING`)
    level 2  and a smaller returned video (at most `SMALL_VIDEO_ROWS` rows): painting and the
             VP8 encoder cost about the pixel count (aiortc encodes every frame in software)

`OutgoingLoad` watches one session: each outgoing frame reports its server delay (camera frame
decoded → the annotated frame handed to the encoder) and each dropped camera frame counts as a
late one. A smoothed delay above `busy_delay_s` moves one level lighter, one below `calm_delay_s`
for `calm_s` moves one level back; at most one change every `min_step_s`, so the video does not
flap between sizes. The clock is injected (tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from inference.live.follow_settings import FollowSettings

LIGHT_FOLLOWING = FollowSettings(max_width=160, max_points=12, pyramid_levels=2)
SMALL_VIDEO_ROWS = 360
MAX_LEVEL = 2


@dataclass(frozen=True)
class LoadSettings:
    busy_delay_s: float = 0.08  # a 15 fps camera gives 67 ms per frame
    calm_delay_s: float = 0.03
    calm_s: float = 5.0
    min_step_s: float = 3.0
    smoothing: float = 0.1  # weight of the newest frame in the smoothed delay
    dropped_delay_s: float = 0.25  # what a dropped camera frame counts as

    def __post_init__(self) -> None:
        if not 0 < self.calm_delay_s < self.busy_delay_s:
            raise ValueError("need 0 < calm_delay_s < busy_delay_s")
        if not 0 < self.smoothing <= 1 or self.calm_s < 0 or self.min_step_s < 0:
            raise ValueError("smoothing must lie in (0, 1]; calm_s and min_step_s >= 0")


class OutgoingLoad:
    """The level (0..MAX_LEVEL) one session's outgoing video should run at. Event loop only."""

    def __init__(
        self, settings: LoadSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or LoadSettings()
        self._clock = clock
        self.level = 0
        self.delay_s = 0.0  # smoothed
        self._changed_at = clock()
        self._calm_since: float | None = None

    def frame_out(self, delay_s: float) -> int | None:
        """One frame left `delay_s` after its camera frame arrived; the new level if it changed."""
        s = self.settings
        self.delay_s += s.smoothing * (delay_s - self.delay_s)
        now = self._clock()
        if self.delay_s < s.calm_delay_s:
            self._calm_since = now if self._calm_since is None else self._calm_since
        else:
            self._calm_since = None
        if now - self._changed_at < s.min_step_s:
            return None
        if self.delay_s > s.busy_delay_s and self.level < MAX_LEVEL:
            return self._change(self.level + 1, now)
        calm = self._calm_since is not None and now - self._calm_since >= s.calm_s
        if calm and self.level > 0:
            return self._change(self.level - 1, now)
        return None

    def dropped(self) -> int | None:
        """A camera frame was dropped before the encoder took it: count it as a late frame."""
        return self.frame_out(self.settings.dropped_delay_s)

    def _change(self, level: int, now: float) -> int:
        self.level, self._changed_at, self._calm_since = level, now, None
        return level
