"""A press of 📸 on a phone: the session's snapshotter (set only in a teacher's room, see
`stream.photos`) saves the picture now; the phone hears `snapshot_saved` or an `error`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from stream.webrtc import protocol
from stream.webrtc.error_codes import ErrorCode

if TYPE_CHECKING:  # the session starts this task: only its type is needed here
    from stream.webrtc.sessions import Session

log = logging.getLogger(__name__)


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
