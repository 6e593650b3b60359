"""The open phone sessions: a cap, counted before any await, and the idle reaper."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor

from aiohttp import web
from aiortc import RTCPeerConnection

from stream.edge.access_log import room_label
from stream.edge.health import LiveNumbers, StreamMetrics
from stream.webrtc.channel import _detached
from stream.webrtc.engine_seam import EngineLike
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.sessions import Session
from stream.webrtc.snapshot_press import Snapshotter

log = logging.getLogger(__name__)


class CapacityError(RuntimeError):
    """The session cap is reached."""


class SessionRegistry:
    """The open sessions: a cap on their number, an idle reaper and closing them all."""

    def __init__(self, max_sessions: int, settings: SessionSettings, metrics: StreamMetrics):
        if max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {max_sessions}")
        self.max_sessions = max_sessions
        self.settings = settings
        self.metrics = metrics
        self.executor: Executor | None = None  # the overlay thread pool, set by the app
        self.snapshots: Snapshotter | None = None  # given to every new session
        self._sessions: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._sessions)

    def __iter__(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))

    def get(self, session_id: str) -> Session | None:
        return self._sessions.get(session_id)

    @property
    def full(self) -> bool:
        return len(self._sessions) >= self.max_sessions

    def open(
        self,
        pc: RTCPeerConnection,
        engine: EngineLike,
        *,
        room: str | None = None,
        role: str | None = None,
        peer: str = "?",
    ) -> Session:
        """A new session, counted against the cap at once (before any await), so concurrent
        offers cannot overshoot it. Raises CapacityError when full."""
        if self.full:
            raise CapacityError(f"all {self.max_sessions} sessions are in use")
        if self.executor is None:
            raise RuntimeError("the session registry has no overlay executor yet")
        session = Session(
            pc, engine, self.settings, self.metrics, self.executor, room=room, role=role, peer=peer
        )
        session.snapshots = self.snapshots
        session.when_closed(self._forget)
        self._sessions[session.id] = session
        self.metrics.sessions_opened.inc()
        log.info(
            "session %s opened for %s%s (%d/%d)",
            session.id,
            peer,
            f" {room_label(room) if room else ''} role={role}" if room or role else "",
            len(self._sessions),
            self.max_sessions,
        )
        return session

    def _forget(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    async def close_all(self, reason: str) -> None:
        sessions = list(self._sessions.values())
        if sessions:
            log.info("closing %d session(s): %s", len(sessions), reason)
        await asyncio.gather(*(s.close(reason) for s in sessions), return_exceptions=True)
        # sessions that were already closing (forgotten, their connection still closing)
        closing = [task for task in _detached if not task.done()]
        if closing:
            await asyncio.wait(closing, timeout=self.settings.close_timeout_s)

    def idle(self, now: float) -> list[tuple[Session, str]]:
        """Sessions without video for longer than the idle timeout, with the reason."""
        timeout = self.settings.idle_timeout_s
        return [
            (s, "idle" if s.frames_in else "never_connected")
            for s in self._sessions.values()
            if now - s.last_frame_at > timeout
        ]

    async def reap_forever(self) -> None:
        """Close idle sessions; checks a few times per timeout so none outlives it by much."""
        interval = min(1.0, self.settings.idle_timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            for session, reason in self.idle(time.monotonic()):
                detail = f"no video for {self.settings.idle_timeout_s:g} s"
                session.schedule_close(reason, detail)

    def live_numbers(self) -> LiveNumbers:
        sessions = list(self._sessions.values())
        paths = [s.connection_path() for s in sessions]
        return LiveNumbers(
            sessions=len(sessions),
            fps_in=sum(s.fps_in for s in sessions),
            fps_out=sum(s.fps_out for s in sessions),
            overlay_fps=sum(s.overlay_fps for s in sessions),
            paths=Counter((p.path, p.transport) for p in paths),
            codecs=Counter(p.codec for p in paths),
        )


SESSIONS_KEY = web.AppKey("sessions", SessionRegistry)
