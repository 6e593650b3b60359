"""How far the server has got with its models, for the pages that wait on it.

Loading takes from seconds (random weights, a warm disk) to minutes (a first run on a slow
CPU). A phone that only reads "Getting ready" for a minute looks stuck, so the model loader
reports its steps here and `GET /api/status` hands them on: `"loading": {"step": 2, "steps":
4, "doing": "models"}` while loading, and `"building": [...]`, the faster runtimes still being
built in the background once the models answer.

The loader (the engine factory `serve` builds, run in a thread of its own) writes; the event
loop reads on every status request. Both go through one lock and copy small immutable values,
so a reader never waits on model work. This module knows nothing of the models: the steps are
names the factory chose, and the running builds come from a callable it passes in, so `stream`
stays free of what `serve` and `inference` do during a load.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

STARTING = "starting"
"""What `doing` says before the loader has reported its first step."""


@dataclass(frozen=True)
class LoadingStep:
    """Step `step` of `steps` (1-based; 0 before the first), called `doing`."""

    step: int
    steps: int
    doing: str

    def as_json(self) -> dict[str, Any]:
        return {"step": self.step, "steps": self.steps, "doing": self.doing}

    def describe(self) -> str:
        """For `/readyz` and logs: "2 of 4: models"."""
        return f"{self.step} of {self.steps}: {self.doing}"


class LoadProgress:
    """The steps of one model load, advanced by the loader thread, read by the event loop.

    steps:    the names of the steps, in order (fixed up front, so a page can show "k of n"
              from the first answer; a step that turns out not to be needed is skipped)
    building: the faster runtimes still being built in the background (names to show); asked
              on every status request, so it must be cheap; a failure is logged, never raised
    clock:    monotonic seconds (tests inject one); the log line of each step says when it began
    """

    def __init__(
        self,
        steps: Sequence[str],
        *,
        building: Callable[[], Sequence[str]] = tuple,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        names = tuple(steps)
        if not names:
            raise ValueError("a load needs at least one step")
        if len(set(names)) != len(names):
            raise ValueError(f"step names must differ: {names}")
        self.steps = names
        self._building = building
        self._clock = clock
        self._lock = threading.Lock()
        self._current = LoadingStep(0, len(names), STARTING)
        self._started = clock()

    def begin(self, name: str) -> LoadingStep:
        """Step `name` starts now (any step after the current one: skipping is fine, going back
        is not: a bar that shrinks tells a waiting child something went wrong)."""
        try:
            index = self.steps.index(name) + 1
        except ValueError:
            raise ValueError(f"no step {name!r}; the steps are {self.steps}") from None
        with self._lock:
            if index < self._current.step:
                raise ValueError(f"step {name!r} comes before {self._current.doing!r}")
            self._current = LoadingStep(index, len(self.steps), name)
            current = self._current
        log.info("getting ready %s (after %.1f s)", current.describe(), self.elapsed_s())
        return current

    def current(self) -> LoadingStep:
        with self._lock:
            return self._current

    def elapsed_s(self) -> float:
        return self._clock() - self._started

    def building(self) -> list[str]:
        """The background builds still running (see the class docstring); [] when unknown."""
        try:
            return [str(name) for name in self._building()]
        except Exception:  # a status answer must never fail because of this
            log.exception("listing the background builds failed")
            return []
