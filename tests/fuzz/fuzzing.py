"""Shared settings of the fuzz targets: how many cases each runs, and a tally per target.

`VA_FUZZ_EXAMPLES` sets the number of generated cases per target. Unset (CI), each target runs
`DEFAULT_EXAMPLES` with a fixed seed (derandomised, so CI cannot flake on a new random case);
`make fuzz` sets it to 10,000 and the search is random each run. A failure prints the shrunk
case and, for a random run, the `@reproduce_failure` line that replays it.
"""

from __future__ import annotations

import os
import threading
from collections import Counter

from hypothesis import HealthCheck, settings

DEFAULT_EXAMPLES = 200
ENV = "VA_FUZZ_EXAMPLES"

COUNTS: Counter[str] = Counter()
_lock = threading.Lock()


def examples() -> int:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_EXAMPLES
    value = int(raw)
    if value < 1:
        raise ValueError(f"{ENV} must be a positive number of cases, got {raw!r}")
    return value


def fuzz_settings(scale: float = 1.0) -> settings:
    """Hypothesis settings for one target: `scale` × the configured number of cases."""
    return settings(
        max_examples=max(1, round(examples() * scale)),
        deadline=None,
        derandomize=not os.environ.get(ENV, "").strip(),
        database=None,  # leave no .hypothesis/ folder in the work tree
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
        ],
        print_blob=True,
    )


def count(target: str, n: int = 1) -> None:
    """Record `n` cases run against `target` (printed at the end of the session)."""
    with _lock:
        COUNTS[target] += n
