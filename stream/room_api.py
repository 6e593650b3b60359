"""Rooms over HTTP: the teacher's API and the room pages.

Teacher only (a login cookie, JSON POSTs checked against cross-site use, the room's own
teacher):
    POST /api/rooms                       → {code, join_url, screen_url, teacher_url, qr_url}
    GET  /api/rooms                       → {"rooms": [...]} the teacher's open rooms
    POST /api/rooms/{code}/presenter      {"session": "s3"}
    POST /api/rooms/{code}/words          {"words": "cat, cup"} or {"theme": "animals"}
    POST /api/rooms/{code}/speech         {"muted": true} and/or {"projector": true}
    POST /api/rooms/{code}/end
Anyone with the code:
    GET  /api/rooms/{code}                → the room's public state (phones and viewers counted)
    GET  /api/rooms/{code}/qr.png         → the join URL as a QR code
    GET  /room/{code}/screen              → the projector page
    GET  /room/{code}/teacher, /teacher   → the teacher's page (it asks for a login itself)
A wrong code gets 404: JSON for the API, a short page for the pages.

The join link (and its QR code) points where phones can go (`stream.urls.PhoneOrigin`: the
public URL, else the LAN address instead of the teacher's "localhost"); the other links keep
the teacher's own origin, where the login cookie lives.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from aiohttp import web

from stream.room_store import RoomLimitError, RoomState, normalise_code
from stream.rooms import ROOMS_KEY, RoomHub
from stream.teacher_auth import TEACHER_AUTH_KEY, check_post, json_answer, json_error
from stream.urls import PhoneOrigin, qr_png

PHONE_ORIGIN_KEY = web.AppKey("phone_origin", PhoneOrigin)


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
    app.router.add_post("/api/rooms/{code}/words", _words)
    app.router.add_post("/api/rooms/{code}/speech", _speech)
    app.router.add_post("/api/rooms/{code}/end", _end)
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
        "screen_url": f"{base}/room/{code}/screen",
        "teacher_url": f"{base}/room/{code}/teacher",
        "qr_url": f"{base}/api/rooms/{code}/qr.png",
    }


def _describe(request: web.Request, state: RoomState) -> dict[str, Any]:
    hub = request.app[ROOMS_KEY]
    phones, viewers = hub.members(state.code)
    live = hub.live(state.code) if phones or viewers else None
    return {
        **state.public(),
        **room_links(request, state.code),
        "phones": [phone.id for phone in phones],
        "viewers": len(viewers),
        "presenting": live.presenting if live is not None else None,
    }


async def _room(request: web.Request) -> RoomState:
    text = request.match_info["code"]
    code = normalise_code(text)
    state = None if code is None else await request.app[ROOMS_KEY].store.get(code)
    if state is None or state.ended:
        raise json_error(web.HTTPNotFound, f"no room with code {text[:16]!r}")
    return state


async def _own_room(request: web.Request) -> tuple[RoomState, dict[str, Any]]:
    """The room, when the logged-in teacher owns it, and the POST's JSON body."""
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    body = await check_post(request)
    state = await _room(request)
    if state.teacher != teacher:
        raise json_error(web.HTTPForbidden, "this room belongs to another teacher")
    return state, body


async def _page_room(request: web.Request) -> None:
    code = normalise_code(request.match_info["code"])
    state = None if code is None else await request.app[ROOMS_KEY].store.get(code)
    if state is None or state.ended:
        text = html.escape(request.match_info["code"][:16])
        raise web.HTTPNotFound(
            text=(
                "<!doctype html><meta charset=utf-8><title>No such room</title>"
                '<body style="font:1.5rem system-ui;margin:3rem">'
                f"<h1>No room with code “{text}”</h1>"
                "<p>Check the code on the teacher's screen, or ask the teacher for a new room.</p>"
            ),
            content_type="text/html",
        )


async def _create(request: web.Request) -> web.Response:
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    await check_post(request)
    try:
        state = await request.app[ROOMS_KEY].store.create(teacher)
    except RoomLimitError as exc:
        raise json_error(web.HTTPServiceUnavailable, str(exc), {"Retry-After": "60"}) from exc
    return json_answer(_describe(request, state), status=201)


async def _list(request: web.Request) -> web.Response:
    teacher = request.app[TEACHER_AUTH_KEY].require(request)
    rooms = await request.app[ROOMS_KEY].store.of_teacher(teacher)
    return json_answer({"rooms": [_describe(request, r) for r in rooms if not r.ended]})


async def _show(request: web.Request) -> web.Response:
    return json_answer(_describe(request, await _room(request)))


async def _qr(request: web.Request) -> web.Response:
    state = await _room(request)
    png = qr_png(room_links(request, state.code)["join_url"])
    return web.Response(body=png, content_type="image/png", headers={"Cache-Control": "no-store"})


async def _presenter(request: web.Request) -> web.Response:
    state, body = await _own_room(request)
    session = body.get("session")
    if not isinstance(session, str):
        raise json_error(web.HTTPBadRequest, "'session' must name a phone in the room")
    try:
        state = await request.app[ROOMS_KEY].set_presenter(state.code, session)
    except KeyError as exc:
        raise json_error(web.HTTPNotFound, f"no phone {session[:16]!r} in this room") from exc
    return json_answer(_describe(request, state))


async def _words(request: web.Request) -> web.Response:
    state, body = await _own_room(request)
    words, theme = body.get("words"), body.get("theme")
    if (words is None) == (theme is None) or not isinstance(words or theme, str):
        raise json_error(web.HTTPBadRequest, "send either 'words' or 'theme', as a string")
    if isinstance(words, str) and not words.strip():
        raise json_error(web.HTTPBadRequest, "'words' is empty")
    state, problems = await request.app[ROOMS_KEY].set_words(state.code, words, theme)
    return json_answer({**_describe(request, state), "problems": problems})


async def _speech(request: web.Request) -> web.Response:
    state, body = await _own_room(request)
    muted, projector = body.get("muted"), body.get("projector")
    if muted is None and projector is None:
        raise json_error(web.HTTPBadRequest, "send 'muted' and/or 'projector' (true or false)")
    for value in (muted, projector):
        if value is not None and not isinstance(value, bool):
            raise json_error(web.HTTPBadRequest, "'muted' and 'projector' are true or false")
    state = await request.app[ROOMS_KEY].set_speech(state.code, muted=muted, projector=projector)
    return json_answer(_describe(request, state))


async def _end(request: web.Request) -> web.Response:
    state, _ = await _own_room(request)
    await request.app[ROOMS_KEY].end(state.code)
    return json_answer({"code": state.code, "ended": True})
