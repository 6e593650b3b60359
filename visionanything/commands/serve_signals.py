"""How `serve` hears SIGINT and SIGTERM. Apart from `serve` itself so that a probe process
(tests/support/signal_probe.py) uses exactly this without importing the server and torch."""

from __future__ import annotations

import asyncio
import contextlib
import signal

from inference.core.dependency_guards import isolate_forked_children


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGINT or SIGTERM sent to this process, not to one of its children, sets `stop`.

    asyncio hands signals to the loop through a wake-up socket that a forked child shares, so a
    child that a library forks and terminates (OpenVINO's telemetry sender did, during model
    conversion) stopped the server. Children forked from now on drop that socket and take back
    the default handlers (`inference.core.dependency_guards.isolate_forked_children`).
    """
    isolate_forked_children()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(signum, stop.set)
