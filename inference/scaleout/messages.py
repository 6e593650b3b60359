"""What goes through Redis between media servers and detection workers: stream keys, JPEG frames,
detections as JSON, and the checks that turn a malformed entry into `BadMessage` (logged,
counted, skipped) instead of a dead thread."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.live.broker import DetectionError

GROUP = "detectors"
ERROR_CODES = frozenset(DetectionError)
JPEG_QUALITY = 90


def jobs_key(prefix: str) -> str:
    return f"{prefix}:jobs"


def results_key(prefix: str, server: str) -> str:
    return f"{prefix}:results:{server}"


def heartbeat_key(prefix: str, worker: str) -> str:
    return f"{prefix}:worker:{worker}"


def encode_frame(frame: npt.NDArray[np.uint8]) -> bytes:
    """RGB (H, W, 3) uint8 → JPEG bytes (a 640×480 keyframe is ~60 KB instead of 900 KB)."""
    ok, data = cv2.imencode(
        ".jpg", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise ValueError("the frame could not be encoded as JPEG")
    return bytes(data)


def decode_frame(data: bytes) -> npt.NDArray[np.uint8]:
    """JPEG bytes → RGB (H, W, 3) uint8; ValueError for bytes that are not an image."""
    if not data:  # OpenCV raises its own error type for an empty buffer
        raise ValueError("the job's frame is empty")
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:
        raise ValueError("the job's frame is not a readable JPEG") from exc
    if image is None:
        raise ValueError("the job's frame is not a readable JPEG")
    return np.ascontiguousarray(image[..., ::-1])


def detections_to_json(detections: Detections) -> str:
    return json.dumps(
        {
            "boxes": np.asarray(detections.boxes, np.float32).round(2).tolist(),
            "scores": np.asarray(detections.scores, np.float32).round(4).tolist(),
            "labels": list(detections.labels),
        }
    )


def detections_from_json(text: str | bytes) -> Detections:
    """A worker's detections; `BadResult` for anything but N boxes (4 finite numbers each),
    N finite scores and N label strings."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise BadResult("detections", "not JSON") from exc
    if not isinstance(data, dict):
        raise BadResult("detections", "not an object")
    try:
        boxes = np.asarray(data["boxes"], np.float32).reshape(-1, 4)
        scores = np.asarray(data["scores"], np.float32).reshape(-1)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise BadResult("detections", "boxes or scores missing or not numbers") from exc
    labels = data.get("labels")
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise BadResult("detections", "labels are not a list of strings")
    if not len(boxes) == len(scores) == len(labels):
        raise BadResult("detections", "boxes, scores and labels differ in number")
    if not (np.isfinite(boxes).all() and np.isfinite(scores).all()):
        raise BadResult("detections", "a box or score is not finite")
    return Detections(boxes, scores, tuple(labels))


class BadMessage(ValueError):
    """A Redis stream entry we cannot use; `field` names what is wrong (a metric label)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


class BadResult(BadMessage):
    """An entry on a results stream that is not a worker's answer."""


@dataclass(frozen=True)
class ResultSpec:
    """A worker's answer, checked (`parse_result`): detections or an error code."""

    id: str
    elapsed_ms: float
    error_code: DetectionError | None
    error: str
    detections: Detections | None


def _result_text(fields: Mapping[bytes, bytes], key: str) -> str | None:
    value = fields.get(key.encode())
    if value is None:
        return None
    if not isinstance(value, bytes):
        raise BadResult(key, "not bytes")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadResult(key, "not UTF-8") from exc


def parse_result(fields: Mapping[bytes, bytes]) -> ResultSpec:
    """A results-stream entry as `inference.scaleout.worker` writes it, checked; `BadResult`
    for anything else. Never raises another exception, whatever the stream holds."""
    job_id = _result_text(fields, "id")
    if not job_id:
        raise BadResult("id", "missing or empty")
    elapsed_text = _result_text(fields, "elapsed_ms") or "0"
    try:
        elapsed = float(elapsed_text)
    except ValueError as exc:
        raise BadResult("elapsed_ms", "not a number") from exc
    if not (math.isfinite(elapsed) and elapsed >= 0):
        raise BadResult("elapsed_ms", "not a finite number of milliseconds")
    text_code = _result_text(fields, "error_code") or None
    if text_code is not None:
        error = (_result_text(fields, "error") or text_code)[:500]
        # the engine acts on the code: only ones it knows
        code = (
            DetectionError(text_code)
            if text_code in ERROR_CODES
            else DetectionError.DETECTOR_FAILED
        )
        return ResultSpec(job_id, elapsed, code, error, None)
    text = _result_text(fields, "detections")
    if text is None:
        raise BadResult("detections", "missing (and no error code)")
    return ResultSpec(job_id, elapsed, None, "", detections_from_json(text))
