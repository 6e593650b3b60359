"""A press of 📸 on a phone: the session's snapshotter (set only in a teacher's room, see
`stream.photos`) saves the picture now; the phone hears `snapshot_saved` or an `error`. And
the photos kept so far: a phone asks (`kept`) at the end of a hunt to show them with the
words it found; it hears one `kept` message per photo (a small picture each: a message holds
16 KiB at most), or one with `count` 0."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from stream.webrtc import protocol
from stream.webrtc.error_codes import ErrorCode

if TYPE_CHECKING:  # the session starts this task: only its type is needed here
    from stream.webrtc.sessions import Session

log = logging.getLogger(__name__)


class Snapshotter(Protocol):
    """Saves a session's current picture and lists the ones kept from it
    (`stream.photos.taking.SnapshotTaker` fits); refuses with `protocol.ProtocolError` (its
    code goes back in the `error` reply)."""

    async def take(self, session: Session) -> Any: ...  # the saved snapshot, with an `id`

    async def kept(self, session: Session) -> list[dict[str, Any]]: ...  # newest first


async def take_snapshot(session: Session) -> None:
    """Save the picture now (only ever on a press); reply `snapshot_saved` or `error`."""
    if session.snapshots is None:
        session.reply_error(ErrorCode.SNAPSHOTS_OFF, "this server does not keep snapshots")
        return
    try:
        saved = await session.snapshots.take(session)
    except protocol.ProtocolError as exc:
        session.reply_error(exc.code, str(exc))
        return
    except Exception:
        session.metrics.errors.labels(kind="snapshot").inc()
        log.exception("session %s: saving a snapshot failed", session.id)
        session.reply_error(ErrorCode.INTERNAL, "the server could not save the photo")
        return
    session.send("snapshot_saved", id=saved.id)


async def send_kept(session: Session) -> None:
    """The photos the teacher keeps from this phone in its room: one `kept` message each
    ({"id", "labels", "picture": a small JPEG data URL, "index", "count"}), or {"count": 0}."""
    photos: list[dict[str, Any]] = []
    if session.snapshots is not None:
        try:
            photos = await session.snapshots.kept(session)
        except Exception:  # the words found still show without the photos
            session.metrics.errors.labels(kind="snapshot").inc()
            log.exception("session %s: listing the kept photos failed", session.id)
    if not photos:
        session.send("kept", count=0)
    for index, photo in enumerate(photos):
        session.send("kept", index=index, count=len(photos), **photo)
