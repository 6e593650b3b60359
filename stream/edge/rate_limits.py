"""How often a client may do something: the one place for every rate limit.

`TokenBucket`: a phone's data-channel messages and word changes (a rate with a burst).
`RateLimiter`: at most N events per key in any window (offers and `/api/ice` per address,
teacher logins per address, 📸 per session).

    bucket = TokenBucket(rate=20, burst=40)     # 20 a second on average, 40 at once
    if not bucket.take():
        ...                                      # over the limit: drop it

A bucket holds at most `burst` tokens and gains `rate` tokens a second; each allowed event
takes one. Used per session on the event loop (no lock: one thread). The clock is injectable
(monotonic seconds) so tests need no sleeping.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


class TokenBucket:
    """`rate` events a second on average, up to `burst` at once; starts full."""

    __slots__ = ("_clock", "_stamp", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number, got {rate}")
        if not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"burst must be at least 1, got {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._stamp)  # a clock that goes back gives nothing
        self._stamp = now
        self._tokens = min(self.burst, self._tokens + elapsed * self.rate)

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens

    def take(self, n: float = 1.0) -> bool:
        """Take `n` tokens if there are that many; returns whether the event is allowed."""
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def wait_s(self, n: float = 1.0) -> float:
        """Seconds until `n` tokens will be there (0: now)."""
        self._refill()
        return max(0.0, (n - self._tokens) / self.rate)


@dataclass(frozen=True)
class MessageLimits:
    """What one phone may send on its data channel.

    messages_per_s, message_burst      every message (a flood is dropped, answered `rate_limited`)
    vocabulary_per_s, vocabulary_burst vocabulary changes (the detector's text side is costly);
                                       one over the limit waits, the newest wins
    error_replies_per_s                `rate_limited` replies at most this often
    """

    messages_per_s: float = 20.0
    message_burst: float = 40.0
    vocabulary_per_s: float = 1.0
    vocabulary_burst: float = 3.0
    error_replies_per_s: float = 1.0

    def __post_init__(self) -> None:
        for name in ("messages_per_s", "vocabulary_per_s", "error_replies_per_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value}")
        for name in ("message_burst", "vocabulary_burst"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 1):
                raise ValueError(f"{name} must be at least 1, got {value}")


class RateLimiter:
    """At most `limit` events per `window_s` per key, in a sliding window; 0 disables it.

    A refused event is not counted, so a client that waits `wait_s` gets back in. At most
    `max_keys` keys are remembered (the stalest go first): memory stays bounded under a flood
    of addresses. The clock is injectable (monotonic seconds)."""

    def __init__(
        self,
        limit: int,
        window_s: float = 60.0,
        max_keys: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self.limit, self.window_s, self.max_keys = limit, window_s, max_keys
        self._clock = clock
        self._events: OrderedDict[str, deque[float]] = OrderedDict()  # stalest first

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one event for `key` if the window has room; whether it had."""
        if self.limit <= 0:
            return True
        now = self._clock() if now is None else now
        events = self._recent(key, now)
        if len(events) >= self.limit:
            return False
        events.append(now)
        return True

    def wait_s(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` may act again (0: now)."""
        if self.limit <= 0:
            return 0.0
        now = self._clock() if now is None else now
        events = self._recent(key, now)
        return 0.0 if len(events) < self.limit else events[0] + self.window_s - now

    def _recent(self, key: str, now: float) -> deque[float]:
        events = self._events.pop(key, None)
        if events is None:
            events = deque()
        while events and now - events[0] >= self.window_s:
            events.popleft()
        self._events[key] = events  # now the most recently seen key
        while len(self._events) > self.max_keys:
            self._events.popitem(last=False)
        return events
