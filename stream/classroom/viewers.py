"""Viewers: a projector (or any screen) watching a room, video only.

A viewer's offer receives video and opens a data channel; it never gets an engine session (the
models run for the presenting phone only) and whatever it sends cannot change the room: video it
might send is read and thrown away, and every data-channel message gets a `read_only` error.
It hears `room` (state), and the presenter's `objects` and `say`, from
`stream.classroom.rooms.RoomHub`."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from stream.edge.access_log import room_label
from stream.edge.health import StreamMetrics
from stream.webrtc.channel import detach, send_message
from stream.webrtc.error_codes import ErrorCode
from stream.webrtc.peer_tasks import TaskSet, close_peer
from stream.webrtc.tracks import pump

log = logging.getLogger(__name__)

_ids = itertools.count(1)


class ViewerSession:
    """One viewer's peer connection (see the module docstring)."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        room: str,
        metrics: StreamMetrics,
        *,
        max_buffered_bytes: int = 256 * 1024,
        connect_timeout_s: float = 30.0,
        close_timeout_s: float = 5.0,
    ) -> None:
        self.id = f"v{next(_ids)}"
        self.pc = pc
        self.room = room
        self.metrics = metrics
        self.max_buffered_bytes = max_buffered_bytes
        self.close_timeout_s = close_timeout_s
        self.channel: RTCDataChannel | None = None
        self.closed = False
        self.close_reason: str | None = None
        self.created_at = time.monotonic()
        self.rejected_messages = 0
        self._last_reply = float("-inf")
        self._closing: asyncio.Task[None] | None = None
        self._on_closed: list[Callable[[ViewerSession], object]] = []
        self._tasks = TaskSet(f"viewer {self.id}")
        self._pending: list[tuple[str, bool, dict[str, Any]]] = []  # sent before the channel
        loop = asyncio.get_running_loop()
        # a viewer that never connects must not hold its slot
        self._connect_timer = loop.call_later(connect_timeout_s, self._check_connected)
        pc.on("track", self._on_track)
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_connection_state)

    def when_closed(self, callback: Callable[[ViewerSession], object]) -> None:
        self._on_closed.append(callback)

    def send(self, kind: str, essential: bool = True, **fields: Any) -> bool:
        if self.channel is None:  # the room's state, before the channel opened: kept
            if kind == "room":
                self._pending = [p for p in self._pending if p[0] != "room"]
            if len(self._pending) < 8:
                self._pending.append((kind, essential, fields))
            return False
        return send_message(
            self.channel, kind, fields, self.metrics, self.id, self.max_buffered_bytes,
            essential=essential,
        )  # fmt: skip

    def schedule_close(self, reason: str, detail: str = "") -> asyncio.Task[None]:
        if self._closing is None:
            self.closed = True
            self.close_reason = reason
            self._connect_timer.cancel()
            self._tasks.cancel_all()
            for callback in self._on_closed:
                callback(self)
            log.info(
                "viewer %s of %s closed: %s%s (%.1f s)",
                self.id,
                room_label(self.room),
                reason,
                f" - {detail}" if detail else "",
                time.monotonic() - self.created_at,
            )
            closing = close_peer(self.pc, self.close_timeout_s, f"viewer {self.id}")
            self._closing = detach(closing, name=f"close-{self.id}")
        return self._closing

    async def close(self, reason: str) -> None:
        await asyncio.shield(self.schedule_close(reason))

    def _check_connected(self) -> None:
        if not self.closed and self.pc.connectionState != "connected":
            self.schedule_close("never_connected")

    def _on_connection_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self.schedule_close(f"connection_{state}")

    def _on_track(self, track: MediaStreamTrack) -> None:
        # a viewer's camera or microphone is never shown; read it, or aiortc buffers it forever
        self._tasks.spawn(pump(track, None), "drain")

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if self.channel is not None:
            return
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("open", self._flush)
        if channel.readyState == "open":
            self._flush()

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for kind, essential, fields in pending:
            self.send(kind, essential, **fields)

    def _on_message(self, raw: str | bytes) -> None:
        self.rejected_messages += 1
        self.metrics.messages.labels(direction="in", type="viewer").inc()
        # answered at most once a second: a flooding viewer gets no amplification
        now = time.monotonic()
        if now - self._last_reply >= 1.0:
            self._last_reply = now
            self.send(
                "error",
                code=ErrorCode.READ_ONLY,
                message="this screen only watches the room; the teacher's page changes it",
            )


class ViewerRegistry:
    """The open viewers: a cap of their own (they cost an encoder each, no model time)."""

    def __init__(self, max_viewers: int, metrics: StreamMetrics, **viewer_options: Any) -> None:
        if max_viewers < 1:
            raise ValueError(f"max_viewers must be at least 1, got {max_viewers}")
        self.max_viewers = max_viewers
        self.metrics = metrics
        self.viewer_options = viewer_options
        self._viewers: dict[str, ViewerSession] = {}

    def __len__(self) -> int:
        return len(self._viewers)

    def __iter__(self) -> Iterator[ViewerSession]:
        return iter(list(self._viewers.values()))

    @property
    def full(self) -> bool:
        return len(self._viewers) >= self.max_viewers

    def open(self, pc: RTCPeerConnection, room: str) -> ViewerSession:
        viewer = ViewerSession(pc, room, self.metrics, **self.viewer_options)
        viewer.when_closed(lambda v: self._viewers.pop(v.id, None))
        self._viewers[viewer.id] = viewer
        log.info("viewer %s opened for %s (%d)", viewer.id, room_label(room), len(self._viewers))
        return viewer

    async def close_all(self, reason: str) -> None:
        await asyncio.gather(*(v.close(reason) for v in self), return_exceptions=True)


VIEWERS_KEY = web.AppKey("viewers", ViewerRegistry)
