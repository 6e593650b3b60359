"""One "Find it!" hunt: words to find in order (or shuffled), one at a time; each is found when
`SteadySighting` says so, skipped with one tap, or the hunt is stopped. What the phone, the
teacher and the class screen show is `HuntProgress`; the words are the detector's (English) and
the stream turns them into the child's language."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from inference.hunts.steadiness import SteadinessSettings, SteadySighting
from inference.live.results import SeenObject

HuntOrder = Literal["list", "random"]
HUNT_ORDERS: tuple[HuntOrder, ...] = ("list", "random")
MAX_HUNT_WORDS = 30  # a class hunt of a whole theme fits; a pasted essay does not


class HuntError(ValueError):
    """A hunt that cannot start (no words, too many, unknown order); the message says which."""


@dataclass(frozen=True)
class HuntProgress:
    """Where a hunt stands.

    words:    every word of the hunt, in the order they are asked
    current:  the word being looked for now; None when finished or stopped
    found:    words found, in the order they were found
    skipped:  words skipped
    finished: every word was found or skipped
    stopped:  the hunt was stopped before the end
    """

    words: tuple[str, ...]
    current: str | None
    found: tuple[str, ...]
    skipped: tuple[str, ...]
    finished: bool
    stopped: bool

    @property
    def position(self) -> int:
        """How many words were dealt with (found or skipped)."""
        return len(self.found) + len(self.skipped)


@dataclass(frozen=True)
class Found:
    """A word found: the object that made it (to highlight its mask) and when."""

    word: str
    object_id: int
    score: float
    at: float


def hunt_words(
    words: Iterable[str], order: HuntOrder, rng: random.Random | None = None
) -> tuple[str, ...]:
    """The hunt's words: stripped, lowercased, each once, in `order` (HuntError if unusable)."""
    if order not in HUNT_ORDERS:
        raise HuntError(f"order must be one of {', '.join(HUNT_ORDERS)}, got {order!r}")
    unique: dict[str, None] = {}
    for word in words:
        cleaned = " ".join(word.split()).lower()
        if cleaned:
            unique.setdefault(cleaned, None)
    chosen = list(unique)
    if not chosen:
        raise HuntError("a hunt needs at least one word")
    if len(chosen) > MAX_HUNT_WORDS:
        raise HuntError(f"a hunt takes at most {MAX_HUNT_WORDS} words, got {len(chosen)}")
    if order == "random":
        (rng or random.Random()).shuffle(chosen)
    return tuple(chosen)


class Hunt:
    """A hunt over `words` (already in order: see `hunt_words`). Not thread-safe: one owner
    (a phone's session on the event loop) calls it."""

    def __init__(self, words: Sequence[str], settings: SteadinessSettings | None = None) -> None:
        if not words:
            raise HuntError("a hunt needs at least one word")
        self.words = tuple(words)
        self.settings = settings or SteadinessSettings()
        self._found: list[str] = []
        self._skipped: list[str] = []
        self._stopped = False
        self._sighting = SteadySighting(self.words[0], self.settings)

    @property
    def current(self) -> str | None:
        if self._stopped or self.finished:
            return None
        return self.words[len(self._found) + len(self._skipped)]

    @property
    def finished(self) -> bool:
        return len(self._found) + len(self._skipped) >= len(self.words)

    @property
    def progress(self) -> HuntProgress:
        return HuntProgress(
            words=self.words,
            current=self.current,
            found=tuple(self._found),
            skipped=tuple(self._skipped),
            finished=self.finished,
            stopped=self._stopped,
        )

    def observe(
        self, now: float, objects: Iterable[SeenObject], box_threshold: float
    ) -> Found | None:
        """One processed frame's objects: a `Found` when the current word was seen steadily
        (the hunt then moves to the next word), else None."""
        word = self.current
        if word is None:
            return None
        seen = self._sighting.observe(now, objects, box_threshold)
        if seen is None:
            return None
        self._found.append(word)
        self._next()
        return Found(word=word, object_id=seen.id, score=seen.score, at=now)

    def skip(self) -> str | None:
        """Skip the current word; returns it (None when there was none)."""
        word = self.current
        if word is not None:
            self._skipped.append(word)
            self._next()
        return word

    def stop(self) -> None:
        self._stopped = True

    def _next(self) -> None:
        word = self.current
        if word is not None:
            self._sighting = SteadySighting(word, self.settings)
