"""Fuzzing the two request parsers: `parse_offer` (the body of `POST /api/offer`) and
`parse_client_message` (one data-channel message). Whatever comes in, the answer is a valid
value or the parser's own error, never another exception."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stream.classroom.room_store import CODE_ALPHABET, CODE_LENGTH
from stream.signalling import MAX_SDP_CHARS, Offer, OfferError, parse_offer
from stream.webrtc.protocol import (
    MAX_MESSAGE_BYTES,
    MAX_WORDS_CHARS,
    ModeMessage,
    ProtocolError,
    SnapshotMessage,
    SpeechMessage,
    TapMessage,
    VocabularyMessage,
    parse_client_message,
)
from tests.fuzz.fuzzing import count, fuzz_settings
from tests.fuzz.strategies import json_bytes, json_values, mutated_bytes

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
VALID_OFFER = {"sdp": SDP, "type": "offer"}
PROTOCOL_CODES = {"too_large", "bad_json", "bad_message", "unknown_type"}

room_codes = st.text(CODE_ALPHABET, min_size=CODE_LENGTH, max_size=CODE_LENGTH)
names = st.from_regex(r"\A[A-Za-z0-9_-]{1,64}\Z")


def field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field's value: left out (None here), a valid one, or any JSON at all."""
    return st.none() | valid | json_values


@st.composite
def offer_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Valid-ish offers: each field missing, valid, near-valid or arbitrary."""
    payload: dict[str, Any] = {}
    choices = {
        "type": field(st.sampled_from(["offer", "answer", "Offer", "offer ", ""])),
        "sdp": field(
            st.sampled_from([SDP, " ", "", "v=0"])
            | st.text(max_size=200)
            | st.integers(MAX_SDP_CHARS - 2, MAX_SDP_CHARS + 2).map(lambda n: "v" * n)
        ),
        "room": field(room_codes | room_codes.map(str.lower) | names | st.text(max_size=70)),
        "role": field(st.sampled_from(["phone", "viewer", "projector", "PHONE"]) | names),
    }
    for key, strategy in choices.items():
        value = draw(strategy)
        if value is not None or draw(st.booleans()):
            payload[key] = value
    payload.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return payload


def check_offer(body: bytes) -> None:
    try:
        offer = parse_offer(body)
    except OfferError as exc:
        assert exc.status in (400, 404), (exc.status, exc)
        assert exc.status == 400 or exc.reason == "unknown_room"
        assert str(exc)
        return
    assert isinstance(offer, Offer)
    assert isinstance(offer.sdp, str) and offer.sdp.strip() and len(offer.sdp) <= MAX_SDP_CHARS
    assert offer.role in (None, "phone", "viewer")
    if offer.room is not None:
        assert len(offer.room) == CODE_LENGTH and set(offer.room) <= set(CODE_ALPHABET)
    assert offer.role != "viewer" or offer.room is not None


@fuzz_settings()
@given(st.binary(max_size=4096))
def test_parse_offer_arbitrary_bytes(body: bytes) -> None:
    count("parse_offer: bytes")
    check_offer(body)


@fuzz_settings()
@given(json_bytes(offer_payloads()) | json_bytes(json_values))
def test_parse_offer_structured_json(body: bytes) -> None:
    count("parse_offer: structured JSON")
    check_offer(body)


@fuzz_settings()
@given(mutated_bytes(json.dumps({**VALID_OFFER, "room": "ABC234", "role": "phone"}).encode()))
def test_parse_offer_mutated_valid_body(body: bytes) -> None:
    count("parse_offer: mutated body")
    check_offer(body)


def check_message(raw: str | bytes) -> None:
    try:
        message = parse_client_message(raw)
    except ProtocolError as exc:
        assert exc.code in PROTOCOL_CODES, exc.code
        assert str(exc)
        return
    if isinstance(message, TapMessage):
        for value in (message.x, message.y):
            assert isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0
    elif isinstance(message, VocabularyMessage):
        assert (message.words is None) != (message.theme is None)
        assert message.words is None or len(message.words) <= MAX_WORDS_CHARS
        assert message.theme is None or len(message.theme) <= 40
    elif isinstance(message, ModeMessage):
        assert message.mode in ("live", "pause", "everything")
    elif isinstance(message, SpeechMessage):
        assert isinstance(message.on, bool)
    else:
        assert isinstance(message, SnapshotMessage)


@st.composite
def client_messages(draw: st.DrawFn) -> dict[str, Any]:
    """Messages of every type, each field valid, near-valid or arbitrary."""
    kind = draw(
        st.sampled_from(["vocabulary", "tap", "mode", "speech", "snapshot", "Tap", "", "v"])
        | json_values
    )
    fields: dict[str, st.SearchStrategy[Any]] = {
        "words": st.text(max_size=80)
        | st.lists(st.text(max_size=10) | json_values, max_size=5)
        | st.integers(MAX_WORDS_CHARS - 1, MAX_WORDS_CHARS + 1).map(lambda n: "a" * n),
        "theme": st.sampled_from(["animals", "kitchen", "x" * 40, "x" * 41]) | st.text(),
        "x": st.floats() | st.integers(-2, 2) | st.sampled_from([0, 1, 0.5, -0.0, 1e-320]),
        "y": st.floats() | st.integers(-2, 2) | st.sampled_from([0, 1, 0.5, True]),
        "mode": st.sampled_from(["live", "pause", "everything", "LIVE", ""]),
        "on": st.booleans() | st.sampled_from([0, 1, "true", None]),
    }
    message: dict[str, Any] = {"type": kind}
    for key, strategy in fields.items():
        if draw(st.booleans()):
            message[key] = draw(field(strategy))
    return message


@fuzz_settings()
@given(
    st.text(max_size=2048)
    | st.binary(max_size=2048)
    | json_bytes(json_values)
    | json_bytes(client_messages())
    | client_messages().map(json.dumps)
    | st.integers(MAX_MESSAGE_BYTES - 40, MAX_MESSAGE_BYTES + 40).map(
        lambda n: json.dumps({"type": "vocabulary", "words": "a" * n})
    )
)
def test_parse_client_message(raw: str | bytes) -> None:
    count("parse_client_message")
    check_message(raw)


@fuzz_settings()
@given(
    st.sampled_from(
        [
            {"type": "tap", "x": 0.5, "y": 0.25},
            {"type": "vocabulary", "words": ["cat", "cup"]},
            {"type": "mode", "mode": "everything"},
            {"type": "speech", "on": False},
        ]
    ).flatmap(lambda m: mutated_bytes(json.dumps(m).encode()))
)
def test_parse_client_message_mutated_valid(raw: bytes) -> None:
    count("parse_client_message: mutated")
    check_message(raw)
    check_message(raw.decode("utf-8", errors="replace"))
