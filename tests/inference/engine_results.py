"""A collector for `Engine` results that tests can wait on (shared by the engine tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from inference.engine import FrameResult


class Results:
    """An `on_result` callback that keeps every result; `wait_for` polls a condition on them."""

    def __init__(self, timeout_s: float = 30, poll_s: float = 0.2) -> None:
        self.items: list[FrameResult] = []
        self.arrived = threading.Event()
        self.timeout_s = timeout_s
        self.poll_s = poll_s

    def __call__(self, result: FrameResult) -> None:
        self.items.append(result)
        self.arrived.set()

    def wait_for(
        self, condition: Callable[[list[FrameResult]], bool], timeout: float | None = None
    ) -> None:
        deadline = time.monotonic() + (self.timeout_s if timeout is None else timeout)
        while not condition(self.items):
            assert time.monotonic() < deadline, f"timed out; {len(self.items)} results so far"
            self.arrived.wait(self.poll_s)
            self.arrived.clear()
