"""When to speak: turn a stream of tracked objects into rare, well-timed `say` events.

Policy (all times in seconds, from an injected clock so tests can replay a timeline):

- **Dwell.** A tracked id becomes ready once it has been seen continuously for ``dwell_s``.
  Gaps of up to ``gap_tolerance_s`` between sightings still count as continuous (the tracker
  may miss a frame); a longer gap ends the sighting, and the dwell starts again.
- **Once.** A sighting is announced at most once; an object that stays in view is never
  repeated.
- **Cool-down, by spoken name.** After an object was announced, its spoken name ("cat"; "cell
  phone" and "phone" are one name) stays quiet until ``cooldown_s`` have passed since the last
  moment an announced object of that name was in view. So an id that flickers out and back is
  not repeated, and neither is the same cat under a new id (trackers hand out new ids after an
  occlusion) nor a second cat next to an announced one. This is deliberately by name rather
  than by id: a child cannot tell two ids apart, only two words. A quiet object that becomes
  ready is marked as covered (as if announced) and keeps the quiet going while it stays in
  view; once nothing of that name has been in view for the cool-down, it is announced again
  when it reappears. An id the detector relabels (cat → dog) starts a new sighting of the new
  name.
- **Gap.** At most one utterance per ``min_gap_s``. Objects that become ready meanwhile wait
  and are announced together in the next utterance, in one sentence ("I see a cat and a dog!").
  An object that left the view before its turn is dropped, not announced late.
- **Reset.** A new vocabulary (`set_vocabulary`) or `reset` forgets all history, so objects in
  view are announced afresh under the new words. The time of the last utterance is kept, so a
  reset never makes two utterances overlap.

`update` returns a `SayEvent` (text and the ids it covers) or None; it never reads a clock.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from inference.labels.languages import Language, clamp_score, load_language
from inference.labels.phrases import friendly_name, say_objects

# At most this many objects of one update are looked at (the tracker gives far fewer).
MAX_OBJECTS_PER_UPDATE = 256
# Timestamps are floats: a dwell of 0.6 s measured as 8.6 - 8.0 must still count as 0.6 s.
_EPSILON = 1e-6


@dataclass(frozen=True)
class AnnouncerSettings:
    """Timing of announcements (seconds) and the language they are spoken in."""

    dwell_s: float = 0.6
    cooldown_s: float = 20.0
    min_gap_s: float = 3.0
    gap_tolerance_s: float = 0.3
    language: str = "en"

    def __post_init__(self) -> None:
        for field in ("dwell_s", "cooldown_s", "min_gap_s", "gap_tolerance_s"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{field} must be a number, got {type(value).__name__}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{field} must be a finite number >= 0, got {value}")


@dataclass(frozen=True)
class TrackedObject:
    """One object in the current frame: the tracker's stable id, the detector label, a score."""

    track_id: int
    label: str
    score: float = 1.0


@dataclass(frozen=True)
class SayEvent:
    """Something to say aloud, and the tracked ids it talks about (ascending)."""

    text: str
    ids: tuple[int, ...]


@dataclass
class _Sighting:
    """One continuous sighting of a tracked id."""

    label: str  # the detector label, as last seen
    key: str  # spoken name, lowercased: what "the same thing" means for the cool-down
    since: float  # start of the sighting
    last_seen: float
    score: float  # best score during the sighting
    done: bool = False  # announced, or covered by an earlier announcement


class Announcer:
    """Decides which tracked objects to announce, and when; see the module docstring."""

    def __init__(self, settings: AnnouncerSettings | None = None) -> None:
        self.settings = settings or AnnouncerSettings()
        self.language: Language = load_language(self.settings.language)
        self._sightings: dict[int, _Sighting] = {}
        self._quiet_names: dict[str, float] = {}  # spoken name -> quiet until
        self._last_said: float = -math.inf
        self._now: float = -math.inf
        self._previous_update: float = -math.inf
        self._vocabulary: tuple[str, ...] | None = None

    # ----------------------------------------------------------------- public

    def update(self, now: float, objects: Iterable[TrackedObject]) -> SayEvent | None:
        """Take the objects seen at time `now`; return what to say now, if anything.

        `now` must come from a monotonic clock; a time earlier than the previous update is
        treated as the previous time (a clock hiccup must not break the policy).
        """
        if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now):
            raise ValueError(f"now must be a finite number, got {now!r}")
        now = max(float(now), self._now)
        self._previous_update, self._now = self._now, now
        settings = self.settings

        present: list[tuple[int, _Sighting]] = []
        for track_id, obj in self._latest(objects).items():
            present.append((track_id, self._see(now, track_id, obj)))

        ready: list[tuple[int, _Sighting]] = []
        for track_id, sighting in present:
            if not sighting.done and now - sighting.since >= settings.dwell_s - _EPSILON:
                if now < self._quiet_names.get(sighting.key, -math.inf):
                    sighting.done = True  # covered: the same thing was announced recently
                else:
                    ready.append((track_id, sighting))
            if sighting.done:
                self._keep_quiet(now, sighting.key)

        event = None
        if ready and now - self._last_said >= settings.min_gap_s - _EPSILON:
            event = self._announce(now, ready)
        self._forget(now)
        return event

    def reset(self) -> None:
        """Forget every sighting and cool-down (the time of the last utterance is kept)."""
        self._sightings.clear()
        self._quiet_names.clear()

    def use_language(self, language: Language) -> None:
        """Speak `language` from now on; names heard in the old language may be said again."""
        self.language = language
        self._quiet_names.clear()

    def set_vocabulary(self, words: str | Sequence[str]) -> bool:
        """Note the detector's vocabulary; a different one resets the history.

        Returns True when the vocabulary changed (and the history was reset). The same words in
        another order or case count as unchanged.
        """
        items = (words,) if isinstance(words, str) else words
        vocabulary = tuple(sorted({w.strip().lower() for w in items if isinstance(w, str)} - {""}))
        if vocabulary == self._vocabulary:
            return False
        self._vocabulary = vocabulary
        self.reset()
        return True

    @property
    def vocabulary(self) -> tuple[str, ...] | None:
        """The vocabulary last given to `set_vocabulary` (sorted, lowercase), or None."""
        return self._vocabulary

    def pending_ids(self) -> tuple[int, ...]:
        """Ids in view that have not been announced (or covered) yet, ascending."""
        return tuple(sorted(i for i, s in self._sightings.items() if not s.done))

    # ----------------------------------------------------------------- internals

    def _latest(self, objects: Iterable[TrackedObject]) -> dict[int, TrackedObject]:
        """The objects of one update by id (the last one wins), bounded in number."""
        latest: dict[int, TrackedObject] = {}
        for count, obj in enumerate(objects):
            if count >= MAX_OBJECTS_PER_UPDATE:
                break
            track_id = getattr(obj, "track_id", None)
            if isinstance(track_id, bool) or not isinstance(track_id, numbers.Integral):
                continue  # numpy integers are fine, anything else is not an id
            latest[int(track_id)] = obj
        return latest

    def _see(self, now: float, track_id: int, obj: TrackedObject) -> _Sighting:
        key = friendly_name(obj.label, self.language).lower()
        score = clamp_score(obj.score)
        sighting = self._sightings.get(track_id)
        # Seen in the previous update counts as continuous however slow the updates are (a CPU
        # may segment only twice a second); otherwise a short absence is still tolerated.
        continuing = (
            sighting is not None
            and key == sighting.key
            and (
                sighting.last_seen >= self._previous_update
                or now - sighting.last_seen <= self.settings.gap_tolerance_s + _EPSILON
            )
        )
        if sighting is None or not continuing:
            sighting = _Sighting(label=obj.label, key=key, since=now, last_seen=now, score=score)
            self._sightings[track_id] = sighting
        else:
            sighting.label = obj.label
            sighting.last_seen = now
            sighting.score = max(sighting.score, score)
        if not key:  # nothing sayable (empty or hostile label): never announce it
            sighting.done = True
        return sighting

    def _keep_quiet(self, now: float, key: str) -> None:
        if key:
            self._quiet_names[key] = now + self.settings.cooldown_s

    def _announce(self, now: float, ready: list[tuple[int, _Sighting]]) -> SayEvent | None:
        text = say_objects([(s.label, s.score) for _, s in ready], self.language)
        for _, sighting in ready:
            sighting.done = True
            self._keep_quiet(now, sighting.key)
        if not text:
            return None
        self._last_said = now
        return SayEvent(text=text, ids=tuple(sorted(track_id for track_id, _ in ready)))

    def _forget(self, now: float) -> None:
        """Drop ended sightings and expired cool-downs, so memory stays bounded."""
        tolerance = self.settings.gap_tolerance_s + _EPSILON
        for track_id in [i for i, s in self._sightings.items() if now - s.last_seen > tolerance]:
            del self._sightings[track_id]
        for key in [k for k, until in self._quiet_names.items() if until <= now]:
            del self._quiet_names[key]
