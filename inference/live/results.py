"""What the engine hands back: per processed frame (`FrameResult`, with its `SeenObject`s and
`Notice`s) and per session on request (`SessionNumbers`). All typed: the wire format the phone
reads is built from these in one place in `stream` (`stream.webrtc.wire`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.labels import SayEvent
from inference.lighting.tracker import LightingReport


@dataclass(frozen=True)
class Notice:
    """A problem to tell the phone about, e.g. code "vocabulary_too_long" with a message."""

    code: str
    message: str


@dataclass(frozen=True)
class SeenObject:
    """One object the phone shows on a frame.

    id:     the track id (stays with the object across frames)
    label:  the detector's word ("cup"; "?" for a tapped thing not yet named)
    say:    the badge/chip text in the session's language ("a cup")
    score:  the detector's confidence in [0, 1]
    box:    (x1, y1, x2, y2) normalised to 0..1 of the frame's width and height
    colour: the overlay colour, "#rrggbb"
    """

    id: int
    label: str
    say: str
    score: float
    box: tuple[float, float, float, float]
    colour: str


@dataclass(frozen=True)
class FrameResult:
    """What the stream needs for one processed frame.

    detections: masks (N, H, W) at frame_size (H, W), track_ids and labels
    texts:      badge/chip text per object
    objects:    the N objects as the phone shows them (boxes normalised to 0..1)
    lighting:   the frame's lighting (state, thresholds in force, luma statistics)
    luma:       (H, W) uint8 gray of the processed frame (before lighting preprocessing), so the
                stream can follow the masks to newer camera frames by optical flow
    """

    session_id: str
    frame_index: int
    frame_size: tuple[int, int]
    detections: Detections
    texts: tuple[str, ...]
    objects: tuple[SeenObject, ...]
    say: SayEvent | None
    lighting: LightingReport
    timings_ms: dict[str, float]
    luma: npt.NDArray[np.uint8] | None = None  # (H, W) gray of the frame the masks were made on
    notices: tuple[Notice, ...] = ()  # problems the phone should hear about (sent as `error`)


@dataclass(frozen=True)
class SessionNumbers:
    """One session's numbers as the engine sees them (`Engine.session_stats`).

    frames_submitted, frames_processed, dropped: frames handed in, segmented, replaced unseen
    overlay_fps:   results per second lately
    stages_ms:     the last frame's time per stage (convert, lighting, encode, decode, total)
    detect_ms:     the last detection's time
    keyframes, errors, objects: detections run, failures, objects on the last frame
    vocabulary:    the words in force (or asked for, while the change is pending)
    language:      the language of badges and speech (a language file's code)
    lighting:      the last frame's lighting; None before the first frame
    paused, everything: the session's switches (as asked, while a change is pending)
    """

    frames_submitted: int
    frames_processed: int
    dropped: int
    overlay_fps: float
    stages_ms: dict[str, float]
    detect_ms: float
    keyframes: int
    errors: int
    objects: int
    vocabulary: tuple[str, ...]
    language: str
    lighting: LightingReport | None
    paused: bool
    everything: bool
