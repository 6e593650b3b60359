"""Wall-clock milliseconds per named pipeline stage."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StageTimer:
    """Wall-clock milliseconds per named stage, in the order they ran."""

    milliseconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1000.0
            self.milliseconds[name] = self.milliseconds.get(name, 0.0) + elapsed

    def rounded(self, digits: int = 1) -> dict[str, float]:
        return {name: round(ms, digits) for name, ms in self.milliseconds.items()}

    def copy(self) -> StageTimer:
        return StageTimer(dict(self.milliseconds))
