"""Model builds (OpenVINO conversions, graph exports) that run beside live work.

A conversion takes the CPU for a minute or more on a 2-core machine; the live server keeps
answering on the eager path meanwhile and swaps the built model in when it is ready. Builds run
one at a time in the process, each in a thread of its own at the lowest CPU priority, so the
phones' video keeps its share.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

_ONE_BUILD_AT_A_TIME = threading.Lock()
_started: list[threading.Thread] = []


def lower_this_threads_priority() -> None:
    """Nice 19 for the calling thread only (Linux: each thread is a task with its own nice)."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def start_build(name: str, build: Callable[[], None]) -> threading.Thread:
    """Run `build` in a daemon thread called `name`, at the lowest priority, after any build
    already running. `build` handles its own errors; one that escapes is logged, never raised."""

    def run() -> None:
        lower_this_threads_priority()
        with _ONE_BUILD_AT_A_TIME:
            try:
                build()
            except Exception:
                log.exception("background build %s failed", name)

    thread = threading.Thread(target=run, name=name, daemon=True)  # never holds the exit
    thread.start()
    _started.append(thread)
    return thread


def builds_running() -> bool:
    """Whether a build started here is still running or waiting for its turn. A process that
    exits meanwhile must leave with `os._exit`: interpreter shutdown under a conversion running
    in native code aborts (SIGABRT, seen with OpenVINO); the cache only ever holds finished
    graphs (written to a temporary directory, renamed into place)."""
    return any(thread.is_alive() for thread in _started)


def running_builds() -> list[str]:
    """The names of the builds started here that are running or waiting for their turn, oldest
    first: `serve` shows them ("still building ...") after the models are ready, so an operator
    knows why the first minutes are slower than the rest."""
    return [thread.name for thread in _started if thread.is_alive()]
