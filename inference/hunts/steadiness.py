"""When a thing counts as found: seen on enough processed frames, over about a second, each time
with a score the lighting's thresholds trust, with no long gap. A detection that flickers on one
frame (a shadow taken for a cup) never counts: a child is told "You found it!" only when the
thing is really there.

Time comes from the caller (the frame's clock), so tests replay any pace without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from inference.live.results import SeenObject


@dataclass(frozen=True)
class SteadinessSettings:
    """steady_s:   the thing must be seen over at least this long
    min_frames: on at least this many processed frames (a slow server still needs several)
    max_gap_s:  a gap longer than this between sightings starts the count again
    min_score:  a floor under the lighting's box threshold (scores below never count)
    """

    steady_s: float = 1.0
    min_frames: int = 3
    max_gap_s: float = 0.6
    min_score: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 < self.steady_s <= 10.0:
            raise ValueError(f"steady_s must lie in (0, 10], got {self.steady_s}")
        if self.min_frames < 2:
            raise ValueError(f"min_frames must be at least 2, got {self.min_frames}")
        if not 0.0 < self.max_gap_s <= self.steady_s:
            raise ValueError(f"max_gap_s must lie in (0, steady_s], got {self.max_gap_s}")
        if not 0.0 <= self.min_score <= 1.0:
            raise ValueError(f"min_score must lie in [0, 1], got {self.min_score}")


class SteadySighting:
    """Watches one word across frames; `observe` says which object made it found.

    Call `observe(now, objects, box_threshold)` once per processed frame, in time order, with
    every object on that frame and the detector's box threshold for the frame's lighting.
    """

    def __init__(self, word: str, settings: SteadinessSettings | None = None) -> None:
        self.word = word
        self.settings = settings or SteadinessSettings()
        self._since: float | None = None  # the first sighting of this run
        self._last: float | None = None
        self._frames = 0

    def reset(self) -> None:
        self._since = self._last = None
        self._frames = 0

    @property
    def frames(self) -> int:
        """Frames in the current run of sightings (0: not seen lately)."""
        return self._frames

    def observe(
        self, now: float, objects: Iterable[SeenObject], box_threshold: float
    ) -> SeenObject | None:
        """The best-scored object that is the word on this frame once the run is steady
        enough; None otherwise."""
        floor = max(box_threshold, self.settings.min_score)
        matching = [o for o in objects if o.label == self.word and o.score >= floor]
        if self._last is not None and now - self._last > self.settings.max_gap_s:
            self.reset()  # gone too long: a new sighting starts from nothing
        if not matching:
            return None
        if self._since is None:
            self._since = now
        self._last = now
        self._frames += 1
        steady = now - self._since >= self.settings.steady_s
        if steady and self._frames >= self.settings.min_frames:
            return max(matching, key=lambda o: o.score)
        return None
