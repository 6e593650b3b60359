"""Every code a phone or a class screen can get in an `error` message: one list, so the pages
(web/js) and the tests can rely on it, and a typo is a type error instead of a new code."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    # the message itself
    BAD_JSON = "bad_json"
    BAD_MESSAGE = "bad_message"
    UNKNOWN_TYPE = "unknown_type"
    TOO_LARGE = "too_large"
    RATE_LIMITED = "rate_limited"
    INTERNAL = "internal"
    # words
    BAD_VOCABULARY = "bad_vocabulary"
    VOCABULARY_TOO_LONG = "vocabulary_too_long"
    UNKNOWN_THEME = "unknown_theme"
    ROOM_WORDS = "room_words"  # in a room the teacher chooses the words
    # languages and "Find it!" hunts
    UNKNOWN_LANGUAGE = "unknown_language"
    BAD_HUNT = "bad_hunt"  # no words to hunt, too many
    NO_HUNT = "no_hunt"  # skip or stop with no hunt going on
    ROOM_HUNT = "room_hunt"  # in a room the teacher starts and stops hunts
    # class screens only watch
    READ_ONLY = "read_only"
    # 📸
    SNAPSHOTS_OFF = "snapshots_off"
    NO_FRAME = "no_frame"
    SNAPSHOT_LIMIT = "snapshot_limit"
    ROOM_LIMIT = "room_limit"
    LIBRARY_FULL = "library_full"
    NOT_IN_ROOM = "not_in_room"

    @classmethod
    def of(cls, code: str) -> ErrorCode:
        """The code for a string from elsewhere (an engine notice); unknown ones are `INTERNAL`."""
        try:
            return cls(code)
        except ValueError:
            return cls.INTERNAL
