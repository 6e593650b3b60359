"""The detector's side of one session, on the engine's worker thread: when a frame goes to the
detector (a first look, a cut, a refresh; a quick look is followed by a full-size one), the crop
of a tapped object, and what each answer does to the session (its tracks, a tap's name, words
the detector refused)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from inference.core.frames import fit_within
from inference.lighting.thresholds import Thresholds
from inference.live.broker import DetectionBroker, DetectionError, DetectionJob, DetectionOutcome
from inference.live.engine_settings import EngineSettings
from inference.live.frame_ops import grow_box, letterbox, rescale_boxes, thumbnail
from inference.live.results import Notice
from inference.live.session_state import SessionState

log = logging.getLogger(__name__)


class DetectionFlow:
    """`change_vocabulary(session, words)` goes back to a session's last good words; `lock` is
    the engine's (it guards the counters other threads read)."""

    def __init__(
        self,
        settings: EngineSettings,
        broker: DetectionBroker,
        refines: bool,
        change_vocabulary: Callable[[SessionState, tuple[str, ...]], None],
        lock: threading.Lock,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.refines = refines
        self.change_vocabulary = change_vocabulary
        self._lock = lock

    def maybe_keyframe(
        self,
        session: SessionState,
        frame: npt.NDArray[np.uint8],
        index: int,
        thresholds: Thresholds,
    ) -> None:
        """Submit `frame` (after lighting preprocessing) for detection with the `thresholds` in
        force when it is the first, the scene changed or the last detection is old."""
        now = time.monotonic()
        thumb = thumbnail(frame)
        if session.frame_size != frame.shape[:2]:  # first frame or the camera turned
            session.frame_size = (frame.shape[0], frame.shape[1])
            session.tracker.reset()
            session.key_wanted = True
        changed = (
            session.key_thumb is not None
            and float(np.abs(thumb - session.key_thumb).mean()) > self.settings.scene_change
        )
        due = now - session.key_time >= self.settings.refresh_s
        if not (session.key_wanted or changed or due) or self.broker.pending(session.id):
            return
        first_look = session.key_wanted or changed or not session.tracker.tracks
        self.broker.submit(
            DetectionJob(
                session_id=session.id,
                frame_index=index,
                frame=fit_within(frame, self.settings.detect_max_side),
                vocabulary=session.vocabulary,
                box_threshold=thresholds.box,
                text_threshold=thresholds.text,
                generation=session.generation,
                everything=session.everything,
                first_look=first_look,
            )
        )
        session.key_thumb, session.key_time, session.key_wanted = thumb, now, False
        if first_look and self.refines:  # the full-size look comes sooner than a refresh
            session.key_time = now - self.settings.refresh_s + self.settings.refine_s
        session.keyframes += 1

    def ask_what(
        self,
        session: SessionState,
        frame: npt.NDArray[np.uint8],
        box: npt.NDArray[np.float32],
        track_id: int,
    ) -> None:
        """Name a tapped object: detect on a crop around it with the session's words.

        The crop is scaled up into a frame-shaped canvas (`letterbox`): the detector then sees
        an input size it has already built a fast model for, instead of one new size per tap
        (each would run on the slow eager path and start a conversion of its own)."""
        x1, y1, x2, y2 = grow_box(box, 0.25, frame.shape[1], frame.shape[0])
        crop = frame[y1:y2, x1:x2]
        if min(crop.shape[:2]) < 8:
            return
        canvas = letterbox(crop, (frame.shape[0], frame.shape[1]))
        self.broker.submit(
            DetectionJob(
                session_id=session.id,
                frame_index=session.frame_index,
                frame=canvas,
                vocabulary=session.vocabulary,
                box_threshold=0.2,
                text_threshold=0.15,
                purpose="tap",
                track_id=track_id,
                generation=session.generation,
            )
        )

    def apply(self, session: SessionState, outcome: DetectionOutcome) -> None:
        session.detect_ms = outcome.elapsed_ms
        if outcome.detections is None:
            if outcome.error_code in (
                DetectionError.VOCABULARY_TOO_LONG,
                DetectionError.BAD_VOCABULARY,
            ):
                self._refuse_vocabulary(session, outcome)
            elif outcome.error_code == DetectionError.DROPPED:
                session.key_wanted = True  # too old to run (e.g. Redis was down): ask again now
            else:
                with self._lock:
                    session.errors += 1
            return
        found = rescale_boxes(outcome.detections, outcome.job.frame, session.frame_size)
        if outcome.job.purpose == "tap" and outcome.job.track_id is not None:
            if len(found):
                best = int(np.argmax(found.scores))
                session.tracker.relabel(
                    outcome.job.track_id, found.labels[best], float(found.scores[best])
                )
            return
        keep = np.argsort(-found.scores)[: self.settings.max_objects]
        session.tracker.update_detections(found[keep])
        session.awaits_masks = bool(len(keep))

    def _refuse_vocabulary(self, session: SessionState, outcome: DetectionOutcome) -> None:
        """The detector cannot take these words: tell the phone, go back to the last good ones."""
        refused = session.vocabulary
        message = outcome.error or "the detector cannot use these words"
        previous = session.previous_vocabulary
        if previous and previous != refused:
            self.change_vocabulary(session, previous)
            message += f" (still finding: {', '.join(previous)})"
        session.previous_vocabulary = ()  # never bounce back to the refused words
        code = outcome.error_code or DetectionError.BAD_VOCABULARY
        session.notices.append(Notice(code, message))
        log.info("session %s: vocabulary refused by the detector: %s", session.id, code)
