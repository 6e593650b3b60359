"""A class "Find it!" hunt as its room sees it: where every phone stands and each find in order,
for the teacher's page, the class screen and the teacher's CSV download. Kept by this process
with the rest of the live room (`LiveRoom.hunt`); phones report through their sessions' `hunt`
messages (`stream.webrtc.hunting`), never through anything a client sends.

The CSV has one row per phone and word: `phone,word,result,seconds` where result is found,
skipped or not_yet and seconds counts from the hunt's start to the find (or skip).
"""

from __future__ import annotations

import csv
import io
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from inference.labels.phrases import friendly_name

MAX_EVENTS = 1000  # finds and skips a room keeps (30 words × 30 phones fit)
RECENT_FINDS = 8  # finds the teacher's page and the screen list


@dataclass(frozen=True)
class HuntEvent:
    """A phone found (or skipped) a word, `seconds` after the hunt started."""

    phone: str  # the phone's session id
    word: str
    found: bool
    seconds: float


@dataclass
class PhoneStanding:
    """One phone's last word on the hunt."""

    found: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    current: str | None = None
    finished: bool = False


@dataclass
class ClassHunt:
    """The room's hunt (`id` and `words` as in `RoomState`), started at `started_at` on the
    caller's clock."""

    id: str
    words: tuple[str, ...]
    started_at: float
    ended: bool = False
    phones: dict[str, PhoneStanding] = field(default_factory=dict)
    events: deque[HuntEvent] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS))

    def record(self, phone: str, fields: dict[str, Any], now: float) -> HuntEvent | None:
        """A phone's `hunt` message (built by `stream.webrtc.wire.hunt_fields`); the find or
        skip it reports, if any. Messages of another hunt are ignored."""
        if fields.get("room") != self.id or self.ended:
            return None
        before = self.phones.get(phone, PhoneStanding())
        standing = PhoneStanding(
            found=tuple(item["word"] for item in fields.get("found", ())),
            skipped=tuple(item["word"] for item in fields.get("skipped", ())),
            current=fields.get("word"),
            finished=fields.get("state") == "finished",
        )
        self.phones[phone] = standing
        event = None
        for word in standing.found[len(before.found) :]:
            event = HuntEvent(phone, word, True, round(now - self.started_at, 1))
            self.events.append(event)
        for word in standing.skipped[len(before.skipped) :]:
            self.events.append(HuntEvent(phone, word, False, round(now - self.started_at, 1)))
        return event

    def describe(self, names: dict[str, str], language: str = "en") -> dict[str, Any]:
        """For the teacher and the class screen: each phone's progress (by name), the latest
        finds, newest first, and each word's name in the room's `language` (`names` are the
        phones' names)."""
        finds = [e for e in self.events if e.found][-RECENT_FINDS:]
        return {
            "id": self.id,
            "words": list(self.words),
            "names": {word: friendly_name(word, language) for word in self.words},
            "ended": self.ended,
            "phones": [
                {
                    "id": phone,
                    "name": names.get(phone, phone),
                    "found": list(standing.found),
                    "skipped": list(standing.skipped),
                    "current": standing.current,
                    "finished": standing.finished,
                }
                for phone, standing in self.phones.items()
            ],
            "finds": [
                {
                    "phone": e.phone,
                    "name": names.get(e.phone, e.phone),
                    "word": e.word,
                    "seconds": e.seconds,
                }
                for e in reversed(finds)
            ],
        }

    def to_csv(self, names: dict[str, str]) -> str:
        """The results, one row per phone and word (phones in the order they joined)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["phone", "word", "result", "seconds"])
        when = {(e.phone, e.word): e for e in self.events}
        for phone in self.phones:
            for word in self.words:
                event = when.get((phone, word))
                result = "not_yet" if event is None else "found" if event.found else "skipped"
                seconds = "" if event is None else f"{event.seconds:.1f}"
                writer.writerow([_cell(names.get(phone, phone)), word, result, seconds])
        return out.getvalue()


def _cell(text: str) -> str:
    """A cell a spreadsheet will not run: a leading =, +, - or @ starts a formula."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
