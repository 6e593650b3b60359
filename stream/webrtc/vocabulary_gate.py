"""A phone's word changes, within its rate limit: new words now, or (over the limit) as soon as
the token bucket allows. The newest change waits; one it overtakes is dropped and counted.
Runs on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from stream.edge.rate_limits import TokenBucket
from stream.webrtc.protocol import VocabularyMessage


class VocabularyGate:
    """`apply(message)` sets the words (its exceptions go to `failed` when it ran late);
    `overtaken()` counts a change that never applied; `live()` is False once the session closed."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        bucket: TokenBucket,
        apply: Callable[[VocabularyMessage], None],
        overtaken: Callable[[], None],
        failed: Callable[[VocabularyMessage], None],
        live: Callable[[], bool],
    ) -> None:
        self._loop = loop
        self._bucket = bucket
        self._apply = apply
        self._overtaken = overtaken
        self._failed = failed
        self._live = live
        self._waiting: VocabularyMessage | None = None
        self._timer: asyncio.TimerHandle | None = None

    def change(self, message: VocabularyMessage) -> None:
        if self._waiting is None and self._bucket.take():
            self._apply(message)
            return
        if self._waiting is not None:
            self._overtaken()
        self._waiting = message
        if self._timer is None:
            self._timer = self._loop.call_later(self._bucket.wait_s(), self._flush)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting = None

    def _flush(self) -> None:
        self._timer = None
        message = self._waiting
        if message is None or not self._live():
            return
        if not self._bucket.take():  # early by a hair: wait the rest
            self._timer = self._loop.call_later(self._bucket.wait_s(), self._flush)
            return
        self._waiting = None
        try:
            self._apply(message)
        except Exception:
            self._failed(message)
