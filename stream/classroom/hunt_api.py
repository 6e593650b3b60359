"""The teacher's class "Find it!" hunt and the room's language:

  POST /api/rooms/{code}/hunt      {"action": "start", "words": "cup, cat" | "theme": "fruit",
                                    "order": "list" | "random"}   or   {"action": "stop"}
  POST /api/rooms/{code}/language  {"language": "fr"}
  GET  /api/rooms/{code}/hunt.csv  the results, one row per phone and word (`class_hunts`)

Only the room's teacher may call them (cookie, same origin, like the rest of the room API).
Starting a hunt sets the room's words to the hunt's, so every phone's detector looks for them;
each phone then hunts the same words in the same order and reports its finds through its
session; the class screen hears each find as a `class_hunt` message with the news in the
room's language ("Table 3 found a banana!") and the teacher's page reads the progress in the
room's description (`GET /api/rooms/{code}`). A phone cannot start, stop or change a class hunt
(`room_hunt` error); it may skip a word.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from inference.hunts.hunt import HUNT_ORDERS, HuntError, HuntOrder, hunt_words
from inference.labels.languages import LANGUAGE_CODE, UnknownLanguageError, load_language
from inference.labels.phrases import class_found_phrase
from inference.labels.themes import UnknownThemeError, load_theme
from inference.labels.vocabulary import parse_vocabulary
from stream.classroom.class_hunts import ClassHunt, HuntEvent
from stream.classroom.live_room import LiveRoom
from stream.classroom.room_api import check_words, own_room, room_description
from stream.classroom.room_store import RoomState
from stream.classroom.rooms import RoomHub
from stream.classroom.teacher_auth import json_answer, json_error


class RoomHunts:
    """Starts and stops rooms' hunts and follows their phones (installed as the hub's
    `on_phone_hunt`). `clock` times the finds; `rng` draws a random order."""

    def __init__(
        self,
        hub: RoomHub,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.hub = hub
        self._clock = clock
        self._rng = rng or random.Random()
        hub.on_phone_hunt = self._progress

    async def start(
        self, code: str, words: str | None, theme: str | None, order: HuntOrder
    ) -> tuple[RoomState, list[str]]:
        """Start a hunt in room `code` (any hunt going on ends); ValueError/LookupError for
        words, a theme or an order that will not do."""
        chosen = load_theme(theme).words if theme is not None else parse_vocabulary(words or "")
        ordered = hunt_words(chosen, order, self._rng)
        hunt_id = secrets.token_hex(6)
        room = self.hub.live(code)
        room.hunt = ClassHunt(hunt_id, ordered, self._clock())
        state, problems = await self.hub.apply(
            code, words=words, theme=theme, hunt=hunt_id, hunt_words=ordered
        )
        self._tell_screens(room)
        return state, problems

    async def stop(self, code: str) -> RoomState:
        state, _ = await self.hub.apply(code, hunt=None, hunt_words=())
        room = self.hub.find(code)
        if room is not None and room.hunt is not None:
            room.hunt.ended = True
            self._tell_screens(room)
        return state

    def _progress(self, room: LiveRoom, phone: str, fields: dict[str, Any]) -> None:
        if room.hunt is None:
            return
        event = room.hunt.record(phone, fields, self._clock())
        self._tell_screens(room, event)

    def _tell_screens(self, room: LiveRoom, event: HuntEvent | None = None) -> None:
        """Every class screen of `room`: the progress, and the news of a find."""
        if room.hunt is None:
            return
        message = room.hunt.describe(room.names, room.language)
        if event is not None:
            name = room.names.get(event.phone, event.phone)
            message["news"] = {
                "phone": event.phone,
                "word": event.word,
                "say": class_found_phrase(name, event.word, room.language),
            }
        for viewer in list(room.viewers.values()):
            if not viewer.closed:
                viewer.send("class_hunt", **message)


HUNTS_KEY = web.AppKey("hunts", RoomHunts)


def install_hunt_api(app: web.Application, hunts: RoomHunts) -> None:
    app[HUNTS_KEY] = hunts
    app.router.add_post("/api/rooms/{code}/hunt", _hunt)
    app.router.add_post("/api/rooms/{code}/language", _language)
    app.router.add_get("/api/rooms/{code}/hunt.csv", _csv)


async def _hunt(request: web.Request) -> web.Response:
    state, body = await own_room(request)
    hunts = request.app[HUNTS_KEY]
    action = body.get("action")
    if action == "stop":
        state = await hunts.stop(state.code)
        return json_answer(room_description(request, state))
    if action != "start":
        raise json_error(web.HTTPBadRequest, "send 'action': 'start' or 'stop'")
    words, theme, order = body.get("words"), body.get("theme"), body.get("order", "list")
    check_words(request, words, theme)
    if order not in HUNT_ORDERS:
        raise json_error(web.HTTPBadRequest, "'order' is 'list' or 'random'")
    try:
        state, problems = await hunts.start(
            state.code,
            words if isinstance(words, str) else None,
            theme if isinstance(theme, str) else None,
            order,
        )
    except (HuntError, UnknownThemeError) as exc:
        raise json_error(web.HTTPBadRequest, str(exc) or "unknown theme") from exc
    return json_answer({**room_description(request, state), "problems": problems})


async def _language(request: web.Request) -> web.Response:
    state, body = await own_room(request)
    code = body.get("language")
    if not isinstance(code, str) or not LANGUAGE_CODE.fullmatch(code):
        raise json_error(web.HTTPBadRequest, "send 'language': a code like 'en', 'fr' or 'es'")
    try:
        load_language(code)
    except UnknownLanguageError as exc:
        raise json_error(web.HTTPBadRequest, str(exc)) from exc
    state, problems = await request.app[HUNTS_KEY].hub.apply(state.code, language=code)
    return json_answer({**room_description(request, state), "problems": problems})


async def _csv(request: web.Request) -> web.Response:
    state, _ = await own_room(request)
    room = request.app[HUNTS_KEY].hub.find(state.code)
    if room is None or room.hunt is None:
        raise json_error(web.HTTPNotFound, "no hunt in this room yet")
    return web.Response(
        text=room.hunt.to_csv(room.names),
        content_type="text/csv",
        charset="utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="hunt-{state.code}.csv"',
            "Cache-Control": "no-store",
        },
    )
