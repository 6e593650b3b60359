"""Fuzzing what crosses Redis: a job's fields as a worker reads them (`parse_job`, then
`job_frame`) and a worker's answer as a media server reads it (`parse_result`). Whatever a
stream holds, the answer is a checked value or the parser's own error (`BadJob`,
`BadResult`), never another exception: one would end a worker's or a receive thread's loop.
The real parsers run here; the end-to-end tests through a redis-server are in
tests/inference/scaleout/test_poison_messages.py."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from inference.scaleout.messages import ERROR_CODES, BadResult, encode_frame, parse_result
from inference.scaleout.worker import BadJob, JobSpec, job_frame, parse_job
from tests.fuzz.fuzzing import count, fuzz_settings
from tests.fuzz.strategies import json_values, mutated_bytes

JPEG = encode_frame(np.full((16, 24, 3), 128, np.uint8))
VALID_JOB: dict[bytes, bytes] = {
    b"id": b"0f" * 16,
    b"server": b"abc123def456",
    b"session": b"s1",
    b"frame_index": b"7",
    b"purpose": b"keyframe",
    b"track_id": b"",
    b"generation": b"2",
    b"vocabulary": b'["cat", "cup"]',
    b"box_threshold": b"0.3",
    b"text_threshold": b"0.25",
    b"deadline": b"1900000000.5",
    b"sent_at": b"1900000000.0",
    b"jpeg": JPEG,
}
DETECTIONS = json.dumps({"boxes": [[1, 2, 3, 4]], "scores": [0.5], "labels": ["cat"]})
VALID_RESULT: dict[bytes, bytes] = {
    b"id": b"0f" * 16,
    b"elapsed_ms": b"12.5",
    b"detections": DETECTIONS.encode(),
}

numbers = st.sampled_from(
    [b"0", b"1", b"0.5", b"-1", b"2", b"nan", b"inf", b"-inf", b"1e308", b"1e999", b"", b" 1 "]
)
text_bytes = st.binary(max_size=40) | st.text(max_size=40).map(str.encode)
json_text = st.builds(lambda v: json.dumps(v).encode(), json_values)


def _fields(
    draw: st.DrawFn, base: dict[bytes, bytes], choices: dict[bytes, st.SearchStrategy[bytes]]
) -> dict[bytes, bytes]:
    """`base`, each field kept, left out or replaced by one of its strategy's values, plus
    a few stray fields."""
    fields: dict[bytes, bytes] = {}
    for key, value in base.items():
        action = draw(st.sampled_from(["keep", "drop", "replace"]))
        if action == "keep":
            fields[key] = value
        elif action == "replace":
            fields[key] = draw(choices.get(key, text_bytes))
    fields.update(draw(st.dictionaries(st.binary(max_size=8), st.binary(max_size=16), max_size=2)))
    return fields


@st.composite
def job_fields(draw: st.DrawFn) -> dict[bytes, bytes]:
    return _fields(
        draw,
        VALID_JOB,
        {
            b"id": text_bytes | st.just(b"\xff\xfe"),
            b"server": text_bytes | st.just(b"\xc3\x28"),
            b"vocabulary": json_text
            | st.sampled_from([b"[]", b'[""]', b"[1]", b"not json", b'["cat"', b"[" * 5000])
            | mutated_bytes(VALID_JOB[b"vocabulary"]),
            b"box_threshold": numbers,
            b"text_threshold": numbers,
            b"deadline": numbers,
            b"sent_at": numbers,
            b"jpeg": st.sampled_from([b"", b"\xff\xd8\xff", JPEG[: len(JPEG) // 2]])
            | st.binary(max_size=64)
            | mutated_bytes(JPEG, 2),
        },
    )


@st.composite
def result_fields(draw: st.DrawFn) -> dict[bytes, bytes]:
    fields = _fields(
        draw,
        VALID_RESULT,
        {
            b"id": text_bytes | st.just(b"\xff"),
            b"elapsed_ms": numbers,
            b"detections": json_text
            | st.builds(
                lambda boxes, scores, labels: json.dumps(
                    {"boxes": boxes, "scores": scores, "labels": labels}
                ).encode(),
                json_values,
                json_values,
                json_values,
            )
            | mutated_bytes(VALID_RESULT[b"detections"]),
        },
    )
    if draw(st.booleans()):
        fields[b"error_code"] = draw(
            st.sampled_from(sorted(ERROR_CODES)).map(str.encode) | text_bytes
        )
        fields[b"error"] = draw(text_bytes)
    return fields


def check_job(fields: dict[bytes, bytes]) -> None:
    try:
        spec = parse_job(fields)
        frame = job_frame(spec)
    except BadJob as exc:
        assert exc.field and str(exc)
        return
    assert isinstance(spec, JobSpec) and spec.id and math.isfinite(spec.deadline)
    assert spec.vocabulary and all(isinstance(w, str) and w.strip() for w in spec.vocabulary)
    assert 0 <= spec.box_threshold <= 1 and 0 <= spec.text_threshold <= 1
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.dtype == np.uint8


@fuzz_settings()
@given(job_fields())
def test_parse_job_structured_fields(fields: dict[bytes, bytes]) -> None:
    count("parse_job: fields")
    check_job(fields)


@fuzz_settings()
@given(st.dictionaries(st.sampled_from(sorted(VALID_JOB)), st.binary(max_size=64)))
def test_parse_job_arbitrary_bytes(fields: dict[bytes, bytes]) -> None:
    count("parse_job: bytes")
    check_job(fields)


def check_result(fields: dict[bytes, Any]) -> None:
    try:
        result = parse_result(fields)
    except BadResult as exc:
        assert exc.field and str(exc)
        return
    assert result.id and math.isfinite(result.elapsed_ms) and result.elapsed_ms >= 0
    if result.error_code is not None:
        assert result.error_code in ERROR_CODES and result.detections is None
        return
    found = result.detections
    assert found is not None
    assert len(found.boxes) == len(found.scores) == len(found.labels)
    assert np.isfinite(np.asarray(found.boxes)).all()


@fuzz_settings()
@given(result_fields())
def test_parse_result_structured_fields(fields: dict[bytes, bytes]) -> None:
    count("parse_result: fields")
    check_result(fields)


@fuzz_settings()
@given(st.dictionaries(st.sampled_from(sorted(VALID_RESULT)), st.binary(max_size=64)))
def test_parse_result_arbitrary_bytes(fields: dict[bytes, bytes]) -> None:
    count("parse_result: bytes")
    check_result(fields)


def test_the_valid_messages_parse() -> None:
    """The fuzz's starting points are good ones (else it would fuzz only refusals)."""
    spec = parse_job(VALID_JOB)
    assert spec.vocabulary == ("cat", "cup") and job_frame(spec).shape == (16, 24, 3)
    result = parse_result(VALID_RESULT)
    assert result.detections is not None and result.detections.labels == ("cat",)
    assert parse_result({b"id": b"x", b"error_code": b"weird"}).error_code == "detector_failed"
