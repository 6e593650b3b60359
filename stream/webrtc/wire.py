"""The fields of the messages the server sends on the data channel, built from the engine's
typed results in this one place (`stream.webrtc.protocol` describes the messages). Numbers are
rounded here: a phone needs no more, and unchanged rounded objects are not sent again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from inference.hunts.hunt import Found, HuntProgress
from inference.labels.catalogue import page_catalogue
from inference.labels.languages import Language
from inference.labels.phrases import first_letter, friendly_name, hunt_phrases
from inference.lighting.tracker import LightingReport
from inference.live.results import SeenObject, SessionNumbers
from stream.webrtc.protocol import MAX_MESSAGE_BYTES, MAX_WORDS_CHARS

SCORE_DIGITS = 3
BOX_DIGITS = 4  # 1/10000 of the frame: below a pixel of any phone's video


class SayLike(Protocol):
    @property
    def text(self) -> str: ...

    @property
    def ids(self) -> tuple[int, ...]: ...


def object_fields(seen: SeenObject) -> dict[str, Any]:
    """One entry of `objects`: {"id", "label", "say", "score", "box": [x1, y1, x2, y2],
    "colour"}."""
    return {
        "id": seen.id,
        "label": seen.label,
        "say": seen.say,
        "score": round(seen.score, SCORE_DIGITS),
        "box": [round(v, BOX_DIGITS) for v in seen.box],
        "colour": seen.colour,
    }


def objects_fields(objects: Sequence[SeenObject]) -> list[dict[str, Any]]:
    """The `objects` list of an `objects` message (also what a kept photo records)."""
    return [object_fields(seen) for seen in objects]


def say_fields(say: SayLike) -> dict[str, Any]:
    """A `say` message: {"text", "ids"} (the objects the sentence names)."""
    return {"text": say.text, "ids": list(say.ids)}


def lighting_fields(report: LightingReport | None) -> dict[str, Any]:
    """The `lighting` of a `stats` message: state, thresholds, luma ({} before the first frame)."""
    return report.to_dict() if report is not None else {}


def engine_stats_fields(numbers: SessionNumbers) -> dict[str, Any]:
    """The engine's part of a `stats` message (the session adds its own rates and path)."""
    return {
        "frames_submitted": numbers.frames_submitted,
        "frames_processed": numbers.frames_processed,
        "dropped": numbers.dropped,
        "overlay_fps": numbers.overlay_fps,
        "stages_ms": dict(numbers.stages_ms),
        "detect_ms": numbers.detect_ms,
        "keyframes": numbers.keyframes,
        "errors": numbers.errors,
        "objects": numbers.objects,
        "vocabulary": list(numbers.vocabulary),
        "language": numbers.language,
        "lighting": lighting_fields(numbers.lighting),
        "paused": numbers.paused,
        "everything": numbers.everything,
    }


def hello_fields(
    session: str,
    resume: str | None,
    vocabulary: Sequence[str],
    themes: Sequence[str],
    idle_timeout_s: float,
) -> dict[str, Any]:
    """The `hello` message: the session, its resume token, words in force, the themes there
    are and the limits a page must keep to."""
    return {
        "session": session,
        "resume": resume,
        "vocabulary": list(vocabulary),
        "themes": list(themes),
        "limits": {
            "max_message_bytes": MAX_MESSAGE_BYTES,
            "max_words_chars": MAX_WORDS_CHARS,
            "idle_timeout_s": idle_timeout_s,
        },
    }


def hunt_fields(
    state: str,
    progress: HuntProgress,
    language: Language,
    found: Found | None = None,
    room_hunt: str | None = None,
) -> dict[str, Any]:
    """A `hunt` message: where the hunt stands, in the phone's language. `state` is looking,
    found (`just_found` names it; the next word is `word`), finished or stopped."""
    current = hunt_phrases(progress.current, language) if progress.current else None
    fields: dict[str, Any] = {
        "state": state,
        "room": room_hunt,
        "position": progress.position,
        "total": len(progress.words),
        "word": current.word if current else None,
        "name": current.name if current else None,
        "prompt": current.prompt if current else None,
        "hint": current.hint if current else None,
        "colour_hint": (current.colour_hint or None) if current else None,
        "letter": first_letter(current.name, language) if current else None,
        "found": [_named(word, language) for word in progress.found],
        "skipped": [_named(word, language) for word in progress.skipped],
    }
    if found is not None:
        cheer = hunt_phrases(found.word, language)
        fields["just_found"] = {
            "word": found.word,
            "name": cheer.name,
            "say": cheer.found,
            "object": found.object_id,
        }
    return fields


def _named(word: str, language: Language) -> dict[str, str]:
    return {"word": word, "name": friendly_name(word, language)}


def language_fields(language: Language) -> dict[str, Any]:
    """A `language` message: the session's language and what the page shows in it: its own
    words, and each theme's title and words (detector word → the name a child hears). Only
    what the page reads (`inference.labels.catalogue.page_catalogue` has the full form), so
    the message stays well inside MAX_MESSAGE_BYTES (a test holds every shipped language to
    three quarters of it)."""
    full = page_catalogue(language)
    return {
        "language": language.code,
        "name": language.name,
        "catalogue": {
            "version": full["version"],
            "code": full["code"],
            "name": full["name"],
            "complete": full["complete"],
            "page": full["page"],
            "themes": [
                {
                    "name": theme["name"],
                    "title": theme["title"],
                    "words": [{"word": w["word"], "name": w["name"]} for w in theme["words"]],
                }
                for theme in full["themes"]
            ],
        },
    }
