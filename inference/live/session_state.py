"""What the engine keeps per phone session (its requests, tracker, announcer, rates) and per
frame between the steps of a cycle. Owned by the engine's worker thread; fields read from other
threads are guarded by the engine's lock."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from inference.core.timing import StageTimer
from inference.labels import Announcer, Language
from inference.lighting.tracker import LightingReport, LightingTracker
from inference.live.engine_settings import FrameSource
from inference.live.results import FrameResult, Notice, SessionNumbers
from inference.live.tracker import BoxTracker

if TYPE_CHECKING:  # the segmenter imports torch: only for the type
    from inference.segmentation.segmenter import ImageEmbedding


class SessionClosedError(LookupError):
    """No session with that id: it closed (or never opened)."""


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self._times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self._times.append(now)
        self._trim(now)

    def rate(self, now: float) -> float:
        self._trim(now)
        if len(self._times) < 2:
            return 0.0
        return (len(self._times) - 1) / max(now - self._times[0], 1e-6)

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > self.window_s:
            self._times.popleft()


MAX_PENDING_TAPS = 4  # taps waiting for the worker; older ones are dropped (newest wins)


@dataclass
class Requests:
    """Changes asked for by callers, applied by the worker at the top of its next cycle.
    Guarded by the engine's lock; every field is bounded (newest wins)."""

    vocabulary: tuple[str, ...] | None = None
    speech: bool | None = None
    paused: bool | None = None
    everything: bool | None = None
    language: Language | None = None
    taps: list[tuple[float, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.vocabulary is not None
            or self.language is not None
            or self.speech is not None
            or self.paused is not None
            or self.everything is not None
            or self.taps
        )


@dataclass
class SessionState:
    """One phone. Everything below `requests` is owned by the worker thread; callers read only
    the counters and the immutable snapshots (`vocabulary`, `object_count`) under the lock."""

    id: str
    on_result: Callable[[FrameResult], None]
    vocabulary: tuple[str, ...]
    tracker: BoxTracker
    lighting: LightingTracker
    announcer: Announcer
    language: str = "en"  # badges and speech; the detector is always asked in English
    previous_vocabulary: tuple[str, ...] = ()
    requests: Requests = field(default_factory=Requests)  # guarded by the engine's lock
    frame: FrameSource | None = None  # guarded by the engine's lock
    generation: int = 0
    frame_index: int = 0
    paused: bool = False
    speech: bool = True
    everything: bool = False  # keyframes segment everything instead of finding the words
    taps: list[tuple[float, float]] = field(default_factory=list)
    awaits_masks: bool = False  # a detection or a tap landed since the last segmentation
    key_thumb: npt.NDArray[np.float32] | None = None
    key_time: float = float("-inf")
    key_wanted: bool = True
    frame_size: tuple[int, int] | None = None
    notices: list[Notice] = field(default_factory=list)
    object_count: int = 0
    submitted: int = 0
    processed: int = 0
    dropped: int = 0
    keyframes: int = 0
    errors: int = 0
    detect_ms: float = 0.0
    stages_ms: dict[str, float] = field(default_factory=dict)
    overlay_rate: RateMeter = field(default_factory=RateMeter)
    last_lighting: LightingReport | None = None

    def numbers(self, now: float) -> SessionNumbers:
        """What `Engine.session_stats` reports for this session (call under the engine's lock)."""
        requested = self.requests
        return SessionNumbers(
            frames_submitted=self.submitted,
            frames_processed=self.processed,
            dropped=self.dropped,
            overlay_fps=round(self.overlay_rate.rate(now), 2),
            stages_ms={k: round(v, 1) for k, v in self.stages_ms.items()},
            detect_ms=round(self.detect_ms, 1),
            keyframes=self.keyframes,
            errors=self.errors,
            objects=self.object_count,
            vocabulary=tuple(requested.vocabulary or self.vocabulary),
            language=requested.language.code if requested.language else self.language,
            lighting=self.last_lighting,
            paused=self.paused if requested.paused is None else requested.paused,
            everything=self.everything if requested.everything is None else requested.everything,
        )


@dataclass
class PreparedFrame:
    """One session's frame between the steps of a cycle."""

    session: SessionState
    index: int
    frame: npt.NDArray[np.uint8]  # RGB at the processing size
    model_frame: npt.NDArray[np.uint8]  # the same after lighting preprocessing
    lighting: LightingReport
    timer: StageTimer
    embedding: ImageEmbedding | None = None
