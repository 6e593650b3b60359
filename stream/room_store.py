"""Classroom rooms: what a room is, and where its state is kept.

A teacher creates a room and gets a short join code; phones join with it (`?room=CODE`), one of
them presents (its annotated video is what the projector shows) and any number of viewers watch.
`RoomState` is the part of a room that outlives a connection and that several media servers
would share (the Redis issue backs `RoomStore` with Redis); who is connected right now, and the
tracks, live in `stream.rooms.RoomHub`, per process.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any, Protocol

# no 0/O, 1/I/L: a child reads the code off a projector
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


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

    def public(self) -> dict[str, Any]:
        """What the room's members are told (the teacher's name stays out)."""
        return {
            "code": self.code,
            "presenter": self.presenter,
            "words": self.words,
            "theme": self.theme,
            "speech_muted": self.speech_muted,
            "projector_speech": self.projector_speech,
            "ended": self.ended,
        }


class RoomStore(Protocol):
    """Where room state lives. Async, so a networked store (Redis) fits behind it."""

    async def create(self, teacher: str) -> RoomState: ...

    async def get(self, code: str) -> RoomState | None: ...

    async def update(self, code: str, **changes: Any) -> RoomState: ...

    async def of_teacher(self, teacher: str) -> list[RoomState]: ...

    async def delete(self, code: str) -> None: ...

    async def close(self) -> None: ...


class RoomLimitError(RuntimeError):
    """Too many rooms are open."""


class MemoryRoomStore:
    """Room state in this process (the default): a dict, a lock, a cap on open rooms."""

    def __init__(self, max_rooms: int = 100) -> None:
        if max_rooms < 1:
            raise ValueError(f"max_rooms must be at least 1, got {max_rooms}")
        self.max_rooms = max_rooms
        self._rooms: dict[str, RoomState] = {}
        self._lock = asyncio.Lock()

    async def create(self, teacher: str) -> RoomState:
        async with self._lock:
            if len(self._rooms) >= self.max_rooms:
                raise RoomLimitError(f"{self.max_rooms} rooms are open; end one first")
            code = new_code()
            while code in self._rooms:
                code = new_code()
            room = RoomState(code=code, teacher=teacher, created_at=time.time())
            self._rooms[code] = room
            return room

    async def get(self, code: str) -> RoomState | None:
        return self._rooms.get(code)

    async def update(self, code: str, **changes: Any) -> RoomState:
        async with self._lock:
            room = self._rooms.get(code)
            if room is None:
                raise KeyError(code)
            room = replace(room, **changes)
            self._rooms[code] = room
            return room

    async def of_teacher(self, teacher: str) -> list[RoomState]:
        rooms = [r for r in self._rooms.values() if r.teacher == teacher]
        return sorted(rooms, key=lambda r: r.created_at)

    async def delete(self, code: str) -> None:
        async with self._lock:
            self._rooms.pop(code, None)

    async def close(self) -> None:
        """Nothing to release: the rooms go with the process."""
