"""The snapshot library and the admin page over HTTP.

Teacher only (a login cookie; POSTs are JSON and same-origin, `stream.teacher_auth.check_post`):
    GET  /api/snapshots?offset=0&limit=24  → {"snapshots": [...], "total", "offset", "limit",
                                              "next"}   newest first; `next` is the next offset
    GET  /api/snapshots/{id}.jpg           → the picture
    POST /api/snapshots/{id}/delete        {}            → {"id", "deleted": true}
    POST /api/rooms/{code}/snapshot        {}            → {"id", ...} the presenter's picture now
                                                           (the room's own teacher only)
    GET  /library                          → the library page
Admin teachers only (403 for the others):
    GET  /api/admin                        → sessions, viewers, rooms, detection workers, storage
    POST /api/admin/delete-all             {"confirm": "delete all"} → {"deleted": n}
    GET  /admin                            → the admin page (it asks for a login itself)

The app keys of `stream.app` are imported inside the handlers: `stream.app` imports this module.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from stream.room_store import normalise_code
from stream.rooms import ROOMS_KEY
from stream.snapshots import SnapshotRefused, SnapshotStore, SnapshotTaker
from stream.teacher_auth import TEACHER_AUTH_KEY, check_post, json_answer, json_error

log = logging.getLogger(__name__)

MAX_PAGE = 100
DEFAULT_PAGE = 24
CONFIRM_DELETE_ALL = "delete all"

SNAPSHOTS_KEY = web.AppKey("snapshots", SnapshotTaker)


def install_snapshots(
    app: web.Application,
    store: SnapshotStore,
    web_dir: Path | None = None,
    *,
    per_session_per_minute: int = 6,
) -> SnapshotTaker:
    """Add the snapshot routes and let every new phone session take snapshots.

    Call it before the static files are added (so /library and /admin win) and before the app
    starts (aiohttp freezes the router then).
    """
    from stream.app import SESSIONS_KEY  # stream.app imports this module

    taker = SnapshotTaker(store, per_session_per_minute=per_session_per_minute)
    app[SNAPSHOTS_KEY] = taker
    app[SESSIONS_KEY].snapshots = taker
    app.router.add_get("/api/snapshots", _list)
    app.router.add_get(r"/api/snapshots/{id:\d{1,12}}.jpg", _image)
    app.router.add_post(r"/api/snapshots/{id:\d{1,12}}/delete", _delete)
    app.router.add_post("/api/rooms/{code}/snapshot", _room_snapshot)
    app.router.add_get("/api/admin", _admin)
    app.router.add_post("/api/admin/delete-all", _delete_all)
    if web_dir is not None:
        for path, name in (("/library", "library.html"), ("/admin", "admin.html")):
            app.router.add_get(path, _page(web_dir / name))
    return taker


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


# -- the library ------------------------------------------------------------------------------


async def _list(request: web.Request) -> web.Response:
    request.app[TEACHER_AUTH_KEY].require(request)
    offset = _int(request, "offset", 0, 0, 10**9)
    limit = _int(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    store = _store(request)

    def read() -> tuple[list[dict[str, Any]], int]:
        return [s.public() for s in store.list(limit, offset)], store.usage().count

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


async def _image(request: web.Request) -> web.Response:
    request.app[TEACHER_AUTH_KEY].require(request)
    snapshot_id = int(request.match_info["id"])
    jpeg = await asyncio.to_thread(_store(request).image, snapshot_id)
    if jpeg is None:
        raise json_error(web.HTTPNotFound, f"no snapshot {snapshot_id}")
    return web.Response(
        body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "private, no-store"}
    )


async def _delete(request: web.Request) -> web.Response:
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    await check_post(request)
    snapshot_id = int(request.match_info["id"])
    if not await asyncio.to_thread(_store(request).delete, snapshot_id):
        raise json_error(web.HTTPNotFound, f"no snapshot {snapshot_id}")
    log.info("teacher %r deleted snapshot %d", teacher, snapshot_id)
    return json_answer({"id": snapshot_id, "deleted": True})


async def _room_snapshot(request: web.Request) -> web.Response:
    """The projector's 📸: the room's teacher snapshots the presenting phone."""
    from stream.app import SESSIONS_KEY  # stream.app imports this module

    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    await check_post(request)
    text = request.match_info["code"]
    code = normalise_code(text)
    hub = request.app[ROOMS_KEY]
    state = None if code is None else await hub.store.get(code)
    if state is None or state.ended:
        raise json_error(web.HTTPNotFound, f"no room with code {text[:16]!r}")
    if state.teacher != teacher:
        raise json_error(web.HTTPForbidden, "this room belongs to another teacher")
    session = request.app[SESSIONS_KEY].get(state.presenter) if state.presenter else None
    if session is None or session.closed or session.room != state.code:
        raise json_error(web.HTTPConflict, "no phone is presenting in this room")
    try:
        snapshot = await request.app[SNAPSHOTS_KEY].take(session)
    except SnapshotRefused as exc:
        status: type[web.HTTPException] = {
            "snapshot_limit": web.HTTPTooManyRequests,
            "library_full": web.HTTPInsufficientStorage,
        }.get(exc.code, web.HTTPConflict)
        raise json_error(status, str(exc)) from None
    return json_answer(snapshot.public(), status=201)


# -- the admin page ---------------------------------------------------------------------------


async def _admin(request: web.Request) -> web.Response:
    from stream.app import ENGINE_KEY, SESSIONS_KEY, VIEWERS_KEY

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


def _workers(engine: Any) -> Any:
    """The detection broker's stats when it has any (a Redis broker lists its workers)."""
    broker = getattr(engine, "broker", None)
    stats = getattr(broker, "stats", None)
    if not callable(stats):
        return None
    try:
        return stats()
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
