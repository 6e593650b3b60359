"""Data-channel protocol "events", version 1: JSON messages of at most 16 KiB each.

client → server
  {"type": "vocabulary", "words": "cat, cup"}   or   {"type": "vocabulary", "theme": "animals"}
  {"type": "tap", "x": 0.42, "y": 0.61}          normalised to the video (0..1, origin top left)
  {"type": "mode", "mode": "live" | "pause" | "everything"}
                                                 pause freezes the overlay and speech;
                                                 everything segments everything on keyframes
                                                 (named by the words where they overlap)
  {"type": "speech", "on": true | false}
  {"type": "snapshot"}                           save the picture now to the teacher's library
  {"type": "kept"}                               the photos kept from this phone in its room
  {"type": "hunt", "action": "start", "theme": "fruit" | "words": "cup, cat", "order": "list"}
                                                 a "Find it!" hunt over a theme, words, or (with
                                                 neither) the words in force; order list|random
  {"type": "hunt", "action": "skip" | "stop"}
  {"type": "language", "language": "fr"}         badges, speech and hunts in that language
server → client (every message carries "v": 1 and "type")
  objects  {"frame", "objects": [{"id", "label", "say", "score", "box", "colour"}]}
           box = [x1, y1, x2, y2] normalised to the video (0..1)
  say      {"text", "ids": [...]}
  stats    {...}   (see stream.webrtc.session_stats.report_stats)
  error    {"code", "message"}
  hello    {"session", "vocabulary", "themes", "limits", "resume"}  (resume: a token a new
           offer may carry to take this session's place after a broken connection, or null)
  hunt     {"state": looking|found|finished|stopped, "word", "name", "prompt", "hint",
            "colour_hint" (a theme word's colour, or null), "letter",
            "position", "total", "found": [{"word", "name"}], "skipped", "room",
            "just_found": {"word", "name", "say", "object"} on a find}
           (stream.webrtc.wire.hunt_fields)
  language {"language", "name", "catalogue"}  the page's words in the session's language
  kept     {"id", "labels", "picture", "index", "count"} one per kept photo, or {"count": 0}
  snapshot_saved  {"id"}   a `snapshot` was stored (refusals come as `error`: snapshot_limit,
                           library_full, no_frame, snapshots_off)
Unknown or malformed messages get an `error` reply; the session goes on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from inference.hunts.hunt import HUNT_ORDERS, HuntOrder
from inference.labels.languages import LANGUAGE_CODE
from stream.webrtc.error_codes import ErrorCode

VERSION = 1
MAX_MESSAGE_BYTES = 16 * 1024
MAX_WORDS_CHARS = 2000


class ProtocolError(ValueError):
    """A client message we cannot use; `code` is sent back in the `error` reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class VocabularyMessage:
    words: str | None
    theme: str | None


@dataclass(frozen=True)
class TapMessage:
    x: float
    y: float


@dataclass(frozen=True)
class ModeMessage:
    mode: Literal["live", "pause", "everything"]


@dataclass(frozen=True)
class SpeechMessage:
    on: bool


@dataclass(frozen=True)
class SnapshotMessage:
    pass


@dataclass(frozen=True)
class KeptMessage:
    pass


@dataclass(frozen=True)
class HuntMessage:
    action: Literal["start", "skip", "stop"]
    words: str | None = None
    theme: str | None = None
    order: HuntOrder = "list"


@dataclass(frozen=True)
class LanguageMessage:
    code: str


ClientMessage = (
    VocabularyMessage
    | TapMessage
    | ModeMessage
    | SpeechMessage
    | SnapshotMessage
    | KeptMessage
    | HuntMessage
    | LanguageMessage
)


def parse_client_message(raw: str | bytes) -> ClientMessage:
    """Validate one data-channel message; raise `ProtocolError` with a code and a clear reason."""
    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > MAX_MESSAGE_BYTES:
        raise ProtocolError(
            ErrorCode.TOO_LARGE, f"message of {size} bytes exceeds the limit of {MAX_MESSAGE_BYTES}"
        )
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, nesting
        raise ProtocolError(
            ErrorCode.BAD_JSON, f"message is not valid JSON: {str(exc)[:200]}"
        ) from exc
    if not isinstance(message, dict):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "message must be a JSON object with a 'type'")
    kind = message.get("type")
    if kind == "vocabulary":
        return _vocabulary(message)
    if kind == "tap":
        return TapMessage(_unit(message, "x"), _unit(message, "y"))
    if kind == "mode":
        mode = message.get("mode")
        if mode not in ("live", "pause", "everything"):
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE, "mode must be 'live', 'pause' or 'everything'"
            )
        return ModeMessage(mode)
    if kind == "speech":
        on = message.get("on")
        if not isinstance(on, bool):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "speech needs a boolean 'on'")
        return SpeechMessage(on)
    if kind == "snapshot":
        return SnapshotMessage()
    if kind == "kept":
        return KeptMessage()
    if kind == "hunt":
        return _hunt(message)
    if kind == "language":
        code = message.get("language")
        if not isinstance(code, str) or not LANGUAGE_CODE.fullmatch(code):
            raise ProtocolError(
                ErrorCode.BAD_MESSAGE, "language needs a code like 'en', 'fr' or 'es'"
            )
        return LanguageMessage(code)
    raise ProtocolError(
        ErrorCode.UNKNOWN_TYPE,
        f"unknown message type {str(kind)[:40]!r}; "
        "expected vocabulary, tap, mode, speech, snapshot, kept, hunt or language",
    )


def _hunt(message: dict[str, Any]) -> HuntMessage:
    action = message.get("action")
    if action in ("skip", "stop"):
        return HuntMessage(action)
    if action != "start":
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "hunt needs an action: start, skip or stop")
    order = message.get("order", "list")
    if order not in HUNT_ORDERS:
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "hunt order must be 'list' or 'random'")
    words = theme = None
    if "words" in message or "theme" in message:
        chosen = _vocabulary(message)
        words, theme = chosen.words, chosen.theme
    return HuntMessage("start", words, theme, order)


def _vocabulary(message: dict[str, Any]) -> VocabularyMessage:
    words, theme = message.get("words"), message.get("theme")
    if words is not None and isinstance(words, list):
        if not all(isinstance(w, str) for w in words):
            raise ProtocolError(ErrorCode.BAD_MESSAGE, "vocabulary words must be strings")
        words = ", ".join(words)
    if (words is None) == (theme is None):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "vocabulary needs either 'words' or 'theme'")
    if words is not None and (not isinstance(words, str) or len(words) > MAX_WORDS_CHARS):
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE, f"'words' must be text of at most {MAX_WORDS_CHARS} chars"
        )
    if theme is not None and (not isinstance(theme, str) or len(theme) > 40):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, "'theme' must be a short name")
    return VocabularyMessage(words, theme)


def _unit(message: dict[str, Any], key: str) -> float:
    value = message.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(ErrorCode.BAD_MESSAGE, f"tap needs a number '{key}' between 0 and 1")
    if not 0.0 <= value <= 1.0:
        raise ProtocolError(
            ErrorCode.BAD_MESSAGE, f"tap '{key}' must lie between 0 and 1, got {value}"
        )
    return float(value)


def encode(kind: str, **fields: Any) -> str:
    """A server message; keeps under the size cap by trimming list fields if it must."""
    text = json.dumps({"v": VERSION, "type": kind, **fields}, separators=(",", ":"))
    if len(text.encode("utf-8")) <= MAX_MESSAGE_BYTES:
        return text
    for key, value in fields.items():
        if isinstance(value, list) and value:
            return encode(kind, **{**fields, key: value[: len(value) // 2], "truncated": True})
    raise ValueError(f"{kind} message exceeds {MAX_MESSAGE_BYTES} bytes")


def error(code: str, message: str) -> str:
    return encode("error", code=code, message=message[:500])
