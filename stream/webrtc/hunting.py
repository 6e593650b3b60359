"""A phone's "Find it!" hunt: started by the phone (or, in a room, by the teacher), fed every
engine result, and told to the phone as `hunt` messages in the session's language (the hunt
itself holds the detector's English words: `inference.hunts`). Runs on the event loop."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

from inference.hunts.hunt import Found, Hunt, HuntError, HuntOrder, HuntProgress, hunt_words
from inference.hunts.steadiness import SteadinessSettings
from inference.labels.languages import Language, load_language
from inference.lighting.tracker import LightingReport
from inference.live.results import SeenObject
from stream.webrtc import wire
from stream.webrtc.error_codes import ErrorCode
from stream.webrtc.protocol import HuntMessage


class PhoneHunt:
    """At most one hunt per phone. `send(fields)` sends a `hunt` message; `clock()` is the
    event loop's time (frames are judged by when their results arrive)."""

    def __init__(
        self,
        send: Callable[[dict[str, Any]], object],
        clock: Callable[[], float],
        settings: SteadinessSettings | None = None,
    ) -> None:
        self._send = send
        self._clock = clock
        self.settings = settings or SteadinessSettings()
        self.language: Language = load_language("en")
        self.hunt: Hunt | None = None
        self.room_hunt: str | None = None  # the room hunt's id when the teacher started it

    @property
    def active(self) -> bool:
        """A word is being looked for (the phone's own announcements wait meanwhile)."""
        return self.hunt is not None and self.hunt.current is not None

    def start(
        self,
        words: Iterable[str],
        order: HuntOrder = "list",
        *,
        room_hunt: str | None = None,
        rng: random.Random | None = None,
    ) -> HuntProgress:
        """A new hunt (any old one ends); HuntError when the words are unusable."""
        self.hunt = Hunt(hunt_words(words, order, rng), self.settings)
        self.room_hunt = room_hunt
        self._tell("looking")
        return self.hunt.progress

    def skip(self) -> bool:
        if self.hunt is None or self.hunt.skip() is None:
            return False
        self._tell("finished" if self.hunt.finished else "looking")
        return True

    def stop(self) -> bool:
        """Stop the hunt (the phone shows what was found); False when none was going on."""
        if self.hunt is None or self.hunt.progress.stopped or self.hunt.finished:
            return False
        self.hunt.stop()
        self._tell("stopped")
        return True

    def follow_room(self, hunt_id: str | None, words: Sequence[str]) -> None:
        """The room's hunt: a new one starts here (the teacher's order), an ended one stops
        (the phone shows what it found); the same one goes on."""
        if hunt_id == self.room_hunt:
            return
        if hunt_id is None:
            self.stop()
            self.room_hunt = None
            return
        try:
            self.start(words, room_hunt=hunt_id)
        except HuntError:  # the room checked its words when the teacher started the hunt
            self.hunt, self.room_hunt = None, None

    def observe(self, objects: Sequence[SeenObject], lighting: LightingReport) -> Found | None:
        """One engine result: a find moves the hunt on and is told at once."""
        if self.hunt is None or not self.active:
            return None
        found = self.hunt.observe(self._clock(), objects, lighting.thresholds.box)
        if found is not None:
            self._tell("finished" if self.hunt.finished else "found", found)
        return found

    def use_language(self, language: Language) -> None:
        """Say the hunt in `language` from now on (the phone hears where it stands again)."""
        self.language = language
        if self.hunt is not None:
            progress = self.hunt.progress
            state = "stopped" if progress.stopped else "finished" if progress.finished else None
            self._tell(state or "looking")

    def _tell(self, state: str, found: Found | None = None) -> None:
        assert self.hunt is not None
        progress = self.hunt.progress
        self._send(wire.hunt_fields(state, progress, self.language, found, self.room_hunt))


class HuntingSession(Protocol):
    """What `hunt_message` needs of a phone's session (`stream.webrtc.sessions.Session` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def room(self) -> str | None: ...

    @property
    def hunt(self) -> PhoneHunt: ...

    def set_words(
        self, words: str | None, theme: str | None
    ) -> tuple[tuple[str, ...], str | None]: ...

    def words_in_force(self) -> tuple[str, ...]: ...

    def reply_error(self, code: ErrorCode, message: str) -> None: ...


def hunt_message(session: HuntingSession, message: HuntMessage) -> None:
    """A phone's `hunt` message: start (over a theme, words, or the words in force), skip or
    stop. In a room the teacher starts and stops hunts; a phone may only skip a word."""
    hunt = session.hunt
    if session.room is not None and message.action != "skip":
        session.reply_error(ErrorCode.ROOM_HUNT, "in a class the teacher starts and stops the hunt")
    elif message.action == "skip":
        if not hunt.skip():
            session.reply_error(ErrorCode.NO_HUNT, "there is no word to skip: start a hunt first")
    elif message.action == "stop":
        if not hunt.stop():
            session.reply_error(ErrorCode.NO_HUNT, "there is no hunt to stop")
    else:
        if message.words is not None or message.theme is not None:
            words, problem = session.set_words(message.words, message.theme)
            if problem is not None:
                return  # the phone heard why
        else:
            words = session.words_in_force()
        try:
            hunt.start(words, message.order)
        except HuntError as exc:
            session.reply_error(ErrorCode.BAD_HUNT, str(exc))
