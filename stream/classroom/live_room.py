"""The connected part of one room: its phones (waiting, let in, presenting, departed), its class
screens, names and the feed; what a phone and a screen must offer to be in one."""

from __future__ import annotations

import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from stream.classroom.class_hunts import ClassHunt
from stream.classroom.room_feed import RoomFeed
from stream.classroom.room_store import (
    RoomState,
)
from stream.webrtc.tracks import SharedFrame

MAX_NAME_CHARS = 24
MAX_DEPARTED = 64  # departed phones a room remembers for resumed sessions


class RoomMember(Protocol):
    """Anything in a room that hears about it: phones and viewers."""

    @property
    def id(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def send(self, kind: str, essential: bool = True, **fields: Any) -> bool: ...

    def schedule_close(self, reason: str, detail: str = "") -> Any: ...


class RoomPhone(RoomMember, Protocol):
    """A phone in a room (`stream.webrtc.sessions.Session`)."""

    on_room_message: Callable[[str, dict[str, Any]], None] | None
    room: str | None  # the room's code: it follows a new code

    @property
    def peer(self) -> str: ...  # the client's pseudonym (`client-…`): what a removal binds to

    @property
    def latest_frame(self) -> SharedFrame | None: ...  # the newest camera frame (previews)

    def presenter_track(self) -> MediaStreamTrack | None: ...

    def apply_room(self, room: RoomState) -> list[str]: ...


class UnknownMemberError(LookupError):
    """No phone or screen with that id in the room (it left, or never was)."""


class RoomRefused(Exception):
    """A member this room will not take: `reason` is a short machine word, the message says
    why in a sentence (both reach the client)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def clean_name(text: object) -> str | None:
    """A phone's display name as given by a child or the teacher, or None when unusable:
    control and format characters dropped, spaces collapsed, at most MAX_NAME_CHARS."""
    if not isinstance(text, str):
        return None
    kept = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    name = " ".join(kept.split())[:MAX_NAME_CHARS].strip()
    return name or None


@dataclass(frozen=True)
class Departed:
    """What a phone held when its connection went away."""

    admitted: bool
    presenting: bool


@dataclass
class LiveRoom:
    """The connected part of one room."""

    code: str
    feed: RoomFeed = field(default_factory=RoomFeed)
    relay: MediaRelay = field(default_factory=MediaRelay)
    phones: dict[str, RoomPhone] = field(default_factory=dict)  # in joining order
    viewers: dict[str, RoomMember] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # phone id → display name
    admitted: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)  # client pseudonyms the teacher removed
    screen_of: dict[str, str] = field(default_factory=dict)  # viewer id → its token's digest
    joined: int = 0  # phones that ever joined: "Phone N" names
    presenting: str | None = None  # the phone whose frames the feed shows now
    # the presenter's last `objects`: phones send them only when they change, so a screen
    # joining later would otherwise show no labels until the picture changes
    last_objects: dict[str, Any] | None = None
    # every phone's last `objects`, so a screen switched to a phone gets its labels at once
    objects_of: dict[str, dict[str, Any]] = field(default_factory=dict)
    # phones whose connection went away lately, for a resumed session to take their place
    # (`stream.webrtc.resume`); the oldest are forgotten past MAX_DEPARTED
    departed: OrderedDict[str, Departed] = field(default_factory=OrderedDict)
    removed_phones: set[str] = field(default_factory=set)  # phone ids the teacher removed
    language: str = "en"  # the room's, as last announced (the class screen's news speaks it)
    hunt: ClassHunt | None = None  # the class hunt in force or the last one (its results)

    def viewer_message(self, state: RoomState) -> dict[str, Any]:
        """What a class screen hears: the room, who presents, how many phones and screens."""
        return {
            **state.public(),
            "phones": len(self.phones),
            "viewers": len(self.viewers),
            "presenting": self.presenting,
        }

    def phone_message(self, state: RoomState, phone_id: str) -> dict[str, Any]:
        """What one phone hears: the room's settings and its own name and state, nothing about
        the other phones (`presenting` is its own id while it presents, else null)."""
        public = state.public()
        return {
            "code": public["code"],
            "words": public["words"],
            "theme": public["theme"],
            "speech_muted": public["speech_muted"],
            "ended": public["ended"],
            "locked": public["locked"],
            "language": public["language"],
            "hunt": public["hunt"],
            "presenting": phone_id if self.presenting == phone_id else None,
            "you": {"name": self.names.get(phone_id, ""), "state": self.state_of(phone_id)},
        }

    def knows(self, phone_id: str) -> bool:
        """Whether a session resuming `phone_id` may take its place here."""
        if phone_id in self.removed_phones:
            return False
        return phone_id in self.phones or phone_id in self.departed

    def state_of(self, phone_id: str) -> str:
        if phone_id == self.presenting:
            return "presenting"
        return "admitted" if phone_id in self.admitted else "waiting"
