"""The snapshot library and the admin page over HTTP.

Teacher only (a login cookie; POSTs are JSON and same-origin,
`stream.classroom.teacher_auth.check_post`). A teacher reaches only the photos of their own rooms,
an admin every photo; another teacher's
photo or room answers 404, exactly like a missing one:
    GET  /api/snapshots?offset=0&limit=24&room=CODE → {"snapshots": [...], "total", "offset",
                                              "limit", "next"}   newest first; `next` is the
                                              next offset; `room` narrows to one room
    GET  /api/snapshots/rooms              → {"rooms": [{"room", "teacher", "count", "bytes",
                                              "newest"}]}   the library page's groups
    GET  /api/snapshots/{id}.jpg           → the picture
    POST /api/snapshots/{id}/delete        {}            → {"id", "deleted": true}
    GET  /api/snapshots/rooms/{code}/photos.zip         → the room's photos as one zip, streamed
    POST /api/snapshots/rooms/{code}/delete {"confirm": "delete all"} → {"room", "deleted": n}
    POST /api/rooms/{code}/snapshot        {}            → {"id", ...} the presenter's picture now
                                                           (the room's own teacher only)
    GET  /library                          → the library page
Admin teachers only (403 for the others):
    GET  /api/admin                        → sessions, viewers, rooms, detection workers, storage
    POST /api/admin/delete-all             {"confirm": "delete all"} → {"deleted": n}
    GET  /admin                            → the admin page (it asks for a login itself)

Photos past the retention period are deleted by a `RetentionSweeper` that runs while the app
does. The app keys of `stream.app` are imported inside the handlers: `stream.app` imports this
module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zipfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from stream.classroom.room_store import normalise_code
from stream.classroom.rooms import ROOMS_KEY
from stream.classroom.teacher_auth import TEACHER_AUTH_KEY, check_post, json_answer, json_error
from stream.classroom.viewers import VIEWERS_KEY
from stream.photos.retention import RetentionSweeper
from stream.photos.snapshots import (
    EVERY_TEACHER,
    Scope,
    Snapshot,
    SnapshotPolicy,
    SnapshotRefused,
    SnapshotStore,
)
from stream.photos.taking import SnapshotTaker, TeacherOf
from stream.webrtc.engine_seam import EngineLike
from stream.webrtc.engine_slot import ENGINE_KEY
from stream.webrtc.error_codes import ErrorCode
from stream.webrtc.registry import SESSIONS_KEY

log = logging.getLogger(__name__)

MAX_PAGE = 100
DEFAULT_PAGE = 24
CONFIRM_DELETE_ALL = "delete all"

SNAPSHOTS_KEY = web.AppKey("snapshots", SnapshotTaker)
RETENTION_KEY = web.AppKey("snapshot_retention", RetentionSweeper)


def install_snapshots(
    app: web.Application,
    store: SnapshotStore,
    web_dir: Path | None = None,
    *,
    per_session_per_minute: int = 6,
    policy: SnapshotPolicy | None = None,
) -> SnapshotTaker:
    """Add the snapshot routes, let every new phone session in a room take snapshots, and
    delete photos past `policy`'s retention while the app runs.

    Call it before the static files are added (so /library and /admin win) and before the app
    starts (aiohttp freezes the router then).
    """

    taker = SnapshotTaker(
        store,
        per_session_per_minute=per_session_per_minute,
        policy=policy,
        teacher_of=room_teacher(app),
    )
    app[SNAPSHOTS_KEY] = taker
    app[SESSIONS_KEY].snapshots = taker
    app.router.add_get("/api/snapshots", _list)
    app.router.add_get("/api/snapshots/rooms", _rooms)
    app.router.add_get(r"/api/snapshots/{id:\d{1,12}}.jpg", _image)
    app.router.add_post(r"/api/snapshots/{id:\d{1,12}}/delete", _delete)
    app.router.add_get("/api/snapshots/rooms/{code}/photos.zip", _archive)
    app.router.add_post("/api/snapshots/rooms/{code}/delete", _delete_room)
    app.router.add_post("/api/rooms/{code}/snapshot", _room_snapshot)
    app.router.add_get("/api/admin", _admin)
    app.router.add_post("/api/admin/delete-all", _delete_all)
    if web_dir is not None:
        for path, name in (("/library", "library.html"), ("/admin", "admin.html")):
            app.router.add_get(path, _page(web_dir / name))
    app.cleanup_ctx.append(_retention)
    return taker


def room_teacher(app: web.Application) -> TeacherOf:
    """A room's teacher from the app's room hub, looked up on each press (the room may have
    ended since the phone joined); None for a missing or ended room, and for a phone the
    teacher has not let in (a stranger with the code fills no class's library)."""

    async def teacher_of(code: str, session_id: str) -> str | None:
        hub = app[ROOMS_KEY]
        if not hub.admitted(code, session_id):
            return None
        state = await hub.store.get(code)
        return None if state is None or state.ended else state.teacher

    return teacher_of


async def _retention(app: web.Application) -> AsyncIterator[None]:
    taker = app[SNAPSHOTS_KEY]  # read at start: tests may swap the store before that
    sweeper = RetentionSweeper(taker.store, taker.policy)
    app[RETENTION_KEY] = sweeper
    task = asyncio.create_task(sweeper.run(), name="photo-retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _page(file: Path) -> Any:
    async def page(_: web.Request) -> web.FileResponse:
        return web.FileResponse(file, headers={"Cache-Control": "no-store"})

    return page


def _store(request: web.Request) -> SnapshotStore:
    return request.app[SNAPSHOTS_KEY].store


def _int(request: web.Request, key: str, default: int, low: int, high: int) -> int:
    text = request.query.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise json_error(web.HTTPBadRequest, f"'{key}' must be a whole number") from None
    if not low <= value <= high:
        raise json_error(web.HTTPBadRequest, f"'{key}' must lie in {low}..{high}")
    return value


def _require_admin(request: web.Request) -> str:
    name = request.app[TEACHER_AUTH_KEY].require(request)
    teacher = request.app[TEACHER_AUTH_KEY].store.get(name)
    if teacher is None or not teacher.admin:
        raise json_error(web.HTTPForbidden, "only an admin teacher may do that")
    return name


def _scope(request: web.Request) -> tuple[str, Scope]:
    """The logged-in teacher (401 otherwise) and the photos they may reach: their own, or
    every teacher's for an admin."""
    auth = request.app[TEACHER_AUTH_KEY]
    name = auth.require(request)
    teacher = auth.store.get(name)
    return name, EVERY_TEACHER if teacher is not None and teacher.admin else name


def _room_code(request: web.Request) -> str:
    """The room of the URL, normalised; 404 (like a room without photos) when it cannot be one."""
    code = normalise_code(request.match_info["code"])
    if code is None:
        raise json_error(web.HTTPNotFound, "no photos of that class")
    return code


# -- the library ------------------------------------------------------------------------------


async def _list(request: web.Request) -> web.Response:
    _, scope = _scope(request)
    offset = _int(request, "offset", 0, 0, 10**9)
    limit = _int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    text = request.query.get("room")
    room = None if text is None else normalise_code(text)
    if text is not None and room is None:
        raise json_error(web.HTTPBadRequest, "'room' is not a class code")
    store = _store(request)

    def read() -> tuple[list[dict[str, Any]], int]:
        snapshots = store.list(limit, offset, teacher=scope, room=room)
        return [s.public() for s in snapshots], store.usage(teacher=scope, room=room).count

    snapshots, total = await asyncio.to_thread(read)
    following = offset + len(snapshots)
    return json_answer(
        {
            "snapshots": snapshots,
            "total": total,
            "offset": offset,
            "limit": limit,
            "next": following if following < total else None,
        }
    )


async def _rooms(request: web.Request) -> web.Response:
    _, scope = _scope(request)
    rooms = await asyncio.to_thread(_store(request).rooms, teacher=scope)
    return json_answer({"rooms": [room.public() for room in rooms]})


async def _image(request: web.Request) -> web.Response:
    _, scope = _scope(request)
    snapshot_id = int(request.match_info["id"])
    jpeg = await asyncio.to_thread(_store(request).image, snapshot_id, teacher=scope)
    if jpeg is None:
        raise json_error(web.HTTPNotFound, f"no photo {snapshot_id}")
    return web.Response(
        body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"}
    )


async def _delete(request: web.Request) -> web.Response:
    teacher, scope = _scope(request)
    await check_post(request)
    snapshot_id = int(request.match_info["id"])
    if not await asyncio.to_thread(_store(request).delete, snapshot_id, teacher=scope):
        raise json_error(web.HTTPNotFound, f"no photo {snapshot_id}")
    log.info("teacher %r deleted snapshot %d", teacher, snapshot_id)
    return json_answer({"id": snapshot_id, "deleted": True})


async def _delete_room(request: web.Request) -> web.Response:
    """Every photo of one room (in the teacher's scope), after an explicit confirmation."""
    teacher, scope = _scope(request)
    body = await check_post(request)
    code = _room_code(request)
    if body.get("confirm") != CONFIRM_DELETE_ALL:
        raise json_error(web.HTTPBadRequest, f'send {{"confirm": "{CONFIRM_DELETE_ALL}"}}')
    deleted = await asyncio.to_thread(_store(request).delete_room, code, teacher=scope)
    if not deleted:
        raise json_error(web.HTTPNotFound, "no photos of that class")
    log.info("teacher %r deleted a class's %d photo(s)", teacher, deleted)
    return json_answer({"room": code, "deleted": deleted})


class _Sink:
    """Where `zipfile` writes: it collects bytes until the handler sends them on. It has no
    `tell`/`seek`, so `zipfile` writes a stream (nothing is ever rewritten)."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _zip_entry(zipped: zipfile.ZipFile, snapshot: Snapshot, jpeg: bytes) -> None:
    """One photo into the archive, dated when it was taken (JPEG: stored, not compressed)."""
    taken = datetime.fromisoformat(snapshot.created_at)
    info = zipfile.ZipInfo(f"photo-{snapshot.id}.jpg", date_time=taken.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED
    zipped.writestr(info, jpeg)


async def _archive(request: web.Request) -> web.StreamResponse:
    """The room's photos as one zip, streamed a photo at a time (memory stays at one photo),
    with `photos.json` (when each was taken and what was found)."""
    teacher, scope = _scope(request)
    code = _room_code(request)
    store = _store(request)
    snapshots = await asyncio.to_thread(store.list, store.max_count, 0, teacher=scope, room=code)
    if not snapshots:
        raise json_error(web.HTTPNotFound, "no photos of that class")
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/zip",
            "Content-Disposition": f'attachment; filename="photos-{code}.zip"',
            "Cache-Control": "private, no-store",
        }
    )
    await response.prepare(request)
    sink = _Sink()
    zipped = zipfile.ZipFile(sink, "w")
    index = []
    for snapshot in reversed(snapshots):  # oldest first
        jpeg = await asyncio.to_thread(store.read_image, snapshot)
        if jpeg is None:  # deleted meanwhile
            continue
        await asyncio.to_thread(_zip_entry, zipped, snapshot, jpeg)
        index.append(
            {
                "file": f"photo-{snapshot.id}.jpg",
                "taken": snapshot.created_at,
                "labels": snapshot.labels,
            }
        )
        await response.write(sink.take())
    zipped.writestr("photos.json", json.dumps({"room": code, "photos": index}, indent=1))
    zipped.close()
    await response.write(sink.take())
    await response.write_eof()
    log.info("teacher %r downloaded a class's %d photo(s)", teacher, len(index))
    return response


async def _room_snapshot(request: web.Request) -> web.Response:
    """The projector's 📸: the room's teacher snapshots the presenting phone."""

    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    await check_post(request)
    text = request.match_info["code"]
    code = normalise_code(text)
    hub = request.app[ROOMS_KEY]
    state = None if code is None else await hub.store.get(code)
    # another teacher's room is answered like a missing one: codes reveal nothing
    if state is None or state.ended or state.teacher != teacher:
        raise json_error(web.HTTPNotFound, "no such class")
    session = request.app[SESSIONS_KEY].get(state.presenter) if state.presenter else None
    if session is None or session.closed or session.room != state.code:
        raise json_error(web.HTTPConflict, "no phone is presenting in this room")
    try:
        snapshot = await request.app[SNAPSHOTS_KEY].take(session)
    except SnapshotRefused as exc:
        status: type[web.HTTPException] = {
            ErrorCode.SNAPSHOT_LIMIT: web.HTTPTooManyRequests,
            ErrorCode.ROOM_LIMIT: web.HTTPTooManyRequests,
            ErrorCode.LIBRARY_FULL: web.HTTPInsufficientStorage,
        }.get(exc.code, web.HTTPConflict)
        raise json_error(status, str(exc)) from None
    return json_answer(snapshot.public(), status=201)


# -- the admin page ---------------------------------------------------------------------------


async def _admin(request: web.Request) -> web.Response:

    _require_admin(request)
    registry = request.app[SESSIONS_KEY]
    sessions = [
        {
            "id": s.id,
            "room": s.room,
            "fps_in": round(s.fps_in, 1),
            "fps_out": round(s.fps_out, 1),
            "overlay_fps": round(s.overlay_fps, 1),
            "paused": s.paused,
            "peer": s.peer,
        }
        for s in registry
    ]
    viewers = request.app[VIEWERS_KEY]
    hub = request.app[ROOMS_KEY]
    # the rooms somebody is connected to (the store can list rooms only per teacher)
    codes = {s.room for s in registry if s.room} | {v.room for v in viewers}
    rooms = []
    for code in sorted(codes):
        state = await hub.store.get(code)
        if state is None or state.ended:
            continue
        phones, watching = hub.members(code)
        rooms.append(
            {
                "code": code,
                "teacher": state.teacher,
                "presenter": state.presenter,
                "phones": [p.id for p in phones],
                "viewers": len(watching),
            }
        )
    usage = await asyncio.to_thread(_store(request).usage)
    store = _store(request)
    return json_answer(
        {
            "sessions": {
                "count": len(sessions),
                "max": registry.max_sessions,
                "list": sessions,
            },
            "viewers": {
                "count": len(viewers),
                "max": viewers.max_viewers,
                "list": [{"id": v.id, "room": v.room} for v in viewers],
            },
            "rooms": rooms,
            "workers": _workers(request.app[ENGINE_KEY].engine),
            "storage": {
                "snapshots": usage.count,
                "bytes": usage.bytes,
                "max_snapshots": store.max_count,
                "max_bytes": store.max_bytes,
            },
        }
    )


def _workers(engine: EngineLike | None) -> Any:
    """The detection broker's stats when it has any (a Redis broker lists its workers)."""
    if engine is None:
        return None
    try:
        return engine.broker_stats()
    except Exception as exc:  # the admin page must show, whatever the broker says
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


async def _delete_all(request: web.Request) -> web.Response:
    name = _require_admin(request)
    body = await check_post(request)
    if body.get("confirm") != CONFIRM_DELETE_ALL:
        raise json_error(web.HTTPBadRequest, f'send {{"confirm": "{CONFIRM_DELETE_ALL}"}}')
    deleted = await asyncio.to_thread(_store(request).delete_all)
    log.warning("admin %r deleted all %d snapshots", name, deleted)
    return json_answer({"deleted": deleted})
