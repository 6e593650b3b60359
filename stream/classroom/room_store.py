"""Classroom rooms: what a room is, and where its state is kept.

A teacher creates a room and gets a short join code; phones join with it (`?room=CODE`), one of
them presents (its annotated video is what the projector shows) and any number of viewers watch.
`RoomState` is the part of a room that outlives a connection and that several media servers
would share (the Redis issue backs `RoomStore` with Redis); who is connected right now, and the
tracks, live in `stream.classroom.rooms.RoomHub`, per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

# no 0/O, 1/I/L: a child reads the code off a projector
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


SCREEN_TOKEN_BYTES = 24  # 192 bits: `secrets.token_urlsafe` gives 32 URL-safe characters
MAX_SCREENS = 8  # screen tokens a room keeps; minting one more forgets the oldest
DEFAULT_IDLE_S = 2 * 3600.0  # a room nobody uses (no teacher, no phone) ends after this
DEFAULT_ROOMS_PER_TEACHER = 5


def new_screen_token() -> str:
    """A class screen's secret: only its digest is stored, so a store dump opens no screen."""
    return secrets.token_urlsafe(SCREEN_TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(token: str, digests: tuple[str, ...]) -> str | None:
    """The digest of `token` when the room knows it (compared in constant time), else None."""
    digest = token_digest(token)
    found = None
    for known in digests:
        if hmac.compare_digest(digest, known):
            found = known
    return found


def normalise_code(text: str) -> str | None:
    """The code as stored (upper case, no spaces or dashes), or None when it cannot be one."""
    code = text.strip().upper().replace("-", "").replace(" ", "")
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        return None
    return code


@dataclass(frozen=True)
class RoomState:
    """One room as every member may see it (changed with `dataclasses.replace`).

    presenter         the session id of the phone shown, None while no phone presents
    words / theme     the room's vocabulary for every phone (None: each phone keeps its own)
    speech_muted      phones stay silent
    projector_speech  the projector speaks the phrases aloud too
    first_phone_presents  a quick demo: the first phone presents without the teacher picking it
                      (off by default: a phone presents only when the teacher picks it)
    locked            no new phones may join (those in stay)
    screens           SHA-256 digests of the screen tokens the teacher minted (newest last);
                      a viewer needs one of the tokens, never the code alone
    language          the room's language (a language file's code): phones start in it, the
                      class screen speaks it
    hunt / hunt_words the class "Find it!" hunt while one is on: its id and its words in the
                      order asked (a random order is drawn once, the same for every phone)
    """

    code: str
    teacher: str
    created_at: float
    presenter: str | None = None
    words: str | None = None
    theme: str | None = None
    speech_muted: bool = False
    projector_speech: bool = False
    ended: bool = False
    first_phone_presents: bool = False
    locked: bool = False
    screens: tuple[str, ...] = ()
    language: str = "en"
    hunt: str | None = None
    hunt_words: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """What the room's members are told (the teacher's name and the screens stay out)."""
        return {
            "code": self.code,
            "presenter": self.presenter,
            "words": self.words,
            "theme": self.theme,
            "speech_muted": self.speech_muted,
            "projector_speech": self.projector_speech,
            "ended": self.ended,
            "first_phone_presents": self.first_phone_presents,
            "locked": self.locked,
            "language": self.language,
            "hunt": self.hunt,
            "hunt_words": list(self.hunt_words),
        }


class RoomStore(Protocol):
    """Where room state lives. Async, so a networked store (Redis) fits behind it."""

    async def create(self, teacher: str) -> RoomState: ...

    async def get(self, code: str) -> RoomState | None: ...

    async def update(self, code: str, **changes: Any) -> RoomState: ...

    async def of_teacher(self, teacher: str) -> list[RoomState]: ...

    async def open_rooms(self) -> list[RoomState]:
        """Every open room (the sweep that ends the rooms of removed teachers reads it)."""
        ...

    async def touch(self, code: str) -> None:
        """Someone uses the room: its idle time starts again (RoomGoneError when it is gone)."""
        ...

    async def rename(self, code: str) -> RoomState:
        """The room under a fresh code; the old code stops working (RoomGoneError when gone)."""
        ...

    async def delete(self, code: str) -> None: ...

    async def close(self) -> None: ...


class RoomGoneError(LookupError):
    """No room with that code: never made, or ended (both answer alike)."""


class RoomLimitError(RuntimeError):
    """Too many rooms are open."""


class TeacherRoomLimitError(RoomLimitError):
    """This teacher has as many open rooms as one teacher may."""


def teacher_limit_error(limit: int) -> TeacherRoomLimitError:
    return TeacherRoomLimitError(f"you have {limit} open rooms; end one first")


class MemoryRoomStore:
    """Room state in this process (the default): a dict, a lock, caps on open rooms (in all
    and per teacher), and an idle time after which a room nobody touched is gone (as Redis's
    TTL does for `RedisRoomStore`). `clock` (monotonic seconds) is injectable for tests."""

    def __init__(
        self,
        max_rooms: int = 100,
        *,
        max_per_teacher: int = DEFAULT_ROOMS_PER_TEACHER,
        idle_s: float = DEFAULT_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rooms < 1:
            raise ValueError(f"max_rooms must be at least 1, got {max_rooms}")
        if max_per_teacher < 1:
            raise ValueError(f"max_per_teacher must be at least 1, got {max_per_teacher}")
        if not idle_s > 0:
            raise ValueError(f"idle_s must be positive, got {idle_s}")
        self.max_rooms = max_rooms
        self.max_per_teacher = max_per_teacher
        self.idle_s = idle_s
        self._clock = clock
        self._rooms: dict[str, RoomState] = {}
        self._touched: dict[str, float] = {}
        self._lock = asyncio.Lock()

    def _expire(self) -> None:
        stale = self._clock() - self.idle_s
        for code in [c for c, at in self._touched.items() if at <= stale]:
            self._rooms.pop(code, None)
            self._touched.pop(code, None)

    async def create(self, teacher: str) -> RoomState:
        async with self._lock:
            self._expire()
            if len(self._rooms) >= self.max_rooms:
                raise RoomLimitError(f"{self.max_rooms} rooms are open; end one first")
            if sum(r.teacher == teacher for r in self._rooms.values()) >= self.max_per_teacher:
                raise teacher_limit_error(self.max_per_teacher)
            code = self._free_code()
            room = RoomState(code=code, teacher=teacher, created_at=time.time())
            self._rooms[code] = room
            self._touched[code] = self._clock()
            return room

    def _free_code(self) -> str:
        code = new_code()
        while code in self._rooms:
            code = new_code()
        return code

    async def get(self, code: str) -> RoomState | None:
        self._expire()
        return self._rooms.get(code)

    async def update(self, code: str, **changes: Any) -> RoomState:
        async with self._lock:
            self._expire()
            room = self._rooms.get(code)
            if room is None:
                raise RoomGoneError(code)
            room = replace(room, **changes)
            self._rooms[code] = room
            self._touched[code] = self._clock()
            return room

    async def of_teacher(self, teacher: str) -> list[RoomState]:
        self._expire()
        rooms = [r for r in self._rooms.values() if r.teacher == teacher]
        return sorted(rooms, key=lambda r: r.created_at)

    async def open_rooms(self) -> list[RoomState]:
        self._expire()
        return sorted(self._rooms.values(), key=lambda r: r.created_at)

    async def touch(self, code: str) -> None:
        await self.update(code)

    async def rename(self, code: str) -> RoomState:
        async with self._lock:
            self._expire()
            room = self._rooms.pop(code, None)
            if room is None:
                raise RoomGoneError(code)
            self._touched.pop(code, None)
            room = replace(room, code=self._free_code())
            self._rooms[room.code] = room
            self._touched[room.code] = self._clock()
            return room

    async def delete(self, code: str) -> None:
        async with self._lock:
            self._rooms.pop(code, None)
            self._touched.pop(code, None)

    async def close(self) -> None:
        """Nothing to release: the rooms go with the process."""
