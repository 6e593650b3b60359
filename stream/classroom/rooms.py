"""Rooms live in this process: who is connected, who presents, and the fan-out to viewers.

`RoomHub` joins the sessions of one server to the rooms of a `RoomStore`:
  - phones (`RoomPhone`: a `stream.webrtc.sessions.Session` that joined with a code) join as
    "waiting"; one presents only when the room's teacher picks it (or, with the room's
    `first_phone_presents` demo switch, the first phone presents at once). The teacher can
    admit, name and remove phones; a removed phone's client (its address pseudonym) cannot
    join that room again; a locked room takes no new phones; a phone whose connection broke
    takes its old place back (name, let in, presenting) when it resumes (`stream.webrtc.resume`);
  - phones get the room's words and speech setting when they join and whenever the teacher
    changes them (a phone in a room cannot change its words: `stream.webrtc.sessions`);
  - class screens (viewers) need a screen token the teacher minted, never the code alone;
  - the presenter's annotated video reaches every viewer through one `RoomFeed` and one
    `MediaRelay` per room: the models run once per presenter frame whatever the number of
    viewers (each viewer's connection still encodes its own VP8, as aiortc encodes per sender);
  - the presenter's `objects` and `say` messages are copied to every viewer: what the
    projector says comes from the presenter's engine session, whose words are the room's;
  - every change is pushed at once as a `room` message to every member: viewers (opened by
    the teacher) hear the whole room, each phone only what it needs (its own name and state).
  - a class hunt's phones report their progress to `on_phone_hunt` (`class_hunts`).
Everything here runs on the event loop.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiortc.mediastreams import MediaStreamTrack

from stream.classroom.live_room import (
    MAX_DEPARTED,
    MAX_NAME_CHARS,
    Departed,
    LiveRoom,
    RoomMember,
    RoomPhone,
    RoomRefused,
    UnknownMemberError,
    clean_name,
)
from stream.classroom.lookup_guard import LookupGuard
from stream.classroom.room_store import (
    MAX_SCREENS,
    RoomGoneError,
    RoomState,
    RoomStore,
    new_screen_token,
    token_digest,
    token_matches,
)
from stream.edge.access_log import room_label
from stream.edge.rate_limits import Clock

log = logging.getLogger(__name__)

TOUCH_EVERY_S = 60.0  # the store hears that a room is in use at most this often


class RoomHub:
    """The rooms' live side (see the module docstring)."""

    def __init__(
        self,
        store: RoomStore,
        *,
        lookups: LookupGuard | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.store = store
        self.lookups = lookups or LookupGuard()
        self._clock = clock
        self._live: dict[str, LiveRoom] = {}
        self._renamed: dict[str, str] = {}  # an old code → the room's next code (members only)
        self._touched: dict[str, float] = {}
        self.on_change: list[Callable[[RoomState], None]] = []
        self.on_phone_hunt: Callable[[LiveRoom, str, dict[str, Any]], None] | None = None

    def current(self, code: str) -> str:
        """The code a room has now, for members that joined under an older one."""
        seen = set()
        while code in self._renamed and code not in seen:
            seen.add(code)
            code = self._renamed[code]
        return code

    def live(self, code: str) -> LiveRoom:
        code = self.current(code)
        room = self._live.get(code)
        if room is None:
            room = self._live[code] = LiveRoom(code)
        return room

    def find(self, code: str) -> LiveRoom | None:
        """The live side of room `code` when anyone is (or was lately) connected to it."""
        return self._live.get(self.current(code))

    def members(self, code: str) -> tuple[list[RoomPhone], list[RoomMember]]:
        room = self._live.get(self.current(code))
        if room is None:
            return [], []
        return list(room.phones.values()), list(room.viewers.values())

    def admitted(self, code: str, phone_id: str) -> bool:
        """Whether the teacher let this phone in (admitted or presenting): only those phones
        keep pictures in the class's library."""
        room = self._live.get(self.current(code))
        return room is not None and room.state_of(phone_id) != "waiting"

    # -- joining and leaving ------------------------------------------------------------------

    def can_resume(self, code: str, phone_id: str) -> bool:
        """Whether a session resuming phone `phone_id` may take its place in room `code`."""
        room = self._live.get(self.current(code))
        return room is not None and room.knows(phone_id)

    def refusal(self, state: RoomState, peer: str, *, resuming: bool = False) -> RoomRefused | None:
        """Why this room will not take a new phone from client `peer` (None: it will). A
        phone resuming its own place comes back into a locked room: it was in."""
        room = self._live.get(state.code)
        if room is not None and peer in room.removed:
            return RoomRefused("removed", "the teacher removed this phone from the room")
        if state.locked and not resuming:
            return RoomRefused("locked", "the room is locked: ask the teacher to unlock it")
        return None

    async def join_phone(
        self, code: str, phone: RoomPhone, name: str | None = None, resumes: str | None = None
    ) -> RoomState:
        """Add a phone as "waiting" (it presents when the teacher picks it, or at once as the
        first phone with the demo switch on). With `resumes` (the id of this phone's earlier
        session, from a resume token) it takes that session's place instead: its name, let
        in, on the screen. Raises RoomGoneError for an unknown or ended room, RoomRefused for a
        removed client or a locked room (a resumed phone comes back into a locked room)."""
        state = await self._state(code)
        room = self.live(state.code)
        previous = resumes if resumes is not None and room.knows(resumes) else None
        refused = self.refusal(state, phone.peer, resuming=previous is not None)
        if refused is not None:
            raise refused
        room.phones[phone.id] = phone
        phone.on_room_message = functools.partial(self.presenter_message, state.code, phone.id)
        if previous is not None:
            state = await self._take_place(room, state, previous, phone)
        else:
            room.joined += 1
            room.names[phone.id] = clean_name(name) or f"Phone {room.joined}"
            phone.apply_room(state)
        if state.first_phone_presents and (
            state.presenter is None or state.presenter not in room.phones
        ):
            room.admitted.add(phone.id)
            state = await self.store.update(state.code, presenter=phone.id)
            self._show(room, state)
        self._announce(room, state)
        return state

    async def _take_place(
        self, room: LiveRoom, state: RoomState, previous: str, phone: RoomPhone
    ) -> RoomState:
        """A resumed session takes the place of its earlier one (still listed, or departed)."""
        room.phones.pop(previous, None)  # its session closes as "replaced": leave() finds nothing
        gone = room.departed.pop(previous, None)
        room.names[phone.id] = room.names.pop(previous, "") or f"Phone {room.joined}"
        if previous in room.admitted or (gone is not None and gone.admitted):
            room.admitted.add(phone.id)
        room.admitted.discard(previous)
        room.objects_of.pop(previous, None)
        phone.apply_room(state)
        presented = state.presenter == previous
        if presented or (gone is not None and gone.presenting and state.presenter is None):
            state = await self.store.update(room.code, presenter=phone.id)
            self._show(room, state)
        log.info("%s: %s takes the place of %s", room_label(room.code), phone.id, previous)
        return state

    async def join_viewer(
        self, code: str, viewer: RoomMember, token: str | None
    ) -> MediaStreamTrack:
        """Add a class screen; returns the track to send it (the room's screen). Raises
        RoomRefused without one of the room's screen tokens, RoomGoneError for no room."""
        state = await self._state(code)
        digest = token_matches(token, state.screens) if token else None
        if digest is None:
            raise RoomRefused(
                "screen_token",
                "a class screen opens from the teacher's page (its link carries a key)",
            )
        room = self.live(state.code)
        room.viewers[viewer.id] = viewer
        room.screen_of[viewer.id] = digest
        viewer.send("room", **room.viewer_message(state))
        if room.last_objects is not None:
            viewer.send("objects", essential=False, **room.last_objects)
        if room.hunt is not None:  # a screen opened mid-game shows where the class stands
            viewer.send("class_hunt", **room.hunt.describe(room.names, room.language))
        return room.relay.subscribe(room.feed, buffered=False)

    async def leave(self, code: str, member_id: str) -> None:
        code = self.current(code)
        room = self._live.get(code)
        if room is None:
            return
        room.viewers.pop(member_id, None)
        room.screen_of.pop(member_id, None)
        room.objects_of.pop(member_id, None)
        if room.phones.pop(member_id, None) is None:
            return
        admitted = member_id in room.admitted
        room.admitted.discard(member_id)
        state = await self.store.get(code)
        if state is None or state.ended:
            return
        if member_id not in room.removed_phones:
            room.departed[member_id] = Departed(admitted, state.presenter == member_id)
            while len(room.departed) > MAX_DEPARTED:
                room.departed.popitem(last=False)
        if state.presenter == member_id:
            state = await self._next_presenter(room, state)
        self._announce(room, state)

    async def _next_presenter(self, room: LiveRoom, state: RoomState) -> RoomState:
        """The presenter left: with the demo switch the next phone in joining order presents,
        else nobody until the teacher picks one."""
        following = next(iter(room.phones), None) if state.first_phone_presents else None
        if following is not None:
            room.admitted.add(following)
        state = await self.store.update(room.code, presenter=following)
        self._show(room, state)
        return state

    # -- the teacher's controls -------------------------------------------------------------

    def _phone(self, code: str, session_id: str) -> tuple[LiveRoom, RoomPhone]:
        room = self.live(code)
        phone = room.phones.get(session_id)
        if phone is None:
            raise UnknownMemberError(f"no phone {session_id!r} in room {code}")
        return room, phone

    async def set_presenter(self, code: str, session_id: str) -> RoomState:
        room, _ = self._phone(code, session_id)
        room.admitted.add(session_id)
        state = await self.store.update(room.code, presenter=session_id)
        self._show(room, state)
        self._announce(room, state)
        return state

    async def admit(self, code: str, session_id: str) -> RoomState:
        room, _ = self._phone(code, session_id)
        room.admitted.add(session_id)
        state = await self._state(room.code)
        self._announce(room, state)
        return state

    async def name_phone(self, code: str, session_id: str, name: str) -> RoomState:
        room, _ = self._phone(code, session_id)
        cleaned = clean_name(name)
        if cleaned is None:
            raise ValueError(f"a phone's name is 1-{MAX_NAME_CHARS} characters")
        room.names[session_id] = cleaned
        state = await self._state(room.code)
        self._announce(room, state)
        return state

    async def remove_phone(self, code: str, session_id: str) -> RoomState:
        """Close the phone's session; its client (address pseudonym) cannot join this room
        again. Phones sharing its address (one school NAT) are refused too: the teacher sees
        them fail to join and can give the room a new code instead."""
        room, phone = self._phone(code, session_id)
        room.removed.add(phone.peer)
        room.removed_phones.add(session_id)
        room.phones.pop(session_id, None)
        room.objects_of.pop(session_id, None)
        room.admitted.discard(session_id)
        state = await self._state(room.code)
        phone.send("room", **room.phone_message(state, phone.id), removed=True)
        phone.schedule_close("removed_by_teacher")
        if state.presenter == session_id:
            state = await self._next_presenter(room, state)
        self._announce(room, state)
        return state

    async def set_words(
        self, code: str, words: str | None, theme: str | None
    ) -> tuple[RoomState, list[str]]:
        """The room's words (or theme) for every phone now and every phone that joins; returns
        the state and the problems phones reported (an unknown theme, words too long)."""
        return await self.apply(code, words=words, theme=theme)

    async def apply(self, code: str, **changes: Any) -> tuple[RoomState, list[str]]:
        """Change the room and apply it to every phone now; the state and the problems."""
        state = await self.store.update(self.current(code), **changes)
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

    async def set_settings(
        self, code: str, *, first_phone_presents: bool | None = None, locked: bool | None = None
    ) -> RoomState:
        changes: dict[str, bool] = {}
        if first_phone_presents is not None:
            changes["first_phone_presents"] = first_phone_presents
        if locked is not None:
            changes["locked"] = locked
        state = await self.store.update(code, **changes)
        room = self.live(code)
        if first_phone_presents and (state.presenter not in room.phones):
            state = await self._next_presenter(room, state)
        self._announce(room, state)
        return state

    async def new_code(self, code: str) -> RoomState:
        """A fresh code for the room: the old one stops working for anyone new; phones and
        screens already in stay (they are told the new code)."""
        state = await self.store.rename(code)
        self._renamed[code] = state.code
        room = self._live.pop(code, None)
        if room is not None:
            room.code = state.code
            self._live[state.code] = room
            for phone in room.phones.values():
                phone.room = state.code  # what the admin page and snapshots read
            self._announce(room, state)
        return state

    async def mint_screen(self, code: str) -> tuple[RoomState, str]:
        """A new screen token for the room (the oldest is forgotten past MAX_SCREENS)."""
        state = await self._state(code)
        token = new_screen_token()
        screens = (*state.screens, token_digest(token))[-MAX_SCREENS:]
        state = await self.store.update(code, screens=screens)
        return state, token

    async def disconnect_screen(self, code: str, viewer_id: str) -> RoomState:
        """Close a class screen and revoke its token (else its page would reconnect)."""
        room = self.live(code)
        viewer = room.viewers.get(viewer_id)
        if viewer is None:
            raise UnknownMemberError(f"no screen {viewer_id!r} in room {code}")
        digest = room.screen_of.get(viewer_id)
        state = await self._state(room.code)
        if digest is not None:
            state = await self.store.update(
                room.code, screens=tuple(d for d in state.screens if d != digest)
            )
        room.viewers.pop(viewer_id, None)
        room.screen_of.pop(viewer_id, None)
        viewer.schedule_close("disconnected_by_teacher")
        self._announce(room, state)
        return state

    async def end(self, code: str) -> None:
        """End the room: every member is told, then closed; the room is forgotten (its screen
        tokens with it)."""
        state = await self.store.update(code, ended=True)
        room = self._live.pop(code, None)
        if room is not None:
            for member_id, member in [*room.phones.items(), *room.viewers.items()]:
                if member_id in room.phones:
                    member.send("room", **room.phone_message(state, member_id))
                else:
                    member.send("room", **room.viewer_message(state))
                member.schedule_close("room_ended")
            room.feed.stop()
        for old in [old for old, new in self._renamed.items() if self.current(new) == code]:
            del self._renamed[old]
        self._touched.pop(code, None)
        await self.store.delete(code)
        for listener in self.on_change:
            listener(state)

    async def touch(self, code: str) -> None:
        """Someone (the teacher, a phone, a screen) uses the room: tell the store, at most once
        a TOUCH_EVERY_S, so a room in use never reaches its idle end."""
        now = self._clock()
        if now - self._touched.get(code, -math.inf) < TOUCH_EVERY_S:
            return
        self._touched[code] = now
        try:
            await self.store.touch(code)
        except RoomGoneError:
            self._touched.pop(code, None)

    async def touch_live(self) -> None:
        """Touch every room with a member connected here (a periodic task runs this)."""
        for code, room in list(self._live.items()):
            if room.phones or room.viewers:
                await self.touch(code)

    async def end_rooms_of(self, missing: Callable[[str], bool]) -> list[str]:
        """End every open room whose teacher is `missing` (removed from the teachers file,
        perhaps by `visionanything teacher remove` in another process); their codes."""
        ended = []
        for state in await self.store.open_rooms():
            if not state.ended and missing(state.teacher):
                try:
                    await self.end(state.code)
                except RoomGoneError:
                    continue  # another server ended it first
                ended.append(state.code)
        return ended

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
        """A phone's `objects` or `say`: copied to the viewers when that phone presents; its
        `hunt` progress goes to `on_phone_hunt`."""
        room = self._live.get(self.current(code))
        if room is None:
            return
        if kind == "hunt":
            if self.on_phone_hunt is not None:
                self.on_phone_hunt(room, phone_id, fields)
            return
        if kind == "objects" and phone_id in room.phones:
            room.objects_of[phone_id] = fields
        if room.presenting != phone_id:
            return
        if kind == "objects":
            room.last_objects = fields
        for viewer in list(room.viewers.values()):
            viewer.send(kind, essential=kind != "objects", **fields)

    # -- internals ----------------------------------------------------------------------------

    async def _state(self, code: str) -> RoomState:
        state = await self.store.get(self.current(code))
        if state is None or state.ended:
            raise RoomGoneError(f"no room with code {code}")
        return state

    def _show(self, room: LiveRoom, state: RoomState) -> None:
        """Point the room's screen at the presenter (or at nothing)."""
        phone = room.phones.get(state.presenter) if state.presenter else None
        if phone is not None and room.presenting == phone.id and room.feed.source is not None:
            return
        track = phone.presenter_track() if phone is not None else None
        room.feed.switch(track)
        room.presenting = phone.id if phone is not None and track is not None else None
        # the new presenter's labels now: a phone sends `objects` only when they change
        room.last_objects = room.objects_of.get(room.presenting) if room.presenting else None
        for viewer in list(room.viewers.values()):
            viewer.send("objects", essential=False, **(room.last_objects or {"objects": []}))
        log.info("%s: %s presents", room_label(room.code), room.presenting or "nobody")

    def _apply_to_phones(self, code: str, state: RoomState) -> list[str]:
        room = self.live(code)
        problems: list[str] = []
        for phone in list(room.phones.values()):
            problems.extend(phone.apply_room(state))
        self._announce(room, state)
        return sorted(set(problems))

    def _announce(self, room: LiveRoom, state: RoomState) -> None:
        room.language = state.language
        for phone_id, phone in list(room.phones.items()):
            if not phone.closed:
                phone.send("room", **room.phone_message(state, phone_id))
        viewer_message = room.viewer_message(state)
        for viewer in list(room.viewers.values()):
            if not viewer.closed:
                viewer.send("room", **viewer_message)
        for listener in self.on_change:
            listener(state)


ROOMS_KEY = web.AppKey("rooms", RoomHub)
