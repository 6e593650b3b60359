"""Sending on a session's data channel (bounded, versioned JSON) and tasks that must not die
silently."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from aiortc import RTCDataChannel
from aiortc.exceptions import InvalidStateError

from stream.edge.health import StreamMetrics
from stream.webrtc import protocol

log = logging.getLogger(__name__)


def send_message(
    channel: RTCDataChannel | None,
    kind: str,
    fields: Mapping[str, Any],
    metrics: StreamMetrics,
    owner: str,
    max_buffered_bytes: int,
    *,
    essential: bool = True,
) -> bool:
    """Send one data-channel message if the channel is open; returns whether it went out.

    Non-essential messages (objects, stats) are skipped while the channel is congested; the
    next one carries newer data anyway.
    """
    if channel is None or channel.readyState != "open":
        return False
    if not essential and channel.bufferedAmount > max_buffered_bytes:
        metrics.errors.labels(kind="congested").inc()
        return False
    try:
        channel.send(protocol.encode(kind, **fields))
    except (InvalidStateError, ValueError) as exc:
        log.warning("session %s: could not send %s: %r", owner, kind, exc)
        return False
    metrics.messages.labels(direction="out", type=kind).inc()
    return True


# Background tasks that nothing else holds on to (closing a session from an event handler):
# the loop keeps only weak references to tasks, so they are kept here until they finish.
_detached: set[asyncio.Task[None]] = set()


def detach(coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
    task = asyncio.get_running_loop().create_task(coro, name=name)
    _detached.add(task)
    task.add_done_callback(_finished)
    return task


def _finished(task: asyncio.Task[None]) -> None:
    _detached.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


_MESSAGE_TYPES: Mapping[type, str] = {
    protocol.VocabularyMessage: "vocabulary",
    protocol.TapMessage: "tap",
    protocol.ModeMessage: "mode",
    protocol.SpeechMessage: "speech",
    protocol.SnapshotMessage: "snapshot",
    protocol.KeptMessage: "kept",
    protocol.HuntMessage: "hunt",
    protocol.LanguageMessage: "language",
}


# -------------------------------------------------------------------------------- session
