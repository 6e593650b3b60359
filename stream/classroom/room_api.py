"""Rooms over HTTP: the teacher's API and the room pages.

The room's teacher only (a login cookie, JSON POSTs checked against cross-site use; an admin
may also end any room):
    POST /api/rooms                          → 201 the room (below); 409 past the teacher's cap
    GET  /api/rooms                          → {"rooms": [...]} the teacher's open rooms
    GET  /api/rooms/{code}                   → the room: {code, words, theme, speech_muted,
         projector_speech, first_phone_presents, locked, ended, presenter, presenting,
         phones: [{id, name, state: waiting|admitted|presenting}], viewers,
         screens: [{id}], join_url, teacher_url, qr_url}
    POST /api/rooms/{code}/presenter         {"session": "s3"}  (admits it too)
    POST /api/rooms/{code}/phones/{id}/admit | /remove   {}
    POST /api/rooms/{code}/phones/{id}/name  {"name": "Table 3"}
    POST /api/rooms/{code}/words             {"words": "cat, cup"} or {"theme": "animals"}
    POST /api/rooms/{code}/speech            {"muted": true} and/or {"projector": true}
    POST /api/rooms/{code}/settings          {"first_phone_presents": true} and/or {"locked": true}
    POST /api/rooms/{code}/code              → the room under a new code (the old one stops)
    POST /api/rooms/{code}/screens           → 201 {"token", "screen_url"} a class screen's link
    POST /api/rooms/{code}/screens/{id}/disconnect   closes that screen, revokes its token
    POST /api/rooms/{code}/end
    GET  /api/rooms/{code}/phones/{id}/preview.jpg   a small still of the phone's camera now
         (encoded on request from the frame in memory, never stored; 404 before its first frame)
Anyone with the code (what a joining phone needs, nothing more):
    GET  /api/rooms/{code}                   → {"code", "locked"}
    GET  /api/rooms/{code}/qr.png            → the join URL as a QR code
    GET  /room/{code}/screen                 → the class screen page (video needs a token)
    GET  /room/{code}/teacher, /teacher      → the teacher's page (it asks for a login itself)
A wrong or ended code gets 404 (alike): JSON for the API, a short page for the pages. Every
route that tells whether a room exists is rate limited per client address, with a global
budget for misses (`stream.classroom.rooms.LookupGuard`): 429 + Retry-After.

The class screen's link carries its token in the URL fragment (`#key=…`), which browsers
never send to a server, so it stays out of access logs and Referer headers.

The join link (and its QR code) points where phones can go (`stream.edge.urls.PhoneOrigin`: the
public URL, else the LAN address instead of the teacher's "localhost"); the other links keep
the teacher's own origin, where the login cookie lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
from aiohttp import web

from inference.labels.vocabulary import VocabularyError, parse_vocabulary
from stream.classroom.live_room import UnknownMemberError
from stream.classroom.room_store import (
    RoomLimitError,
    RoomState,
    TeacherRoomLimitError,
    normalise_code,
)
from stream.classroom.rooms import ROOMS_KEY, RoomHub
from stream.classroom.teacher_auth import TEACHER_AUTH_KEY, check_post, json_answer, json_error
from stream.edge.client_address import peer_address
from stream.edge.urls import PhoneOrigin, qr_png
from stream.webrtc.engine_slot import ENGINE_KEY
from stream.webrtc.protocol import MAX_WORDS_CHARS
from stream.webrtc.tracks import SharedFrame

log = logging.getLogger(__name__)

PHONE_ORIGIN_KEY = web.AppKey("phone_origin", PhoneOrigin)
SWEEP_EVERY_S = 30.0  # rooms in use are touched, rooms of removed teachers ended, this often
MAX_THEME_CHARS = 40
PREVIEW_WIDTH = 160  # the teacher's page shows each phone this wide: enough to tell them apart
PREVIEW_QUALITY = 70


def install_room_api(
    app: web.Application,
    hub: RoomHub,
    web_dir: Path | None,
    phones: PhoneOrigin | None = None,
) -> None:
    app[ROOMS_KEY] = hub
    app[PHONE_ORIGIN_KEY] = phones or PhoneOrigin()
    app.router.add_post("/api/rooms", _create)
    app.router.add_get("/api/rooms", _list)
    app.router.add_get("/api/rooms/{code}", _show)
    app.router.add_get("/api/rooms/{code}/qr.png", _qr)
    app.router.add_post("/api/rooms/{code}/presenter", _presenter)
    app.router.add_post("/api/rooms/{code}/phones/{phone}/{action}", _phone)
    app.router.add_get("/api/rooms/{code}/phones/{phone}/preview.jpg", _preview)
    app.router.add_post("/api/rooms/{code}/words", _words)
    app.router.add_post("/api/rooms/{code}/speech", _speech)
    app.router.add_post("/api/rooms/{code}/settings", _settings)
    app.router.add_post("/api/rooms/{code}/code", _new_code)
    app.router.add_post("/api/rooms/{code}/screens", _mint_screen)
    app.router.add_post("/api/rooms/{code}/screens/{screen}/disconnect", _disconnect_screen)
    app.router.add_post("/api/rooms/{code}/end", _end)
    app.cleanup_ctx.append(_sweeping)
    if web_dir is not None:
        screen, teacher = web_dir / "screen.html", web_dir / "teacher.html"

        async def screen_page(request: web.Request) -> web.StreamResponse:
            await _page_room(request)
            return web.FileResponse(screen)

        async def teacher_page(request: web.Request) -> web.StreamResponse:
            if "code" in request.match_info:
                await _page_room(request)
            return web.FileResponse(teacher)

        app.router.add_get("/room/{code}/screen", screen_page)
        app.router.add_get("/room/{code}/teacher", teacher_page)
        app.router.add_get("/teacher", teacher_page)


def room_links(request: web.Request, code: str) -> dict[str, str]:
    base = f"{request.scheme}://{request.host}"
    try:
        host, port = request.url.host or "", request.url.explicit_port
    except ValueError:  # a Host header yarl cannot parse: keep it whole, as before
        host, port = request.host, None
    phones = request.app[PHONE_ORIGIN_KEY].origin(request.scheme, host, port)
    return {
        "join_url": f"{phones}/?room={code}",
        "teacher_url": f"{base}/room/{code}/teacher",
        "qr_url": f"{base}/api/rooms/{code}/qr.png",
    }


def room_description(request: web.Request, state: RoomState) -> dict[str, Any]:
    """The whole room, for its teacher."""
    room = request.app[ROOMS_KEY].find(state.code)
    phones = list(room.phones) if room is not None else []
    viewers = list(room.viewers) if room is not None else []
    return {
        **state.public(),
        **room_links(request, state.code),
        "phones": [
            {"id": p, "name": room.names.get(p, p), "state": room.state_of(p)}
            for p in phones
            if room is not None
        ],
        "viewers": len(viewers),
        "screens": [{"id": viewer} for viewer in viewers],
        "presenting": room.presenting if room is not None else None,
        "hunt": room.hunt.describe(room.names, room.language) if room and room.hunt else None,
    }


def _teacher_or_none(request: web.Request) -> str | None:
    try:
        return request.app[TEACHER_AUTH_KEY].require(request)
    except web.HTTPUnauthorized:
        return None


def _is_admin(request: web.Request, name: str) -> bool:
    teacher = request.app[TEACHER_AUTH_KEY].store.get(name)
    return teacher is not None and teacher.admin


def _retry(wait: int, page: bool = False) -> web.HTTPException:
    message = f"too many room lookups: try again in {wait} s"
    if page:
        return web.HTTPTooManyRequests(text=message, headers={"Retry-After": str(wait)})
    return json_error(web.HTTPTooManyRequests, message, {"Retry-After": str(wait)})


async def _lookup(
    request: web.Request, teacher: str | None, *, page: bool = False
) -> RoomState | None:
    """The room named in the path, within the lookup limits for anyone not logged in; None when
    missing or ended. A logged-in teacher is never limited here: guessers spending the
    server's miss budget must not lock a teacher out of their own class (remove, lock, end)."""
    hub = request.app[ROOMS_KEY]
    address = peer_address(request)
    if teacher is None:
        wait = hub.lookups.check(address)
        if wait is not None:
            raise _retry(wait, page)
    code = normalise_code(request.match_info["code"])
    state = None if code is None else await hub.store.get(code)
    if state is None or state.ended:
        if teacher is None:
            hub.lookups.miss(address)
        return None
    return state


async def _room(request: web.Request, teacher: str | None = None) -> RoomState:
    state = await _lookup(request, teacher)
    if state is None:
        text = request.match_info["code"]
        raise json_error(web.HTTPNotFound, f"no room with code {text[:16]!r}")
    return state


async def own_room(
    request: web.Request, *, admin_may: bool = False
) -> tuple[RoomState, dict[str, Any]]:
    """The room, when the logged-in teacher owns it (or is an admin, where `admin_may`), and
    the POST's JSON body ({} for a GET). Using it keeps the room from ending idle."""
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    body = await check_post(request) if request.method == "POST" else {}
    state = await _room(request, teacher)
    if state.teacher != teacher and not (admin_may and _is_admin(request, teacher)):
        raise json_error(web.HTTPForbidden, "this room belongs to another teacher")
    await request.app[ROOMS_KEY].touch(state.code)
    return state, body


async def _page_room(request: web.Request) -> None:
    state = await _lookup(request, _teacher_or_none(request), page=True)
    if state is None:
        text = html.escape(request.match_info["code"][:16])
        raise web.HTTPNotFound(
            text=(
                "<!doctype html><meta charset=utf-8>"
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                "<title>No such room</title>"
                '<link rel="stylesheet" href="/room.css">'  # the CSP allows no inline style
                '<body class="notice"><main>'
                '<div class="notice-icon" aria-hidden="true">🔍</div>'
                f"<h1>No room with code “{text}”</h1>"
                "<p>Check the code on the teacher's screen, or ask the teacher for a new room.</p>"
                "</main>"
            ),
            content_type="text/html",
        )


async def _create(request: web.Request) -> web.Response:
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    await check_post(request)
    try:
        state = await request.app[ROOMS_KEY].store.create(teacher)
    except TeacherRoomLimitError as exc:
        raise json_error(web.HTTPConflict, str(exc)) from exc
    except RoomLimitError as exc:
        raise json_error(web.HTTPServiceUnavailable, str(exc), {"Retry-After": "60"}) from exc
    return json_answer(room_description(request, state), status=201)


async def _list(request: web.Request) -> web.Response:
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    rooms = await request.app[ROOMS_KEY].store.of_teacher(teacher)
    return json_answer({"rooms": [room_description(request, r) for r in rooms if not r.ended]})


async def _show(request: web.Request) -> web.Response:
    teacher = _teacher_or_none(request)
    state = await _room(request, teacher)
    if teacher is not None and state.teacher == teacher:
        await request.app[ROOMS_KEY].touch(state.code)
        return json_answer(room_description(request, state))
    return json_answer({"code": state.code, "locked": state.locked})


async def _qr(request: web.Request) -> web.Response:
    state = await _room(request, _teacher_or_none(request))
    png = qr_png(room_links(request, state.code)["join_url"])
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


async def _presenter(request: web.Request) -> web.Response:
    state, body = await own_room(request)
    session = body.get("session")
    if not isinstance(session, str):
        raise json_error(web.HTTPBadRequest, "'session' must name a phone in the room")
    try:
        state = await request.app[ROOMS_KEY].set_presenter(state.code, session)
    except UnknownMemberError as exc:
        raise json_error(web.HTTPNotFound, f"no phone {session[:16]!r} in this room") from exc
    return json_answer(room_description(request, state))


async def _phone(request: web.Request) -> web.Response:
    """admit, remove or name one phone."""
    state, body = await own_room(request)
    hub = request.app[ROOMS_KEY]
    phone, action = request.match_info["phone"], request.match_info["action"]
    try:
        if action == "admit":
            state = await hub.admit(state.code, phone)
        elif action == "remove":
            state = await hub.remove_phone(state.code, phone)
        elif action == "name":
            name = body.get("name")
            if not isinstance(name, str):
                raise json_error(web.HTTPBadRequest, "send the phone's 'name' as a string")
            try:
                state = await hub.name_phone(state.code, phone, name)
            except ValueError as exc:
                raise json_error(web.HTTPBadRequest, str(exc)) from exc
        else:
            raise json_error(web.HTTPNotFound, "a phone can be admitted, removed or named")
    except UnknownMemberError as exc:
        raise json_error(web.HTTPNotFound, f"no phone {phone[:16]!r} in this room") from exc
    return json_answer(room_description(request, state))


async def _preview(request: web.Request) -> web.Response:
    """A small JPEG of one phone's newest camera frame, for its room's teacher only (another
    teacher gets 404, as for a missing room). Encoded in a thread from the frame the session
    already holds; nothing is written anywhere."""
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    state = await _room(request, teacher)
    if state.teacher != teacher:
        raise json_error(web.HTTPNotFound, "no such phone")
    phones, _ = request.app[ROOMS_KEY].members(state.code)
    phone = next((p for p in phones if p.id == request.match_info["phone"]), None)
    shared = phone.latest_frame if phone is not None else None
    if shared is None:
        raise json_error(web.HTTPNotFound, "no picture from this phone yet")
    jpeg = await asyncio.to_thread(_small_jpeg, shared)
    return web.Response(
        body=jpeg,
        content_type="image/jpeg",
        headers={"Cache-Control": "no-store, private"},
    )


def _small_jpeg(shared: SharedFrame) -> bytes:
    rgb = shared.rgb()
    height, width = rgb.shape[:2]
    size = (PREVIEW_WIDTH, max(2, round(height * PREVIEW_WIDTH / max(1, width))))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, PREVIEW_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise json_error(web.HTTPInternalServerError, "the preview could not be made")
    return encoded.tobytes()


def check_words(request: web.Request, words: object, theme: object) -> None:
    """The teacher's words or theme, checked as a phone's are: 400 with the reason."""
    if (words is None) == (theme is None):
        raise json_error(web.HTTPBadRequest, "send either 'words' or 'theme', as a string")
    if words is not None:
        if not isinstance(words, str):
            raise json_error(web.HTTPBadRequest, "'words' must be a string")
        if not words.strip():
            raise json_error(web.HTTPBadRequest, "'words' is empty")
        if len(words) > MAX_WORDS_CHARS:
            raise json_error(
                web.HTTPBadRequest, f"'words' is longer than {MAX_WORDS_CHARS} characters"
            )
        try:
            parse_vocabulary(words)
        except VocabularyError as exc:
            raise json_error(web.HTTPBadRequest, str(exc)) from exc
        return
    if not isinstance(theme, str) or not theme.strip() or len(theme) > MAX_THEME_CHARS:
        raise json_error(web.HTTPBadRequest, "'theme' must be a theme's short name")

    engine = request.app[ENGINE_KEY].engine
    themes = tuple(engine.themes) if engine is not None else ()
    if themes and theme not in themes:
        raise json_error(
            web.HTTPBadRequest, f"unknown theme {theme[:40]!r}; choose one of {', '.join(themes)}"
        )


async def _words(request: web.Request) -> web.Response:
    state, body = await own_room(request)
    words, theme = body.get("words"), body.get("theme")
    check_words(request, words, theme)
    state, problems = await request.app[ROOMS_KEY].set_words(
        state.code,
        words if isinstance(words, str) else None,
        theme if isinstance(theme, str) else None,
    )
    return json_answer({**room_description(request, state), "problems": problems})


def _flags(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, bool | None]:
    flags = {name: body.get(name) for name in names}
    if all(value is None for value in flags.values()):
        raise json_error(web.HTTPBadRequest, f"send {' and/or '.join(names)} (true or false)")
    for name, value in flags.items():
        if value is not None and not isinstance(value, bool):
            raise json_error(web.HTTPBadRequest, f"'{name}' is true or false")
    return flags


async def _speech(request: web.Request) -> web.Response:
    state, body = await own_room(request)
    flags = _flags(body, ("muted", "projector"))
    state = await request.app[ROOMS_KEY].set_speech(
        state.code, muted=flags["muted"], projector=flags["projector"]
    )
    return json_answer(room_description(request, state))


async def _settings(request: web.Request) -> web.Response:
    state, body = await own_room(request)
    flags = _flags(body, ("first_phone_presents", "locked"))
    state = await request.app[ROOMS_KEY].set_settings(
        state.code, first_phone_presents=flags["first_phone_presents"], locked=flags["locked"]
    )
    return json_answer(room_description(request, state))


async def _new_code(request: web.Request) -> web.Response:
    state, _ = await own_room(request)
    state = await request.app[ROOMS_KEY].new_code(state.code)
    return json_answer(room_description(request, state))


async def _mint_screen(request: web.Request) -> web.Response:
    state, _ = await own_room(request)
    state, token = await request.app[ROOMS_KEY].mint_screen(state.code)
    base = f"{request.scheme}://{request.host}"
    url = f"{base}/room/{state.code}/screen#key={token}"
    return json_answer({"token": token, "screen_url": url}, status=201)


async def _disconnect_screen(request: web.Request) -> web.Response:
    state, _ = await own_room(request)
    screen = request.match_info["screen"]
    try:
        state = await request.app[ROOMS_KEY].disconnect_screen(state.code, screen)
    except UnknownMemberError as exc:
        raise json_error(web.HTTPNotFound, f"no screen {screen[:16]!r} in this room") from exc
    return json_answer(room_description(request, state))


async def _end(request: web.Request) -> web.Response:
    state, _ = await own_room(request, admin_may=True)
    await request.app[ROOMS_KEY].end(state.code)
    return json_answer({"code": state.code, "ended": True})


async def sweep(app: web.Application) -> list[str]:
    """Touch the rooms in use here; end the rooms whose teacher was removed (perhaps by
    `visionanything teacher remove`, in another process). Returns the codes it ended."""
    hub, teachers = app[ROOMS_KEY], app[TEACHER_AUTH_KEY].store
    await hub.touch_live()
    return await hub.end_rooms_of(lambda name: teachers.get(name) is None)


async def _sweeping(app: web.Application) -> AsyncIterator[None]:
    async def forever() -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await sweep(app)
            except Exception:  # a store that is down now may be back next time
                log.exception("the room sweep failed")

    task = asyncio.get_running_loop().create_task(forever(), name="room-sweep")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
