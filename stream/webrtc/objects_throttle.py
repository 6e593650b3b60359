"""`objects` messages to a phone: only when they changed, at most every `interval_s`.

A change that comes too soon is sent when the interval is up (the newest one by then), so a
phone never sees labels older than one interval, and a busy detector cannot flood the channel.
Runs on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# an `objects` message's fields: {"frame": index, "objects": [...]} (`stream.webrtc.wire`)
ObjectsMessage = dict[str, Any]


class ObjectsThrottle:
    """`send(message)` returns whether the message went out; `live()` says whether a message
    that waited may still go (the session is open and not paused)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        interval_s: float,
        send: Callable[[ObjectsMessage], bool],
        live: Callable[[], bool],
    ) -> None:
        self._loop = loop
        self._interval_s = interval_s
        self._send = send
        self._live = live
        self._sent: list[dict[str, Any]] | None = None
        self._sent_at = float("-inf")
        self._pending: ObjectsMessage | None = None
        self._timer: asyncio.TimerHandle | None = None

    def offer(self, message: ObjectsMessage) -> None:
        """`message`'s objects go out now, at the end of the interval, or not at all (unchanged
        since the last sent)."""
        if message["objects"] == self._sent:
            return
        wait = self._sent_at + self._interval_s - self._loop.time()
        if wait <= 0:
            self._go(message)
            return
        self._pending = message
        if self._timer is None:
            self._timer = self._loop.call_later(wait, self._flush)

    def forget_sent(self) -> None:
        """New words: the next objects go out whatever they are."""
        self._sent = None

    def stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _flush(self) -> None:
        self._timer = None
        pending, self._pending = self._pending, None
        if pending is not None and self._live() and pending["objects"] != self._sent:
            self._go(pending)

    def _go(self, message: ObjectsMessage) -> None:
        self._pending = None
        if self._send(message):
            self._sent = message["objects"]
            self._sent_at = self._loop.time()
