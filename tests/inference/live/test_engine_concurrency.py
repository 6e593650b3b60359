"""The engine under concurrency: callers on another thread never touch what the worker owns, a
vocabulary change always gets its keyframe, a tap never pushes a keyframe out, a too-long
vocabulary is reported, and failures inside the worker (even its death) do not stop a session.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
from skimage import data

from inference.core.detections import Detections
from inference.labels import Announcer, AnnouncerSettings
from inference.lighting.thresholds import LightingSettings
from inference.lighting.tracker import LightingTracker
from inference.live.broker import DetectionJob, InProcessBroker
from inference.live.engine import Engine
from inference.live.engine_settings import EngineSettings
from inference.live.tracker import BoxTracker
from inference.models import Models
from tests.support.engine_results import DEADLINE_S, Feeder, Results, wait_until
from tests.support.models import tiny_random_models

CPU = torch.device("cpu")
FRAME = np.ascontiguousarray(data.chelsea()[::2, ::2])  # 150×225: cheap cycles


@pytest.fixture(scope="module")
def models() -> Models:
    return tiny_random_models(segmenter_size=256)  # smaller: many frames per test


def _settings(**changes: Any) -> EngineSettings:
    base: dict[str, Any] = {
        "lighting": LightingSettings(box_threshold=0.0, text_threshold=0.0),
        "announcer": AnnouncerSettings(dwell_s=0.1, min_gap_s=0.2),
        "max_side": 240,
    }
    base.update(changes)
    return EngineSettings(**base)


def _results() -> Results:
    return Results(poll_s=0.1)


@pytest.fixture
def engine(models: Models) -> Iterator[Engine]:
    engine = Engine(models, _settings())
    engine.start()
    yield engine
    engine.stop()


# -- worker-owned objects are only touched by the worker -------------------------------------


@pytest.fixture
def touches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(thread name, method) of every call into a worker-owned object's methods."""
    seen: list[tuple[str, str]] = []
    for cls in (BoxTracker, Announcer, LightingTracker):
        for name, member in list(vars(cls).items()):
            if name.startswith("__") or not callable(member):
                continue

            def recorder(*args: Any, _m: Any = member, _n: str = name, **kw: Any) -> Any:
                seen.append((threading.current_thread().name, _n))
                return _m(*args, **kw)

            monkeypatch.setattr(cls, name, recorder)
    return seen


def test_requests_from_another_thread_never_touch_worker_owned_objects(
    engine: Engine, touches: list[tuple[str, str]]
) -> None:
    results = _results()
    session = engine.open_session(results, ["cat", "cup"])
    touches.clear()  # the session was built on this thread before the worker could see it
    rng = random.Random(0)
    words = ["cat", "dog, ball", "cup", "apple, banana"]
    with Feeder(engine, session, FRAME):
        for i in range(300):  # a bounded storm of requests while the worker runs
            action = i % 4
            if action == 0:
                engine.set_vocabulary(session, words=words[rng.randrange(len(words))])
            elif action == 1:
                engine.set_speech(session, rng.random() < 0.5)
            elif action == 2:
                engine.tap(session, rng.random(), rng.random())
            else:
                engine.set_paused(session, False)
            engine.session_stats(session)
            time.sleep(0.005)  # pacing only, so the storm spans many worker cycles
        final = engine.set_vocabulary(session, words="teddy bear, book")
        results.wait_for(lambda items: len(items) >= 5)
        results.wait_for(lambda items: any(r.objects for r in items))
    callers = {thread for thread, _ in touches if not thread.startswith("engine")}
    assert touches, "the worker used the tracker, announcer and lighting"
    assert not callers, f"worker-owned objects touched from {callers}: {touches[:5]}"
    stats = engine.session_stats(session)
    assert stats.errors == 0 and engine.stats()["errors"] == 0
    assert stats.vocabulary == final


# -- keyframes and taps ----------------------------------------------------------------------


class GatedDetector:
    """Answers one box in the middle labelled with the first word, after `gate` opens."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls: list[tuple[str, ...]] = []

    def detect(self, frames: list[np.ndarray], vocabulary: Any, **_: Any) -> list[Detections]:
        self.calls.append(tuple(vocabulary))
        self.started.set()
        assert self.gate.wait(DEADLINE_S), "the test never opened the gate"
        height, width = frames[0].shape[:2]
        box = np.array([[width * 0.3, height * 0.3, width * 0.7, height * 0.7]], np.float32)
        return [Detections(box, np.array([0.9], np.float32), (next(iter(vocabulary)),))]


class RecordingBroker(InProcessBroker):
    def __init__(self, detector: Any) -> None:
        super().__init__(detector)
        self.jobs: list[DetectionJob] = []

    def submit(self, job: DetectionJob) -> None:
        self.jobs.append(job)
        super().submit(job)


def test_vocabulary_change_gets_its_keyframe_and_a_tap_never_replaces_it(
    models: Models,
) -> None:
    detector = GatedDetector()
    broker = RecordingBroker(detector)
    engine = Engine(models, _settings(refresh_s=1000.0), broker)
    engine.start()
    try:
        results = _results()
        session = engine.open_session(results, ["cat"])
        with Feeder(engine, session, FRAME):
            assert detector.started.wait(DEADLINE_S)  # the first keyframe runs, held at the gate
            engine.set_vocabulary(session, words="dog")
            # the old words' job is still running; the new words' job must not wait for it
            wait_until(
                lambda: any(j.vocabulary == ("dog",) for j in broker.jobs), "the new words' job"
            )
            keyframes = [j for j in broker.jobs if j.purpose == "keyframe"]
            assert keyframes[-1].vocabulary == ("dog",) and keyframes[-1].generation == 1
            assert broker.pending(session, "keyframe")
            engine.tap(session, 0.5, 0.5)
            wait_until(lambda: broker.pending(session, "tap"), "the tap's job")
            assert broker.pending(session, "keyframe"), "the tap pushed the keyframe out"
            detector.gate.set()
            results.wait_for(
                lambda items: any(o.label == "dog" for r in items[-1:] for o in r.objects)
            )
        assert ("dog",) in detector.calls
        later = [o.label for r in results.items[-3:] for o in r.objects]
        assert "cat" not in later, "an answer for the old words was applied"
    finally:
        detector.gate.set()
        engine.stop()


def test_a_vocabulary_too_long_for_the_detector_is_reported_and_undone(engine: Engine) -> None:
    results = _results()
    session = engine.open_session(results, ["cat", "cup"])
    too_long = ", ".join("qzxv" * 9 + chr(97 + i) for i in range(20))  # ~800 word-piece tokens
    with Feeder(engine, session, FRAME):
        results.wait_for(lambda items: len(items) >= 1)
        engine.set_vocabulary(session, words=too_long)
        results.wait_for(lambda items: any(r.notices for r in items))
        noticed = next(i for i, r in enumerate(results.items) if r.notices)
        # back on the old words, a keyframe finds them again: a second refusal (bouncing back
        # to the long words) would have come before that
        results.wait_for(lambda items: any(r.objects for r in items[noticed + 1 :]))
    assert {o.label for r in results.items[noticed + 1 :] for o in r.objects} <= {"cat", "cup"}
    (notice,) = [n for r in results.items for n in r.notices]
    assert notice.code == "vocabulary_too_long"
    assert "tokens" in notice.message and "cat, cup" in notice.message
    assert engine.session_stats(session).vocabulary == ("cat", "cup")


# -- failures inside the worker ----------------------------------------------------------------


def test_an_exception_in_a_cycle_is_counted_and_the_session_keeps_getting_results(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    results = _results()
    session = engine.open_session(results, ["cat"])
    calls = {"n": 0}
    original = LightingTracker.update

    def flaky(self: LightingTracker, frame: np.ndarray) -> Any:
        calls["n"] += 1
        if calls["n"] in (3, 4):
            raise RuntimeError("injected failure")
        return original(self, frame)

    monkeypatch.setattr(LightingTracker, "update", flaky)
    with Feeder(engine, session, FRAME):
        results.wait_for(lambda items: len(items) >= 6)
    assert engine.session_stats(session).errors == 2
    assert engine.stats()["errors"] == 2
    assert "injected failure" in caplog.text and "Traceback" in caplog.text
    assert engine.ready


class _Die(BaseException):
    """Escapes every `except Exception`, as a bug in the worker's own code might."""


def test_a_dead_worker_is_reported_and_restarted(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = Engine(models, _settings(), watchdog_interval_s=0.2)
    engine.start()
    try:
        results = _results()
        session = engine.open_session(results, ["cat"])
        with Feeder(engine, session, FRAME):
            results.wait_for(lambda items: len(items) >= 2)
            # hold the watchdog's restart until the test has seen the dead worker reported,
            # so a busy machine cannot make the test miss the moment
            seen_dead = threading.Event()
            restart = engine._start_worker

            def restart_when_seen() -> None:
                assert seen_dead.wait(DEADLINE_S), "the test never saw the dead worker"
                restart()

            monkeypatch.setattr(engine, "_start_worker", restart_when_seen)
            original = Engine._apply_requests
            dead = {"once": False}

            def dies(self: Engine) -> None:
                if not dead["once"]:
                    dead["once"] = True
                    raise _Die("injected death")
                original(self)

            monkeypatch.setattr(Engine, "_apply_requests", dies)
            wait_until(lambda: not engine.ready, "the worker's death to be reported")
            assert "died" in (engine.problem or "") and "injected death" in (engine.problem or "")
            seen_dead.set()
            seen = len(results.items)
            results.wait_for(lambda items: len(items) >= seen + 3)
        assert engine.ready and engine.stats()["worker_restarts"] == 1
    finally:
        engine.stop()
