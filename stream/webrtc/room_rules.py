"""What a class room imposes on a phone in it, applied whenever the room changes: the teacher's
words (a phone cannot send its own), the mute, the room's language (a phone may still pick
its own afterwards) and the class hunt (started and stopped by the teacher). Runs on the
event loop."""

from __future__ import annotations

from typing import Protocol

from stream.webrtc.engine_seam import RoomSettings
from stream.webrtc.hunting import PhoneHunt


class RuledSession(Protocol):
    """What the rules change on a phone's session (`stream.webrtc.sessions.Session` fits)."""

    room_muted: bool

    @property
    def speech(self) -> bool: ...

    @property
    def hunt(self) -> PhoneHunt: ...

    def set_words(
        self, words: str | None, theme: str | None
    ) -> tuple[tuple[str, ...], str | None]: ...

    def set_language(self, code: str) -> bool: ...

    def set_speech_on(self, on: bool) -> None: ...


class RoomRules:
    """Remembers what was applied, so a room change re-applies only what changed (a child's
    own language choice survives the teacher muting the room)."""

    def __init__(self) -> None:
        self._words: tuple[str | None, str | None] = (None, None)
        self._language: str | None = None

    def apply(self, session: RuledSession, room: RoomSettings) -> list[str]:
        """Apply `room` to `session`; the problems (also sent to the phone as `error`)."""
        problems: list[str] = []
        words = (room.words, room.theme)
        if words != self._words and (room.words or room.theme):
            self._words = words
            _, problem = session.set_words(room.words, room.theme)
            if problem is not None:
                problems.append(problem)
        if room.language != self._language:
            self._language = room.language
            if not session.set_language(room.language):
                problems.append(f"unknown language {room.language!r}")
        session.room_muted = room.speech_muted
        session.set_speech_on(session.speech and not room.speech_muted)
        session.hunt.follow_room(room.hunt, room.hunt_words)
        return problems
