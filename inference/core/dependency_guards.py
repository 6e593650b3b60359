"""Keep our dependencies from acting on this process or talking to the outside.

Three things a dependency did to the server (seen 2026-12-07):

- **Telemetry.** `import openvino` imports its converter (`openvino.tools.ovc`), which starts the
  `openvino_telemetry` sender: with no consent file (`~/intel/openvino_telemetry`) it counts as
  consent, writes `~/intel/openvino_ga_cid` and `stats`, and posts events to Google Analytics,
  each from a forked child it `terminate()`s after 3 s. `disable_telemetry()` (run by
  `inference/__init__.py`, so before any of our modules imports OpenVINO or transformers) makes
  `openvino_telemetry` unimportable, so OpenVINO takes its own no-op `telemetry_stub` (its
  `except ImportError` fallback), and sets Hugging Face's documented switches. OpenVINO's
  documented opt-out, `opt_in_out --opt_out`, writes "0" into that per-user consent file (the
  installed sender, 2025.2.0, reads no environment variable): state outside this program, which
  a new server account or container does not have.
- **Signals.** Forked children inherit asyncio's signal wake-up fd and its no-op handlers, so a
  child that gets SIGTERM writes the signal into the *parent's* loop (the server stopped when
  the telemetry child was terminated) and survives it (the server then hung at exit, joining
  it). `isolate_forked_children()` makes every child forked later drop the wake-up fd and take
  back the default SIGINT/SIGTERM handlers, whoever forks it.
- **Logging.** `openvino.convert_model` sets the root logger to ERROR (plus a filter, and a
  handler when there is none) for the whole conversion, 1-2 minutes in which every other
  thread's INFO and WARNING lines were lost, and does not undo it when the conversion fails.
  `convert_quietly()` converts without that.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

OPENVINO_TELEMETRY = "openvino_telemetry"
TELEMETRY_OFF = {
    # huggingface_hub/constants.py turns its telemetry off for either (DO_NOT_TRACK is the
    # cross-tool convention): no send_telemetry(), no versions in the user agent (nor transformers')
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
}
OFFLINE = {
    # we load every checkpoint with local_files_only and fetch weights ourselves: a Hub request
    # would be a leak (and, without internet, a wait); an operator's explicit value wins
    "HF_HUB_OFFLINE": "1",
}

_fork_lock = threading.Lock()
_forks_isolated = False
_warned_telemetry = False


def disable_telemetry() -> None:
    """Switch off our dependencies' telemetry; must run before they are imported."""
    os.environ.update(TELEMETRY_OFF)
    for name, value in OFFLINE.items():
        os.environ.setdefault(name, value)
    if OPENVINO_TELEMETRY not in sys.modules:
        # None in sys.modules makes `import openvino_telemetry` raise ImportError
        sys.modules[OPENVINO_TELEMETRY] = None  # type: ignore[assignment]


def openvino_telemetry_loaded() -> bool:
    """True when the real sender was imported (OpenVINO imported before `inference`)."""
    return sys.modules.get(OPENVINO_TELEMETRY) is not None


def isolate_forked_children() -> None:
    """From now on, a child forked by anyone in this process cannot signal our event loop.

    asyncio's `add_signal_handler` points the C signal handler at a socket the loop reads;
    `fork()` copies both, so SIGTERM sent to a child reached the parent's loop. Idempotent.
    """
    global _forks_isolated
    with _fork_lock:
        if not _forks_isolated and hasattr(os, "register_at_fork"):  # not on Windows
            os.register_at_fork(after_in_child=_forget_parent_signals)
            _forks_isolated = True


def _forget_parent_signals() -> None:
    # runs in the child right after fork(); the forking thread is the child's main thread
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def convert_quietly(model: Any, **options: Any) -> Any:
    """`openvino.convert_model(model, **options)` that leaves this process's logging alone."""
    global _warned_telemetry
    ov = importlib.import_module("openvino")
    if openvino_telemetry_loaded() and not _warned_telemetry:
        _warned_telemetry = True
        log.warning("OpenVINO was imported before `inference`: its telemetry may be on")
    _keep_converter_off_logging()
    with _root_logger_kept():
        return ov.convert_model(model, **options)


def _leave_logging_alone(*_args: Any, **_kwargs: Any) -> None:
    """Stands in for the converter's `init_logger`, which sets the root logger to ERROR."""


def _keep_converter_off_logging() -> None:
    # convert_impl._convert calls init_logger('ERROR', ...) first thing; it is the only logging
    # change in openvino.tools.ovc (convert.py saves and restores around it, but not on error)
    with contextlib.suppress(ImportError):
        convert_impl: Any = importlib.import_module("openvino.tools.ovc.convert_impl")
        if getattr(convert_impl, "init_logger", None) not in (None, _leave_logging_alone):
            convert_impl.init_logger = _leave_logging_alone


@contextlib.contextmanager
def _root_logger_kept() -> Iterator[None]:
    """Undo root logger changes made meanwhile (a converter that changes it another way)."""
    root = logging.getLogger()
    level, filters, handlers = root.level, list(root.filters), list(root.handlers)
    try:
        yield
    finally:
        if root.level != level:
            root.setLevel(level)
        for added_filter in [f for f in root.filters if f not in filters]:
            root.removeFilter(added_filter)
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
