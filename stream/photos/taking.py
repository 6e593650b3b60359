"""Taking a snapshot: a press of 📸 in a room renders the picture the phone sees now, with its
labels, and files it in the room's teacher's library (`stream.photos.snapshots.SnapshotStore`),
within the room's budget."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import cv2
import numpy as np

from inference.live.results import SeenObject
from stream.edge.rate_limits import RateLimiter
from stream.photos.snapshots import (
    EVERY_TEACHER,
    JPEG_QUALITY,
    RATE_WINDOW_S,
    Snapshot,
    SnapshotPolicy,
    SnapshotRefused,
    SnapshotStore,
)
from stream.webrtc.error_codes import ErrorCode
from stream.webrtc.tracks import OverlayPainter, RenderableResult, SharedFrame
from stream.webrtc.wire import objects_fields

log = logging.getLogger(__name__)


# -- taking


class SnapshotSource(Protocol):
    """What a snapshot needs from a phone's session (`stream.webrtc.sessions.Session` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def room(self) -> str | None: ...

    @property
    def latest_frame(self) -> SharedFrame | None: ...  # the newest camera frame

    @property
    def latest(self) -> SnapshotResult | None: ...  # the newest result

    @property
    def settings(self) -> _Settings: ...


class SnapshotResult(RenderableResult, Protocol):
    @property
    def objects(self) -> tuple[SeenObject, ...]: ...


class _Settings(Protocol):
    @property
    def output_height(self) -> int | None: ...


KEPT_SHOWN = 6  # photos a phone shows with the words it found today
KEPT_WIDTH = 160  # px: a small picture, so one fits in a data-channel message
KEPT_QUALITY = 70

# (room code, phone session id) → the room's teacher, when the phone may keep pictures there
# (a live room that let it in); None otherwise
TeacherOf = Callable[[str, str], Awaitable[str | None]]


async def _no_rooms(_code: str, _session: str) -> str | None:
    return None


def render_jpeg(
    shared: SharedFrame, result: RenderableResult | None, output_height: int | None
) -> bytes:
    """The outgoing picture of `shared` with `result` drawn on it, as JPEG (blocking)."""
    painter = OverlayPainter(output_height, follow=False)
    frame = painter.paint(shared, result)
    rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(encoded.tobytes())


def small_picture(jpeg: bytes) -> str | None:
    """`jpeg` at KEPT_WIDTH wide as a data URL (blocking); None when it does not decode."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None
    height = max(1, round(image.shape[0] * KEPT_WIDTH / image.shape[1]))
    small = cv2.resize(image, (KEPT_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, KEPT_QUALITY])
    if not ok:
        return None
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


class SnapshotTaker:
    """A press of 📸: room check, rate limit, draw, encode and save (see the module docstring).

    `teacher_of` names a room's teacher (the room hub's store in the app); a photo is saved
    only for a phone whose room has one now, and is recorded under that teacher.
    """

    def __init__(
        self,
        store: SnapshotStore,
        *,
        per_session_per_minute: int = 6,
        policy: SnapshotPolicy | None = None,
        teacher_of: TeacherOf = _no_rooms,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.per_session_per_minute = per_session_per_minute
        self.policy = policy or SnapshotPolicy()
        self.teacher_of = teacher_of
        self._clock = clock
        self._recent = RateLimiter(per_session_per_minute, RATE_WINDOW_S, clock=clock)

    async def kept(self, session: SnapshotSource) -> list[dict[str, Any]]:
        """The photos kept from `session` in its room, newest first (at most KEPT_SHOWN), as
        {"id", "labels", "picture": a small JPEG data URL}; none outside a room or before the
        teacher let the phone in."""
        room = session.room
        if room is None or await self.teacher_of(room, session.id) is None:
            return []
        return await asyncio.to_thread(self._kept, room, session.id)

    def _kept(self, room: str, session_id: str) -> list[dict[str, Any]]:
        recent = self.store.list(200, teacher=EVERY_TEACHER, room=room)
        photos = []
        for snapshot in [s for s in recent if s.session == session_id][:KEPT_SHOWN]:
            data = self.store.read_image(snapshot)
            picture = small_picture(data) if data is not None else None
            if picture is not None:
                photos.append({"id": snapshot.id, "labels": snapshot.labels, "picture": picture})
        return photos

    async def take(self, session: SnapshotSource) -> Snapshot:
        """Save `session`'s current picture; raises `SnapshotRefused` with the reason."""
        room = session.room
        if room is None:  # the phone page saves it on the phone: the server keeps nothing
            raise SnapshotRefused(
                ErrorCode.NOT_IN_ROOM,
                "photos are kept for a class only: this one stays on your phone",
            )
        teacher = await self.teacher_of(room, session.id)
        if teacher is None:
            raise SnapshotRefused(
                ErrorCode.NOT_IN_ROOM, "no photos now: wait for your teacher to let you in"
            )
        shared = session.latest_frame
        if shared is None:
            raise SnapshotRefused(ErrorCode.NO_FRAME, "no picture yet: wait for the camera")
        self._count(session.id)
        result = session.latest
        height = session.settings.output_height
        objects = objects_fields(result.objects) if result is not None else []
        try:
            jpeg = await asyncio.to_thread(render_jpeg, shared, result, height)
        except Exception as exc:  # a bad result: the plain picture is still worth keeping
            log.warning(
                "session %s: drawing the snapshot failed (%r); saved plain", session.id, exc
            )
            jpeg = await asyncio.to_thread(render_jpeg, shared, None, height)
            objects = []
        snapshot = await asyncio.to_thread(
            self.store.save,
            jpeg,
            session=session.id,
            room=room,
            teacher=teacher,
            objects=objects,
            budget=self.policy.room,
        )
        log.info("session %s: snapshot %d saved (%d bytes)", session.id, snapshot.id, len(jpeg))
        return snapshot

    def _count(self, session_id: str) -> None:
        if not self._recent.allow(session_id):
            raise SnapshotRefused(
                ErrorCode.SNAPSHOT_LIMIT,
                f"at most {self.per_session_per_minute} photos a minute: wait a little",
            )
