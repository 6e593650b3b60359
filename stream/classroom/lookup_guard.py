"""Rate limits on finding out whether a room exists (per client address, and a budget of misses
for the whole server), so that six-letter codes cannot be enumerated."""

from __future__ import annotations

import math
import time
from collections import OrderedDict

from stream.edge.rate_limits import Clock, TokenBucket


class LookupGuard:
    """Rate limits on finding out whether a room exists (per client address, and a budget of
    misses for the whole server), from `TokenBucket`s on an injectable clock.

    Every lookup takes a token from the address's bucket (`per_address_per_s`, `burst`);
    a miss (no such room, or an ended one: they answer alike) also takes one from the
    address's miss bucket and from the global miss bucket. While any of them is empty the
    lookup is refused before the store is asked: `check` returns the seconds to wait
    (Retry-After). With the global budget spent, every address waits: that is the price of
    many addresses guessing at once, paid with slower joins rather than a found room.
    """

    def __init__(
        self,
        *,
        per_address_per_s: float = 1.0,
        burst: float = 30.0,
        misses_per_address_per_s: float = 1 / 30,
        miss_burst: float = 10.0,
        global_misses_per_s: float = 1.0,
        global_miss_burst: float = 100.0,
        max_addresses: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        self._clock = clock
        self._rates = (per_address_per_s, burst, misses_per_address_per_s, miss_burst)
        self.max_addresses = max_addresses
        self._global_misses = TokenBucket(global_misses_per_s, global_miss_burst, clock)
        # address → (lookups, misses), most recently seen last
        self._addresses: OrderedDict[str, tuple[TokenBucket, TokenBucket]] = OrderedDict()

    def _buckets(self, address: str) -> tuple[TokenBucket, TokenBucket]:
        buckets = self._addresses.pop(address, None)
        if buckets is None:
            rate, burst, miss_rate, miss_burst = self._rates
            buckets = (
                TokenBucket(rate, burst, self._clock),
                TokenBucket(miss_rate, miss_burst, self._clock),
            )
            while len(self._addresses) >= self.max_addresses:
                self._addresses.popitem(last=False)
        self._addresses[address] = buckets
        return buckets

    def check(self, address: str, *, count: bool = True) -> int | None:
        """None when `address` may look a room up now (a token taken when `count`), else the
        whole seconds to wait. (A logged-in teacher is not checked at all: `room_api`.)"""
        lookups, misses = self._buckets(address)
        waits = [bucket.wait_s() for bucket in (self._global_misses, misses)]
        if count and not lookups.take():
            waits.append(lookups.wait_s())
        wait = max(waits)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def miss(self, address: str) -> None:
        self._buckets(address)[1].take()
        self._global_misses.take()
