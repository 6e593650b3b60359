"""Getting ready: the steps `serve` reports while the models load (the pages show them), the names
of the builds it waits for, and leaving cleanly while a native build or the loader still runs."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from inference.graphs import background_builds
from stream.edge.loading import LoadProgress

if TYPE_CHECKING:
    from stream.edge.loading import LoadProgress

log = logging.getLogger(__name__)


LOAD_STEPS = ("importing", "models", "warming up", "engine")


def load_progress() -> LoadProgress:
    """The progress of this server's model load (`LOAD_STEPS`), with the background builds
    still running after it (`build_label` names them)."""

    return LoadProgress(
        LOAD_STEPS,
        building=lambda: [build_label(name) for name in background_builds.running_builds()],
    )


def build_label(thread_name: str) -> str:
    """A background build's thread name as the status shows it: "encoder-build-auto" →
    "segmenter encoder", "openvino-build-512x683" → "detector 683x512" (width × height)."""
    if thread_name.startswith("encoder-build-"):
        return "segmenter encoder"
    prefix = "openvino-build-"
    if thread_name.startswith(prefix):
        height, _, width = thread_name[len(prefix) :].partition("x")
        return f"detector {width}x{height}" if width else "detector"
    return thread_name


def exit_past_unfinished_builds(status: int, *, loading: bool = False) -> int:
    """Everything is closed; a model build still converting in native code, or the models
    still loading (Ctrl-C while the pages say "Getting ready": the loader thread is in torch's
    native code), would abort the interpreter's shutdown (SIGABRT, "terminate called without
    an active exception"), so leave at once with our status instead."""

    if not background_builds.builds_running() and not loading:
        return status
    if loading:
        log.info("stopping while the models load")
    else:
        log.info("stopping while a model build runs: it starts again next time")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)
