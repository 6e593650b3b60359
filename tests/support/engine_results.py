"""Helpers for the engine tests: a result collector to wait on, a frame that holds the worker
until the test lets it go, a feeder thread, and a deadline-bounded wait on any condition.

They let the tests say what must happen (in which order) without depending on how fast the
machine is: waits end when the condition holds, and their deadlines are only there so that a
broken feature fails instead of hanging."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from inference.live.results import FrameResult

if TYPE_CHECKING:
    from inference.live.engine import Engine

DEADLINE_S = 60.0  # generous: a slow, busy machine meets it; only a broken feature does not


class Results:
    """An `on_result` callback that keeps every result; `wait_for` polls a condition on them."""

    def __init__(self, timeout_s: float = DEADLINE_S, poll_s: float = 0.2) -> None:
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


def wait_until(
    condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S, poll_s: float = 0.01
) -> None:
    """Poll `condition` until it holds; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll_s)


class GatedFrame:
    """A lazy frame that holds the engine's worker until `release()`.

    The worker reads a lazy frame inside its cycle, so while this one is held the worker is busy
    by construction: frames submitted meanwhile must wait (and replace one another) whatever
    the machine's speed. `entered` is set once the worker is inside."""

    def __init__(self, frame: np.ndarray, timeout_s: float = DEADLINE_S) -> None:
        self.frame = frame
        self.timeout_s = timeout_s
        self.entered = threading.Event()
        self._released = threading.Event()

    def __call__(self) -> np.ndarray:
        self.entered.set()
        assert self._released.wait(self.timeout_s), "the test never released the gate"
        return self.frame.copy()

    def release(self) -> None:
        self._released.set()


class Feeder:
    """Submits `frame` about `fps` times a second from its own thread until the block ends, so
    a test waits for what it needs instead of guessing how many frames that takes."""

    def __init__(self, engine: Engine, session: str, frame: np.ndarray, fps: float = 30) -> None:
        self.submitted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(engine, session, frame, fps), daemon=True
        )

    def _run(self, engine: Engine, session: str, frame: np.ndarray, fps: float) -> None:
        while not self._stop.is_set():
            engine.submit(session, lambda: frame.copy())  # lazy, as the stream passes frames
            self.submitted += 1
            self._stop.wait(1 / fps)

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
