"""One processed frame's result for its session: the spoken names, the `objects` the phone
shows, what the announcer says now, and the notices waiting for the phone. Runs on the engine's
worker thread."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.labels.announcer import TrackedObject
from inference.labels.phrases import describe_object
from inference.lighting.tracker import LightingReport
from inference.live.engine_settings import TAP_LABEL
from inference.live.frame_ops import gray
from inference.live.results import FrameResult, SeenObject
from inference.live.session_state import SessionState
from inference.overlay.colours import colours_for, to_hex


def build_result(
    session: SessionState,
    index: int,
    frame: npt.NDArray[np.uint8],
    detections: Detections,
    lighting: LightingReport,
    timings: dict[str, float],
    language: str,
    now: float,
) -> FrameResult:
    """The result of frame `index` (RGB (H, W, 3) at the processing size) with `detections`."""
    texts = tuple(
        describe_object(label, float(score), language)
        for label, score in zip(detections.labels, detections.scores, strict=True)
    )
    height, width = frame.shape[:2]
    scale = np.array([width, height, width, height], dtype=np.float32)
    colours = colours_for(detections)
    ids = detections.track_ids if detections.track_ids is not None else np.arange(len(detections))
    objects = tuple(
        SeenObject(
            id=int(ids[i]),
            label=detections.labels[i],
            say=texts[i],
            score=float(detections.scores[i]),
            box=_box(detections.boxes[i] / scale),
            colour=to_hex(colours[i]),
        )
        for i in range(len(detections))
    )
    say = None
    if session.speech:
        say = session.announcer.update(
            now,
            [
                TrackedObject(int(ids[i]), detections.labels[i], float(detections.scores[i]))
                for i in range(len(detections))
                if detections.labels[i] != TAP_LABEL
            ],
        )
    notices, session.notices = tuple(session.notices), []
    return FrameResult(
        session_id=session.id,
        frame_index=index,
        frame_size=(height, width),
        detections=detections,
        texts=texts,
        objects=objects,
        say=say,
        lighting=lighting,
        timings_ms={k: round(v, 1) for k, v in timings.items()},
        luma=gray(frame) if len(detections) else None,
        notices=notices,
    )


def _box(normalised: npt.NDArray[np.float32]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in normalised)
    return (x1, y1, x2, y2)
