"""One session's masks for one frame: taps become new objects (named later by the detector),
then every tracked object's box prompts the segmenter. Runs on the engine's worker thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.live.engine_settings import TAP_LABEL
from inference.live.session_state import SessionState
from inference.live.tracker import mask_box

if TYPE_CHECKING:  # the segmenter imports torch: only for the types
    from inference.segmentation.segmenter import ImageEmbedding, Segmenter

MAX_TAPS_PER_FRAME = 2  # more taps wait for the next frame: each costs a decoder call

# (session, frame, box (4,) of the tapped thing, its track id): ask the detector what it is
AskWhat = Callable[[SessionState, npt.NDArray[np.uint8], npt.NDArray[np.float32], int], None]


def segment_session(
    session: SessionState,
    frame: npt.NDArray[np.uint8],
    embedding: ImageEmbedding | None,
    mask_threshold: float,
    segmenter: Segmenter,
    ask_what: AskWhat,
    max_objects: int,
) -> Detections:
    """The tracked objects of `session` on `frame` (RGB (H, W, 3), the one `embedding` was made
    from) with masks (N, H, W) and track ids; none when the frame was not encoded."""
    height, width = frame.shape[:2]
    session.awaits_masks = False
    if embedding is None:
        session.taps.clear()
        return _none(height, width)
    for x, y in session.taps[:MAX_TAPS_PER_FRAME]:
        point = np.array([[x * (width - 1), y * (height - 1)]], np.float32)
        tapped = segmenter.predict(points=point, embedding=embedding, mask_threshold=0.0)
        box = mask_box(tapped.masks[0])
        if box is not None:
            track_id = session.tracker.add(TAP_LABEL, 0.0, box)
            ask_what(session, frame, box, track_id)
    session.taps.clear()
    prompts = session.tracker.prompts(max_objects)
    if not len(prompts):
        return _none(height, width)
    segmented = segmenter.segment(prompts, embedding=embedding, mask_threshold=mask_threshold)
    return session.tracker.update_masks(segmented)


def _none(height: int, width: int) -> Detections:
    return Detections.empty((height, width)).with_track_ids(np.zeros(0, np.int64))
