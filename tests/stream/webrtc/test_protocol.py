"""Data-channel protocol v1: which client messages are accepted, which rejected (and with what
code), and server messages staying under the 16 KiB cap."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stream.webrtc.protocol import (
    MAX_MESSAGE_BYTES,
    ModeMessage,
    ProtocolError,
    SpeechMessage,
    TapMessage,
    VocabularyMessage,
    encode,
    error,
    parse_client_message,
)

ACCEPTED: list[tuple[Any, object]] = [
    ({"type": "vocabulary", "words": "cat, cup"}, VocabularyMessage("cat, cup", None)),
    ({"type": "vocabulary", "words": ["cat", "cup"]}, VocabularyMessage("cat, cup", None)),
    ({"type": "vocabulary", "theme": "animals"}, VocabularyMessage(None, "animals")),
    ({"type": "tap", "x": 0, "y": 1}, TapMessage(0.0, 1.0)),
    ({"type": "tap", "x": 0.42, "y": 0.61, "extra": "ignored"}, TapMessage(0.42, 0.61)),
    ({"type": "mode", "mode": "pause"}, ModeMessage("pause")),
    ({"type": "mode", "mode": "live"}, ModeMessage("live")),
    ({"type": "mode", "mode": "everything"}, ModeMessage("everything")),
    ({"type": "speech", "on": False}, SpeechMessage(False)),
]

REJECTED: list[tuple[str | bytes, str]] = [
    ("", "bad_json"),
    ("{", "bad_json"),
    (b"\xff\xfe", "bad_json"),
    ("null", "bad_message"),
    ('"tap"', "bad_message"),
    ("{}", "unknown_type"),
    ('{"type": "TAP", "x": 0.5, "y": 0.5}', "unknown_type"),
    ('{"type": "tap", "x": 0.5}', "bad_message"),
    ('{"type": "tap", "x": true, "y": 0.5}', "bad_message"),
    ('{"type": "tap", "x": NaN, "y": 0.5}', "bad_message"),
    ('{"type": "tap", "x": -0.1, "y": 0.5}', "bad_message"),
    ('{"type": "mode", "mode": "PAUSE"}', "bad_message"),
    ('{"type": "speech", "on": 1}', "bad_message"),
    ('{"type": "vocabulary", "words": "cat", "theme": "animals"}', "bad_message"),
    ('{"type": "vocabulary", "words": ["cat", 3]}', "bad_message"),
    ('{"type": "vocabulary", "words": 7}', "bad_message"),
    ('{"type": "vocabulary", "theme": ["animals"]}', "bad_message"),
    (json.dumps({"type": "vocabulary", "words": "a" * 2001}), "bad_message"),
    (json.dumps({"type": "vocabulary", "theme": "t" * 41}), "bad_message"),
    ("x" * (MAX_MESSAGE_BYTES + 1), "too_large"),
    ("é" * (MAX_MESSAGE_BYTES // 2 + 1), "too_large"),  # the cap counts bytes, not characters
]


@pytest.mark.parametrize(("message", "expected"), ACCEPTED)
def test_accepted(message: Any, expected: object) -> None:
    assert parse_client_message(json.dumps(message)) == expected
    assert parse_client_message(json.dumps(message).encode()) == expected


@pytest.mark.parametrize(("raw", "code"), REJECTED)
def test_rejected_with_a_code_and_a_reason(raw: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_message(raw)
    assert caught.value.code == code
    assert str(caught.value)


def test_server_messages_are_versioned_and_stay_under_the_cap() -> None:
    small = json.loads(encode("say", text="That's a cat!", ids=[3]))
    assert small == {"v": 1, "type": "say", "text": "That's a cat!", "ids": [3]}
    objects = [
        {
            "id": i,
            "label": "teddy bear" * 3,
            "say": "a teddy bear",
            "score": 0.5,
            "box": [0, 0, 1, 1],
            "colour": "#ffffff",
        }
        for i in range(400)
    ]
    text = encode("objects", frame=9, objects=objects)
    assert len(text.encode()) <= MAX_MESSAGE_BYTES
    decoded = json.loads(text)
    assert decoded["truncated"] is True and 0 < len(decoded["objects"]) < 400
    reply = json.loads(error("bad_json", "x" * 5000))
    assert reply["type"] == "error" and len(reply["message"]) == 500
    with pytest.raises(ValueError, match="exceeds"):
        encode("stats", blob="z" * MAX_MESSAGE_BYTES)
