"""A stand-in for `inference.live.engine.Engine` with the same API and threading, but no models.

It finds one "cat" in a fixed rectangle of every frame, deliberately slowly (`delay_s` per
result, optionally burning CPU like a model would), so tests can check that the video does not
wait for it and where exactly the overlay must be. `hold()` stops the worker on its next frame
until `release()` (a model stuck in one long call, on any machine); `stuck` is set meanwhile.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from inference.core.detections import Detections
from inference.labels.announcer import SayEvent
from inference.labels.languages import load_language
from inference.labels.phrases import describe_object, say_objects
from inference.labels.themes import UnknownThemeError, load_theme
from inference.labels.vocabulary import parse_vocabulary
from inference.lighting.tracker import LightingReport, LightingTracker
from inference.live.results import FrameResult, SeenObject, SessionNumbers
from inference.live.session_state import SessionClosedError
from inference.models import Models
from inference.overlay.colours import colours_for, to_hex

BOX = (0.25, 0.25, 0.75, 0.75)  # where the cat is, normalised x1, y1, x2, y2
# a mid-grey frame's lighting (state "normal"): what every fake result reports
LIGHTING: LightingReport = LightingTracker().update(np.full((48, 64, 3), 128, np.uint8))


@dataclass
class _Session:
    on_result: Callable[[FrameResult], None]
    vocabulary: tuple[str, ...]
    frame: Callable[[], npt.NDArray[np.uint8]] | npt.NDArray[np.uint8] | None = None
    submitted: int = 0
    processed: int = 0
    dropped: int = 0
    paused: bool = False
    speech: bool = True
    language: str = "en"
    announced: tuple[tuple[str, float], ...] = ()  # the scene last said (a new one is said)
    taps: list[tuple[float, float]] = field(default_factory=list)
    frame_shapes: set[tuple[int, ...]] = field(default_factory=set)


class FakeEngine:
    def __init__(self, delay_s: float = 0.3, busy: bool = False, process_size: int | None = None):
        """delay_s per result; busy: spend it in numpy work (like a model) instead of sleeping;
        process_size: downscale frames to this height first (results then refer to a smaller
        frame than the camera's, as the real engine's max_side does)."""
        self.delay_s = delay_s
        self.busy = busy
        self.process_size = process_size
        self.healthy = True
        self.degraded_reason: str | None = None
        self.started = self.stopped = False
        self.closed_sessions: list[str] = []
        self.calls: list[tuple[str, str, Any]] = []
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._running = False
        self._thread: threading.Thread | None = None
        self._ids = itertools.count(1)
        self._processed = 0
        self._gate = threading.Event()
        self._gate.set()
        self.stuck = threading.Event()  # set while the worker holds a frame at a closed gate
        # what every frame shows: (label, score) pairs; `show` scripts it, `flash` adds to the
        # next result only (a detection that flickers)
        self.scene: tuple[tuple[str, float], ...] = (("cat", 0.9),)
        self._flash: tuple[tuple[str, float], ...] | None = None
        self._scenes: dict[str, tuple[tuple[str, float], ...]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self.started = True
        self._running = True
        self._thread = threading.Thread(target=self._work, name="fake-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopped = True
        self._running = False
        self._wake.set()
        self._gate.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def show(self, *labels: str, score: float = 0.9) -> None:
        """From the next result on, every frame shows `labels` (none: an empty scene)."""
        with self._lock:
            self.scene = tuple((label, score) for label in labels)

    def show_to(self, session_id: str, *labels: str, score: float = 0.9) -> None:
        """Session `session_id`'s frames alone show `labels` from the next result on (its own
        table, while the other phones keep `scene`)."""
        with self._lock:
            self._scenes[session_id] = tuple((label, score) for label in labels)

    def flash(self, *labels: str, score: float = 0.9) -> None:
        """The next result alone shows `labels` as well: a one-frame flicker."""
        with self._lock:
            self._flash = tuple((label, score) for label in labels)

    def hold(self) -> None:
        """Stop the worker at its next frame (no result) until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    @property
    def ready(self) -> bool:
        return self.problem is None

    @property
    def degraded(self) -> str | None:
        return self.degraded_reason

    @property
    def problem(self) -> str | None:
        if not self.healthy:
            return "detection broker unreachable"
        if self._thread is None or not self._thread.is_alive():
            return "engine worker is not running"
        return None

    @property
    def themes(self) -> tuple[str, ...]:
        return ("animals", "fruit")

    # -- sessions --------------------------------------------------------------------------

    def open_session(
        self, on_result: Callable[[FrameResult], None], vocabulary: Sequence[str] | None = None
    ) -> str:
        session_id = f"f{next(self._ids)}"
        with self._lock:
            self._sessions[session_id] = _Session(on_result, tuple(vocabulary or ("cat", "cup")))
        return session_id

    def close_session(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            self.closed_sessions.append(session_id)

    @property
    def open_sessions(self) -> list[str]:
        with self._lock:
            return list(self._sessions)

    def submit(
        self, session_id: str, frame: Callable[[], npt.NDArray[np.uint8]] | npt.NDArray[np.uint8]
    ) -> None:
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return
            if session.frame is not None:
                session.dropped += 1
            session.frame = frame
            session.submitted += 1
        self._wake.set()

    def set_vocabulary(
        self, session_id: str, words: str | None = None, theme: str | None = None
    ) -> tuple[str, ...]:
        if theme is not None:
            if theme not in self.themes:
                raise UnknownThemeError(
                    f"unknown theme {theme!r}; choose one of {', '.join(self.themes)}"
                )
            # animals stays short (tests read it whole); fruit is the real theme (hunts use it)
            vocabulary: tuple[str, ...] = (
                ("cat", "dog") if theme == "animals" else tuple(load_theme(theme).words)
            )
        else:
            vocabulary = tuple(parse_vocabulary(words or ""))
        with self._lock:
            self._session(session_id).vocabulary = vocabulary
        self.calls.append(("vocabulary", session_id, vocabulary))
        return vocabulary

    def tap(self, session_id: str, x: float, y: float) -> None:
        with self._lock:
            self._session(session_id).taps.append((x, y))
        self.calls.append(("tap", session_id, (x, y)))

    def set_paused(self, session_id: str, paused: bool) -> None:
        with self._lock:
            self._session(session_id).paused = paused
        self.calls.append(("paused", session_id, paused))

    def set_speech(self, session_id: str, on: bool) -> None:
        with self._lock:
            self._session(session_id).speech = on
        self.calls.append(("speech", session_id, on))

    def set_language(self, session_id: str, code: str) -> str:
        language = load_language(code)  # UnknownLanguageError, like the engine
        with self._lock:
            session = self._session(session_id)
            session.language, session.announced = language.code, ()  # say it again, translated
        self.calls.append(("language", session_id, code))
        return language.name

    def set_everything(self, session_id: str, on: bool) -> None:
        with self._lock:
            self._session(session_id)
        self.calls.append(("everything", session_id, on))

    def session_stats(self, session_id: str) -> SessionNumbers:
        with self._lock:
            s = self._session(session_id)
            return SessionNumbers(
                frames_submitted=s.submitted,
                frames_processed=s.processed,
                dropped=s.dropped,
                overlay_fps=round(1 / self.delay_s, 2) if self.delay_s else 0.0,
                stages_ms={"segment": self.delay_s * 1000},
                detect_ms=1.0,
                keyframes=1,
                errors=0,
                objects=1 if s.processed else 0,
                vocabulary=s.vocabulary,
                language=s.language,
                lighting=LIGHTING,
                paused=s.paused,
                everything=False,
            )

    models: Models | None = None  # no models: the photo page answers 503, no demo badge

    def broker_stats(self) -> dict[str, Any] | None:
        return None

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "sessions": len(self._sessions),
                "processed": self._processed,
                "dropped": sum(s.dropped for s in self._sessions.values()),
                "stages_ms": {"segment": self.delay_s * 1000},
                "detect_ms": 1.0,
                "errors": 0,
            }

    def _session(self, session_id: str) -> _Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionClosedError(f"no session {session_id!r}")
        return session

    # -- worker ------------------------------------------------------------------------------

    def _work(self) -> None:
        while self._running:
            self._wake.wait(0.2)
            self._wake.clear()
            with self._lock:
                waiting = [(sid, s) for sid, s in self._sessions.items() if s.frame is not None]
                taken = [(sid, s, s.frame) for sid, s in waiting]
                for _, s in waiting:
                    s.frame = None
            for session_id, session, source in taken:
                assert source is not None
                frame = source() if callable(source) else source
                session.frame_shapes.add(frame.shape)
                if not self._gate.is_set():
                    self.stuck.set()
                    self._gate.wait()
                    self.stuck.clear()
                if self.process_size is not None:
                    step = max(1, frame.shape[0] // self.process_size)
                    frame = frame[::step, ::step]
                self._spend(self.delay_s)
                with self._lock:
                    session.processed += 1
                    self._processed += 1
                    if session.paused or session_id not in self._sessions:
                        continue
                    own = self._scenes.get(session_id, self.scene)
                    scene, self._flash = own + (self._flash or ()), None
                    say = None
                    if session.speech and session.announced != scene and scene:
                        session.announced = scene
                        say = SayEvent(say_objects(scene, session.language), (1,))
                    language = session.language
                result = _result(session_id, session.processed, frame, say, scene, language)
                session.on_result(result)
            if taken:
                self._wake.set()

    def _spend(self, seconds: float) -> None:
        if not self.busy:
            time.sleep(seconds)
            return
        deadline = time.perf_counter() + seconds
        a = np.random.default_rng(0).random((160, 160), dtype=np.float32)
        while time.perf_counter() < deadline:
            a = np.tanh(a @ a)  # releases the GIL in BLAS, like torch does


def _result(
    session_id: str,
    index: int,
    frame: npt.NDArray[np.uint8],
    say: SayEvent | None,
    scene: tuple[tuple[str, float], ...] = (("cat", 0.9),),
    language: str = "en",
) -> FrameResult:
    """`scene`'s objects side by side in the middle band of the frame (one alone fills BOX),
    track ids 1, 2, ... in scene order, named in `language`."""
    height, width = frame.shape[:2]
    x1, y1, x2, y2 = BOX
    step = (x2 - x1) / max(1, len(scene))
    boxes = [(x1 + i * step, y1, x1 + (i + 1) * step, y2) for i in range(len(scene))]
    pixels = np.array(
        [[a * width, b * height, c * width, d * height] for a, b, c, d in boxes], np.float32
    ).reshape(-1, 4)
    masks = np.zeros((len(scene), height, width), bool)
    for i, (a, b, c, d) in enumerate(boxes):
        masks[i, int(b * height) : int(d * height), int(a * width) : int(c * width)] = True
    labels = tuple(label for label, _ in scene)
    scores = np.array([score for _, score in scene], np.float32)
    ids = np.arange(1, len(scene) + 1)
    detections = Detections(pixels, scores, labels, masks, ids)
    colours = [to_hex(c) for c in colours_for(detections)]
    texts = tuple(describe_object(label, score, language) for label, score in scene)
    return FrameResult(
        session_id=session_id,
        frame_index=index,
        frame_size=(height, width),
        detections=detections,
        texts=labels,
        objects=tuple(
            SeenObject(
                id=int(ids[i]),
                label=labels[i],
                say=texts[i],
                score=float(scores[i]),
                box=boxes[i],
                colour=colours[i],
            )
            for i in range(len(scene))
        ),
        say=say,
        lighting=LIGHTING,
        timings_ms={"segment": 300.0, "total": 301.0},
    )
