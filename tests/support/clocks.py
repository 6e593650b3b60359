"""A clock only the test moves, for the limits, tokens and buckets that take one."""

from __future__ import annotations


class FakeClock:
    """Returns `now` when called (like `time.monotonic`); a test advances it by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
