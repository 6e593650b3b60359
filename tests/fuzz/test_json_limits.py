"""Inputs the fuzzers found that the parsers once let through (they caught only
JSONDecodeError / UnicodeDecodeError from json.loads):

- deeply nested JSON (`[[[[...`) makes json.loads raise RecursionError;
- an integer of more than 4300 digits makes it raise a bare ValueError (Python's int
  string-conversion limit), which is not a JSONDecodeError.

Both fit under the size caps (64 KiB offer body, 16 KiB message). Through `POST /api/offer`
they were a plain-text 500; on the data channel the exception escaped the message handler.
"""

from __future__ import annotations

import pytest

from stream.signalling import OfferError, parse_offer
from stream.webrtc.protocol import ProtocolError, parse_client_message

DEEP = b"[" * 20_000
DEEP_OBJECT = b'{"type":"offer","sdp":"v=0","x":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
LONG_INT = b'{"type":"tap","x":' + b"1" * 5000 + b',"y":0}'
BODIES = [DEEP, DEEP_OBJECT, LONG_INT]
IDS = ["deep nesting", "deep field", "5000-digit integer"]


@pytest.mark.parametrize("body", BODIES, ids=IDS)
def test_parse_offer_refuses_with_400(body: bytes) -> None:
    with pytest.raises(OfferError) as caught:
        parse_offer(body)
    assert caught.value.status == 400


@pytest.mark.parametrize("body", BODIES, ids=IDS)
def test_parse_client_message_refuses_with_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_client_message(body[:16_000])
