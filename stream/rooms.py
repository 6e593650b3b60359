"""Rooms live in this process: who is connected, who presents, and the fan-out to viewers.

`RoomHub` joins the sessions of one server to the rooms of a `RoomStore`:
  - phones (`RoomPhone`: a `stream.sessions.Session` that joined with a code) get the room's
    words and speech setting when they join and whenever the teacher changes them;
  - the presenter's annotated video reaches every viewer through one `RoomFeed` and one
    `MediaRelay` per room: the models run once per presenter frame whatever the number of
    viewers (each viewer's connection still encodes its own VP8, as aiortc encodes per sender);
  - the presenter's `objects` and `say` messages are copied to every viewer;
  - every change is pushed at once as a `room` message to every member (phones and viewers).
Everything here runs on the event loop.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from stream.room_feed import RoomFeed
from stream.room_store import RoomState, RoomStore

log = logging.getLogger(__name__)


class RoomMember(Protocol):
    """Anything in a room that hears about it: phones and viewers."""

    @property
    def id(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def send(self, kind: str, essential: bool = True, **fields: Any) -> bool: ...

    def schedule_close(self, reason: str, detail: str = "") -> Any: ...


class RoomPhone(RoomMember, Protocol):
    """A phone in a room (`stream.sessions.Session`)."""

    on_room_message: Callable[[str, dict[str, Any]], None] | None

    def presenter_track(self) -> MediaStreamTrack | None: ...

    def apply_room(self, room: RoomState) -> list[str]: ...


@dataclass
class LiveRoom:
    """The connected part of one room."""

    code: str
    feed: RoomFeed = field(default_factory=RoomFeed)
    relay: MediaRelay = field(default_factory=MediaRelay)
    phones: dict[str, RoomPhone] = field(default_factory=dict)  # in joining order
    viewers: dict[str, RoomMember] = field(default_factory=dict)
    presenting: str | None = None  # the phone whose frames the feed shows now
    # the presenter's last `objects`: phones send them only when they change, so a screen
    # joining later would otherwise show no labels until the picture changes
    last_objects: dict[str, Any] | None = None


class RoomHub:
    """The rooms' live side (see the module docstring)."""

    def __init__(self, store: RoomStore) -> None:
        self.store = store
        self._live: dict[str, LiveRoom] = {}
        self.on_change: list[Callable[[RoomState], None]] = []

    def live(self, code: str) -> LiveRoom:
        room = self._live.get(code)
        if room is None:
            room = self._live[code] = LiveRoom(code)
        return room

    def members(self, code: str) -> tuple[list[RoomPhone], list[RoomMember]]:
        room = self._live.get(code)
        if room is None:
            return [], []
        return list(room.phones.values()), list(room.viewers.values())

    # -- joining and leaving ------------------------------------------------------------------

    async def join_phone(self, code: str, phone: RoomPhone) -> RoomState:
        """Add a phone (its results reach the viewers while it presents); the first phone of a
        room without a presenter presents. Raises KeyError for an unknown or ended room."""
        state = await self._state(code)
        room = self.live(code)
        room.phones[phone.id] = phone
        phone.on_room_message = functools.partial(self.presenter_message, code, phone.id)
        phone.apply_room(state)
        if state.presenter is None or state.presenter not in room.phones:
            state = await self.store.update(code, presenter=phone.id)
            self._show(room, state)
        self._announce(room, state)
        return state

    async def join_viewer(self, code: str, viewer: RoomMember) -> MediaStreamTrack:
        """Add a viewer; returns the track to send it (the room's screen)."""
        state = await self._state(code)
        room = self.live(code)
        room.viewers[viewer.id] = viewer
        viewer.send("room", **self._message(room, state))
        if room.last_objects is not None:
            viewer.send("objects", essential=False, **room.last_objects)
        return room.relay.subscribe(room.feed, buffered=False)

    async def leave(self, code: str, member_id: str) -> None:
        room = self._live.get(code)
        if room is None:
            return
        room.viewers.pop(member_id, None)
        if room.phones.pop(member_id, None) is None:
            return
        state = await self.store.get(code)
        if state is None or state.ended:
            return
        if state.presenter == member_id:  # the next phone in joining order presents
            following = next(iter(room.phones), None)
            state = await self.store.update(code, presenter=following)
            self._show(room, state)
        self._announce(room, state)

    # -- the teacher's controls -------------------------------------------------------------

    async def set_presenter(self, code: str, session_id: str) -> RoomState:
        room = self.live(code)
        if session_id not in room.phones:
            raise KeyError(f"no phone {session_id!r} in room {code}")
        state = await self.store.update(code, presenter=session_id)
        self._show(room, state)
        self._announce(room, state)
        return state

    async def set_words(
        self, code: str, words: str | None, theme: str | None
    ) -> tuple[RoomState, list[str]]:
        """The room's words (or theme) for every phone now and every phone that joins; returns
        the state and the problems phones reported (an unknown theme, words too long)."""
        state = await self.store.update(code, words=words, theme=theme)
        return state, self._apply_to_phones(code, state)

    async def set_speech(
        self, code: str, *, muted: bool | None = None, projector: bool | None = None
    ) -> RoomState:
        changes: dict[str, bool] = {}
        if muted is not None:
            changes["speech_muted"] = muted
        if projector is not None:
            changes["projector_speech"] = projector
        state = await self.store.update(code, **changes)
        self._apply_to_phones(code, state)
        return state

    async def end(self, code: str) -> None:
        """End the room: every member is told, then closed; the room is forgotten."""
        state = await self.store.update(code, ended=True)
        room = self._live.pop(code, None)
        if room is not None:
            message = self._message(room, state)
            for member in [*room.phones.values(), *room.viewers.values()]:
                member.send("room", **message)
                member.schedule_close("room_ended")
            room.feed.stop()
        await self.store.delete(code)
        for listener in self.on_change:
            listener(state)

    async def close(self) -> None:
        """Stop every room's feed (server shutdown; the sessions close on their own)."""
        for room in self._live.values():
            room.feed.stop()
        self._live.clear()
        try:
            await self.store.close()
        except Exception:  # a store that cannot say goodbye must not stop the shutdown
            log.exception("closing the room store failed")

    # -- presenter results ------------------------------------------------------------------

    def presenter_message(
        self, code: str, phone_id: str, kind: str, fields: dict[str, Any]
    ) -> None:
        """A phone's `objects` or `say`: copied to the viewers when that phone presents."""
        room = self._live.get(code)
        if room is None or room.presenting != phone_id:
            return
        if kind == "objects":
            room.last_objects = fields
        for viewer in list(room.viewers.values()):
            viewer.send(kind, essential=kind != "objects", **fields)

    # -- internals ----------------------------------------------------------------------------

    async def _state(self, code: str) -> RoomState:
        state = await self.store.get(code)
        if state is None or state.ended:
            raise KeyError(f"no room with code {code}")
        return state

    def _show(self, room: LiveRoom, state: RoomState) -> None:
        """Point the room's screen at the presenter (or at nothing)."""
        phone = room.phones.get(state.presenter) if state.presenter else None
        if phone is not None and room.presenting == phone.id and room.feed.source is not None:
            return
        track = phone.presenter_track() if phone is not None else None
        room.feed.switch(track)
        room.presenting = phone.id if phone is not None and track is not None else None
        room.last_objects = None  # another phone's labels
        log.info("room %s: %s presents", room.code, room.presenting or "nobody")

    def _apply_to_phones(self, code: str, state: RoomState) -> list[str]:
        room = self.live(code)
        problems: list[str] = []
        for phone in list(room.phones.values()):
            problems.extend(phone.apply_room(state))
        self._announce(room, state)
        return sorted(set(problems))

    def _message(self, room: LiveRoom, state: RoomState) -> dict[str, Any]:
        return {
            **state.public(),
            "phones": [p.id for p in room.phones.values()],
            "viewers": len(room.viewers),
            "presenting": room.presenting,
        }

    def _announce(self, room: LiveRoom, state: RoomState) -> None:
        message = self._message(room, state)
        for member in [*room.phones.values(), *room.viewers.values()]:
            if not member.closed:
                member.send("room", **message)
        for listener in self.on_change:
            listener(state)


ROOMS_KEY = web.AppKey("rooms", RoomHub)
