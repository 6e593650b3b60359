"""The live engine: newest frame wins, keyframes go through the broker, ids stay stable, speech
is announced, taps become objects, sessions are served fairly, and bad frames do not stop it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import torch
from skimage import data

from inference.broker import DetectionJob, DetectionOutcome, InProcessBroker
from inference.detections import Detections
from inference.detector import build_random_detector
from inference.engine import Engine, EngineSettings
from inference.everything import EverythingSettings
from inference.labels import AnnouncerSettings
from inference.lighting import LightingSettings
from inference.models import Models
from inference.segmenter import build_random_segmenter
from tests.inference.engine_results import Results

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def models() -> Models:
    return Models(build_random_detector(CPU, tiny=True), build_random_segmenter(CPU, 512))


def _settings(**changes: object) -> EngineSettings:
    base: dict[str, object] = {
        # random weights score low: pin thresholds so the tiny detector finds things
        "lighting": LightingSettings(box_threshold=0.0, text_threshold=0.0),
        "announcer": AnnouncerSettings(dwell_s=0.2, min_gap_s=0.5),
        "max_side": 320,
    }
    base.update(changes)
    return EngineSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
def engine(models: Models) -> Iterator[Engine]:
    engine = Engine(models, _settings())
    engine.start()
    yield engine
    engine.stop()


def _copier(frame: np.ndarray) -> Callable[[], np.ndarray]:
    return lambda: frame.copy()  # a lazy frame, as the stream passes them


def _stream(engine: Engine, session: str, frame: np.ndarray, count: int, fps: float = 15) -> None:
    for _ in range(count):
        engine.submit(session, _copier(frame))
        time.sleep(1 / fps)


def test_frames_faster_than_the_models_are_dropped_not_queued(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat", "cup"])
    feeder = threading.Thread(target=_stream, args=(engine, session, data.chelsea(), 90, 30))
    feeder.start()
    results.wait_for(lambda items: any(r.objects for r in items))
    feeder.join()
    time.sleep(1.0)
    stats = engine.session_stats(session)
    assert stats["frames_submitted"] == 90
    assert stats["dropped"] > 0, "the segmenter is slower than 30 fps on CPU: frames must drop"
    # every frame is accounted for: processed, dropped, or (at most one) still waiting
    assert 89 <= stats["frames_processed"] + stats["dropped"] <= 90
    assert stats["keyframes"] >= 1 and stats["lighting"]["state"] == "normal"


def test_objects_get_stable_ids_labels_from_the_vocabulary_and_are_announced(
    engine: Engine,
) -> None:
    results = Results()
    session = engine.open_session(results, ["cat", "cup"])
    frame = data.chelsea()
    feeder = threading.Thread(target=_stream, args=(engine, session, frame, 60, 15))
    feeder.start()
    results.wait_for(lambda items: sum(1 for r in items if r.objects) >= 3)
    results.wait_for(lambda items: any(r.say for r in items))
    feeder.join()
    with_objects = [r for r in results.items if r.objects]
    first_ids = {o["id"] for o in with_objects[0].objects}
    last_ids = {o["id"] for o in with_objects[-1].objects}
    assert first_ids & last_ids, "track ids persist across frames of a still scene"
    result = with_objects[-1]
    assert result.detections.masks is not None
    assert result.detections.masks.shape[1:] == result.frame_size == (213, 320)
    for obj in result.objects:
        assert obj["label"] in ("cat", "cup")
        assert all(0.0 <= v <= 1.0 for v in obj["box"])
        assert obj["colour"].startswith("#") and obj["say"]
    say = next(r.say for r in results.items if r.say)
    assert say.text and set(say.ids) <= {o["id"] for r in with_objects for o in r.objects}


def test_vocabulary_change_resets_and_redetects(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    frame = data.coffee()
    feeder = threading.Thread(target=_stream, args=(engine, session, frame, 75, 15))
    feeder.start()
    results.wait_for(lambda items: any(r.objects for r in items))
    words = engine.set_vocabulary(session, theme="fruit")
    assert "apple" in words
    mark = len(results.items)
    results.wait_for(lambda items: any(r.objects for r in items[mark + 1 :]))
    feeder.join()
    later = [o["label"] for r in results.items[mark + 1 :] for o in r.objects]
    assert later and set(later) <= set(words)
    with pytest.raises(KeyError, match="animals"):
        engine.set_vocabulary(session, theme="dinosaurs")


def test_scene_changes_make_keyframes(models: Models) -> None:
    engine = Engine(models, _settings(refresh_s=1000.0))
    engine.start()
    try:
        results = Results()
        session = engine.open_session(results, ["cat"])
        for frame in (
            data.chelsea(),
            data.chelsea(),
            data.astronaut()[::2, ::2],
            data.astronaut()[::2, ::2],
        ):
            seen = len(results.items)
            engine.submit(session, frame)
            results.wait_for(lambda items, seen=seen: len(items) > seen)  # type: ignore[misc]
            while engine.broker.pending(session):
                time.sleep(0.05)
        # first frame, then the cut to a different photo; same-scene frames do not count
        assert engine.session_stats(session)["keyframes"] == 2
    finally:
        engine.stop()


def test_a_tap_becomes_an_object(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["ball"])
    engine.set_vocabulary(session, words="zebra")  # no zebra → only the tap makes an object
    frame = data.chelsea()
    engine.tap(session, 0.5, 0.5)
    _stream(engine, session, frame, 8)
    results.wait_for(lambda items: any(r.objects for r in items))
    assert any(o["label"] in ("something", "zebra") for r in results.items for o in r.objects)


def test_sessions_are_served_fairly(engine: Engine) -> None:
    a, b = Results(), Results()
    first = engine.open_session(a, ["cat"])
    second = engine.open_session(b, ["cup"])
    for _ in range(40):
        engine.submit(first, data.chelsea())
        engine.submit(second, data.coffee())
        time.sleep(1 / 15)
    a.wait_for(lambda items: len(items) >= 2)
    b.wait_for(lambda items: len(items) >= 2)
    done_a = engine.session_stats(first)["frames_processed"]
    done_b = engine.session_stats(second)["frames_processed"]
    assert abs(done_a - done_b) <= 2
    before = engine.stats()
    engine.close_session(first)
    with pytest.raises(KeyError):
        engine.session_stats(first)
    after = engine.stats()
    assert after["sessions"] == before["sessions"] - 1
    assert after["processed_total"] >= before["processed_total"]  # closing loses no counts


def test_a_bad_frame_is_counted_and_the_engine_goes_on(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    engine.submit(session, np.zeros((10, 10), np.uint8))  # not RGB
    time.sleep(0.5)
    engine.submit(session, data.chelsea())
    results.wait_for(lambda items: len(items) >= 1)
    assert engine.session_stats(session)["errors"] == 1
    assert engine.ready


def test_pause_stops_results_but_keeps_processing(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    engine.set_paused(session, True)
    _stream(engine, session, data.chelsea(), 6)
    time.sleep(1.0)
    assert results.items == [] and engine.session_stats(session)["frames_processed"] >= 1


class _FailingDetector:
    def detect(self, frames: object, vocabulary: object, **_: object) -> list[Detections]:
        raise RuntimeError("boom")


class _SlowDetector:
    def __init__(self) -> None:
        self.seen: list[int] = []
        self.release = threading.Event()

    def detect(self, frames: object, vocabulary: object, **_: object) -> list[Detections]:
        self.release.wait(5)
        return [Detections.empty()]


def _job(session: str, index: int = 0, age: float = 0.0) -> DetectionJob:
    return DetectionJob(
        session, index, np.zeros((8, 8, 3), np.uint8), ("cat",), 0.3, 0.2,
        submitted_at=time.monotonic() - age,
    )  # fmt: skip


def _collect(broker: InProcessBroker, count: int) -> list[DetectionOutcome]:
    outcomes: list[DetectionOutcome] = []
    deadline = time.monotonic() + 10
    while len(outcomes) < count and time.monotonic() < deadline:
        outcomes += broker.collect()
        time.sleep(0.02)
    return outcomes


def test_broker_reports_failures_and_keeps_running() -> None:
    broker = InProcessBroker(_FailingDetector())  # type: ignore[arg-type]
    try:
        broker.submit(_job("s1"))
        (outcome,) = _collect(broker, 1)
        assert outcome.detections is None and "boom" in (outcome.error or "")
        assert broker.healthy
    finally:
        broker.close()
    assert not broker.healthy


def test_broker_keeps_only_the_newest_job_per_session_and_drops_stale_ones() -> None:
    detector = _SlowDetector()
    broker = InProcessBroker(detector, max_age_s=5.0)  # type: ignore[arg-type]
    try:
        broker.submit(_job("busy", 0))  # occupies the worker
        time.sleep(0.1)
        for index in (1, 2, 3):
            broker.submit(_job("s", index))
        broker.submit(_job("old", 9, age=60.0))
        assert broker.pending("s") and broker.pending("busy")
        detector.release.set()
        outcomes = _collect(broker, 3)
        by_session = {o.job.session_id: o for o in outcomes}
        assert by_session["s"].job.frame_index == 3
        assert by_session["old"].detections is None and "old" in (by_session["old"].error or "")
        assert len(outcomes) == 3
    finally:
        broker.close()


@pytest.mark.parametrize(("device", "batch"), [("cpu", 1), ("cuda", 4)])
def test_settings_batch_across_sessions_only_on_a_gpu(device: str, batch: int) -> None:
    settings = EngineSettings.for_device(device, max_side=480)
    assert settings.max_batch == batch and settings.max_side == 480


def test_a_batch_of_sessions_is_segmented_together(models: Models) -> None:
    engine = Engine(models, _settings(max_batch=2))
    engine.start()
    try:
        a, b = Results(), Results()
        first, second = engine.open_session(a, ["cat"]), engine.open_session(b, ["cup"])
        for _ in range(45):
            engine.submit(first, data.chelsea())
            engine.submit(second, data.coffee()[::2, ::2])  # another size in the same batch
            time.sleep(1 / 15)
        a.wait_for(lambda items: any(r.objects for r in items))
        b.wait_for(lambda items: any(r.objects for r in items))
        assert a.items[-1].frame_size != b.items[-1].frame_size
    finally:
        engine.stop()


def test_everything_mode_segments_everything_on_keyframes(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`set_everything(True)`: the next keyframe runs segment-everything (point grid, named by
    the words where they overlap, "something" elsewhere) and its masks' boxes become the
    tracked objects; off again, keyframes find the words."""
    import inference.broker as broker_module

    calls: list[int] = []
    real = broker_module.segment_everything

    def counted(*args: object, **kwargs: object) -> Detections:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(len(found))
        return found

    monkeypatch.setattr(broker_module, "segment_everything", counted)
    # random weights: open the filters so random masks survive (the defaults would drop them)
    loose = EverythingSettings(points_per_side=4, iou_threshold=0.0, stability_threshold=0.0)
    engine = Engine(models, _settings(everything=loose))
    engine.start()
    try:
        results = Results(timeout_s=60)
        session = engine.open_session(results, ["cup"])
        engine.set_everything(session, True)
        assert engine.session_stats(session)["everything"] is True
        feeder = threading.Thread(target=_stream, args=(engine, session, data.coffee(), 90, 15))
        feeder.start()
        results.wait_for(lambda items: bool(calls) and any(r.objects for r in items))
        feeder.join()
        labels = {o["label"] for r in results.items for o in r.objects}
        assert labels and labels <= {"cup", "something"}, labels
        assert calls[0] >= 1
        engine.set_everything(session, False)
        _stream(engine, session, data.coffee(), 5)  # the worker takes the request
        deadline = time.monotonic() + 60
        while engine.broker.pending(session):  # an "everything" keyframe may still be running
            assert time.monotonic() < deadline
            time.sleep(0.1)
        mark = len(calls)
        _stream(engine, session, data.coffee(), 30)
        assert len(calls) == mark, "off again: keyframes only find the words"
        assert engine.session_stats(session)["everything"] is False
    finally:
        engine.stop()
