"""The live engine: newest frame wins, keyframes go through the broker, ids stay stable, speech
is announced, taps become objects, sessions are served fairly, and bad frames do not stop it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch
from skimage import data

from inference.core.detections import Detections
from inference.labels import AnnouncerSettings
from inference.labels.themes import UnknownThemeError
from inference.lighting.thresholds import LightingSettings
from inference.live.broker import DetectionJob, DetectionOutcome, InProcessBroker
from inference.live.engine import Engine
from inference.live.engine_settings import TAP_LABEL, EngineSettings
from inference.live.frame_ops import first_look_detector, letterbox
from inference.live.session_state import SessionClosedError
from inference.models import Models
from inference.segmentation.everything import EverythingSettings
from tests.support.engine_results import DEADLINE_S, Feeder, GatedFrame, Results, wait_until

CPU = torch.device("cpu")


def _settings(**changes: object) -> EngineSettings:
    base: dict[str, object] = {
        # random weights score low: pin thresholds so the tiny detector finds things
        "lighting": LightingSettings(box_threshold=0.0, text_threshold=0.0),
        "announcer": AnnouncerSettings(dwell_s=0.2, min_gap_s=0.5),
        "max_side": 320,
        # keyframes as the tests plan them: no quick first look with its full-size follow-up
        # (test_first_looks_are_quick_and_refined_at_full_size covers those)
        "first_look_side": None,
    }
    base.update(changes)
    return EngineSettings(**base)  # type: ignore[arg-type]


@pytest.fixture
def engine(models: Models) -> Iterator[Engine]:
    engine = Engine(models, _settings())
    engine.start()
    yield engine
    engine.stop()


def _numbered(frame: np.ndarray, number: int, taken: list[int]) -> Callable[[], np.ndarray]:
    """A lazy frame that notes its number when the worker reads it."""

    def source() -> np.ndarray:
        taken.append(number)
        return frame.copy()

    return source


def test_frames_faster_than_the_models_are_dropped_not_queued(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat", "cup"])
    frame = data.chelsea()
    gate = GatedFrame(frame)
    engine.submit(session, gate)
    assert gate.entered.wait(DEADLINE_S)
    # the worker is busy with the first frame (held at the gate), whatever this machine's
    # speed: each of these frames arrives while another one is waiting, so all but the newest
    # must be dropped, never queued
    taken: list[int] = []
    for number in range(1, 31):
        engine.submit(session, _numbered(frame, number, taken))
    gate.release()
    results.wait_for(lambda items: len(items) >= 2)
    stats = engine.session_stats(session)
    assert taken == [30], "only the newest frame is processed; dropped ones are never read"
    assert stats.frames_submitted == 31
    assert stats.dropped == 29 and stats.frames_processed == 2
    assert [r.frame_index for r in results.items] == [1, 2]
    assert (
        stats.keyframes >= 1
        and stats.lighting is not None
        and stats.lighting.state.value == "normal"
    )


def test_objects_get_stable_ids_labels_from_the_vocabulary_and_are_announced(
    models: Models,
) -> None:
    # no refresh keyframes: the ids must persist from frame to frame by the masks alone, and
    # how many keyframes fall in the test must not depend on the machine's speed
    engine = Engine(models, _settings(refresh_s=1000.0))
    engine.start()
    try:
        results = Results()
        session = engine.open_session(results, ["cat", "cup"])
        with Feeder(engine, session, data.chelsea()):
            results.wait_for(lambda items: sum(1 for r in items if r.objects) >= 3)
            results.wait_for(lambda items: any(r.say for r in items))
    finally:
        engine.stop()
    with_objects = [r for r in results.items if r.objects]
    first_ids = {o.id for o in with_objects[0].objects}
    last_ids = {o.id for o in with_objects[-1].objects}
    assert first_ids & last_ids, "track ids persist across frames of a still scene"
    result = with_objects[-1]
    assert result.detections.masks is not None
    assert result.detections.masks.shape[1:] == result.frame_size == (213, 320)
    for obj in result.objects:
        assert obj.label in ("cat", "cup")
        assert all(0.0 <= v <= 1.0 for v in obj.box)
        assert obj.colour.startswith("#") and obj.say
    say = next(r.say for r in results.items if r.say)
    assert say.text and set(say.ids) <= {o.id for r in with_objects for o in r.objects}


def test_vocabulary_change_resets_and_redetects(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    with Feeder(engine, session, data.coffee()):
        results.wait_for(lambda items: any(r.objects for r in items))
        words = engine.set_vocabulary(session, theme="fruit")
        assert "apple" in words
        mark = len(results.items)
        # one result may come from a cycle that began before the change; later ones may not
        results.wait_for(lambda items: any(r.objects for r in items[mark + 1 :]))
    later = [o.label for r in results.items[mark + 1 :] for o in r.objects]
    assert later and set(later) <= set(words)
    with pytest.raises(UnknownThemeError, match="animals"):
        engine.set_vocabulary(session, theme="dinosaurs")


def test_first_looks_are_quick_and_refined_at_full_size(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    # refine_s=0: the full-size look is due on the first frame after the first look's answer
    engine = Engine(models, _settings(refresh_s=1000.0, first_look_side=64, refine_s=0.0))
    assert isinstance(engine.broker, InProcessBroker)
    quick = engine.broker.quick_detector
    assert quick is not None and quick.settings.shortest_edge == 64
    assert quick.model is models.detector.model  # the same weights, a smaller input
    jobs: list[DetectionJob] = []
    submit = engine.broker.submit

    def recording_submit(job: DetectionJob) -> None:
        jobs.append(job)
        submit(job)

    monkeypatch.setattr(engine.broker, "submit", recording_submit)
    engine.start()
    try:
        results = Results()
        session = engine.open_session(results, ["cat", "cup"])
        engine.submit(session, data.chelsea())
        results.wait_for(lambda items: len(items) >= 1)
        wait_until(lambda: not engine.broker.pending(session), "the first look")
        engine.submit(session, data.chelsea())  # the first look's objects are tracked now
        results.wait_for(lambda items: any(r.objects for r in items))
        wait_until(lambda: len(jobs) >= 2, "the full-size look")
    finally:
        engine.stop()
    assert [job.first_look for job in jobs[:2]] == [True, False]


def test_serve_and_prebuild_warm_the_first_look_detector_first(models: Models) -> None:
    from inference.live.prebuild import detectors_to_warm

    quick, full = detectors_to_warm(models.detector)
    assert full is models.detector
    assert quick.settings.shortest_edge == EngineSettings().first_look_side
    assert quick.runner is full.runner  # one runtime state: the graphs it builds are shared
    no_smaller = EngineSettings(first_look_side=full.settings.shortest_edge)
    assert first_look_detector(full, no_smaller) is None
    assert first_look_detector(full, EngineSettings(first_look_side=None)) is None


def test_a_session_with_new_objects_is_segmented_first(engine: Engine) -> None:
    waiting, fresh = Results(), Results()
    first = engine.open_session(waiting, ["cat"])
    second = engine.open_session(fresh, ["cup"])
    gate = GatedFrame(data.coffee())
    engine.submit(second, gate)
    assert gate.entered.wait(DEADLINE_S)  # the worker is busy with the second session's frame
    order: list[int] = []
    engine.submit(first, _numbered(data.chelsea(), 1, order))
    engine.tap(second, 0.5, 0.5)  # a tap: a new object without a mask yet
    engine.submit(second, _numbered(data.coffee(), 2, order))
    gate.release()
    waiting.wait_for(lambda items: len(items) >= 1)
    fresh.wait_for(lambda items: len(items) >= 2)
    # round-robin alone would serve the first session next: the second was served last
    assert order == [2, 1]


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
            # a keyframe still being detected would hide the next cut: let it finish first
            wait_until(lambda: not engine.broker.pending(session), "the keyframe's detection")
        # first frame, then the cut to a different photo; same-scene frames do not count
        assert engine.session_stats(session).keyframes == 2
    finally:
        engine.stop()


class _FindsNothing:
    """A detector that never finds anything: only a tap can make an object."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, frames: list[np.ndarray], vocabulary: object, **_: object) -> list[Detections]:
        self.calls += 1
        return [Detections.empty() for _ in frames]


class _RecordingBroker(InProcessBroker):
    """The in-process broker, noting every job the engine submits and every answer it takes."""

    def __init__(self, detector: object, **options: object) -> None:
        super().__init__(detector, **options)  # type: ignore[arg-type]
        self.jobs: list[DetectionJob] = []
        self.answered: list[DetectionJob] = []  # jobs whose outcome the engine collected

    def submit(self, job: DetectionJob) -> None:
        self.jobs.append(job)
        super().submit(job)

    def collect(self) -> list[DetectionOutcome]:
        outcomes = super().collect()
        self.answered.extend(outcome.job for outcome in outcomes)
        return outcomes


def test_a_tap_becomes_an_object(models: Models, monkeypatch: pytest.MonkeyPatch) -> None:
    points: list[np.ndarray] = []
    predict = models.segmenter.predict

    def recording_predict(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("points") is not None:  # point prompts come from taps only
            points.append(np.asarray(kwargs["points"]))
        return predict(*args, **kwargs)

    monkeypatch.setattr(models.segmenter, "predict", recording_predict)
    detector = _FindsNothing()
    broker = _RecordingBroker(detector)
    engine = Engine(models, _settings(refresh_s=1000.0), broker)
    engine.start()
    try:
        results = Results()
        session = engine.open_session(results, ["zebra"])
        engine.tap(session, 0.25, 0.75)
        engine.submit(session, data.chelsea())  # the tap is applied before this frame's cycle
        results.wait_for(lambda items: len(items) >= 1)
        wait_until(lambda: not broker.pending(session, "tap"), "the tap's naming job")
    finally:
        engine.stop()
    (result,) = results.items
    # the detector finds nothing: an object can only be the tap's
    assert [o.label for o in result.objects] == [TAP_LABEL], "the tap made no object"
    (tapped,) = result.objects
    assert tapped.say
    # the segmenter was prompted at the tapped pixel (x from the left, y from the top)
    assert result.frame_size == (213, 320) and len(points) == 1, points
    np.testing.assert_allclose(points[0], [[0.25 * 319, 0.75 * 212]])
    x1, y1, x2, y2 = tapped.box
    assert x1 <= 0.25 <= x2 and y1 <= 0.75 <= y2, "the object is where the phone was tapped"
    assert result.detections.masks is not None and result.detections.masks[0].sum() >= 16
    # the engine asked the detector to name what was tapped (a crop around it, its words)
    (naming,) = [job for job in broker.jobs if job.purpose == "tap"]
    assert naming.track_id == tapped.id and naming.vocabulary == ("zebra",)
    # the crop comes scaled into a frame-shaped canvas: one input size for every tap
    assert naming.frame.shape == (213, 320, 3)

    assert detector.calls == 2  # the first keyframe and the tap's crop, each answered "nothing"


def test_a_tap_crop_is_scaled_into_a_frame_shaped_canvas() -> None:
    crop = np.full((30, 90, 3), 200, np.uint8)  # wider than the 4:3 frame
    canvas = letterbox(crop, (240, 320))
    assert canvas.shape == (240, 320, 3)
    filled = np.asarray(canvas.any(axis=2))
    # scaled by 320/90: full width, 107 rows from the top, black below
    assert filled[:106].all() and not filled[108:].any()
    tall = np.asarray(letterbox(np.full((100, 20, 3), 9, np.uint8), (240, 320)).any(axis=2))
    assert tall[:, :47].all() and not tall[:, 49:].any()  # 240 rows high, 48 wide


def test_sessions_are_served_fairly(engine: Engine) -> None:
    a, b = Results(), Results()
    first = engine.open_session(a, ["cat"])
    second = engine.open_session(b, ["cup"])
    frames = {first: data.chelsea(), second: data.coffee()}
    order: list[str] = []
    rounds = 6

    def refilling(session: str, left: int) -> Callable[[], np.ndarray]:
        """A lazy frame that submits the session's next frame as soon as the worker reads it,
        so both sessions always have a frame waiting: only the scheduler decides the order."""

        def source() -> np.ndarray:
            order.append(session)
            if left > 1:
                engine.submit(session, refilling(session, left - 1))
            return frames[session].copy()

        return source

    gate = GatedFrame(frames[first])
    engine.submit(first, gate)
    assert gate.entered.wait(DEADLINE_S)  # hold the worker until both sessions have a frame
    engine.submit(first, refilling(first, rounds))
    engine.submit(second, refilling(second, rounds))
    gate.release()
    a.wait_for(lambda items: len(items) >= rounds + 1)
    # served in turns, the first session's last frame is the last one read
    assert order == [second, first] * rounds, "round-robin: neither session waits twice"
    b.wait_for(lambda items: len(items) >= rounds)
    assert engine.session_stats(first).frames_processed == rounds + 1
    assert engine.session_stats(second).frames_processed == rounds
    before = engine.stats()
    engine.close_session(first)
    with pytest.raises(SessionClosedError):
        engine.session_stats(first)
    after = engine.stats()
    assert after["sessions"] == before["sessions"] - 1
    assert after["processed_total"] == before["processed_total"]  # closing loses no counts


def test_a_bad_frame_is_counted_and_the_engine_goes_on(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    engine.submit(session, np.zeros((10, 10), np.uint8))  # not RGB
    # the bad frame must be taken before the good one would replace it
    wait_until(lambda: engine.session_stats(session).errors == 1, "the bad frame's error")
    engine.submit(session, data.chelsea())
    results.wait_for(lambda items: len(items) >= 1)
    assert engine.session_stats(session).errors == 1
    assert engine.session_stats(session).frames_processed == 1
    assert engine.ready


def test_pause_stops_results_but_keeps_processing(engine: Engine) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    engine.set_paused(session, True)
    engine.submit(session, data.chelsea())
    wait_until(lambda: engine.session_stats(session).frames_processed == 1, "the paused frame")
    engine.set_paused(session, False)
    engine.submit(session, data.chelsea())
    results.wait_for(lambda items: len(items) >= 1)
    # results arrive in processing order, so the paused frame's would have come first
    assert [r.frame_index for r in results.items] == [2]
    assert engine.session_stats(session).frames_processed == 2


class _FailingDetector:
    def detect(self, frames: object, vocabulary: object, **_: object) -> list[Detections]:
        raise RuntimeError("boom")


class _HeldDetector:
    """Holds every detection until `release` is set; `started` says one is running."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def detect(self, frames: object, vocabulary: object, **_: object) -> list[Detections]:
        self.started.set()
        assert self.release.wait(DEADLINE_S), "the test never released the detector"
        return [Detections.empty()]


def _job(session: str, index: int = 0, age: float = 0.0) -> DetectionJob:
    return DetectionJob(
        session, index, np.zeros((8, 8, 3), np.uint8), ("cat",), 0.3, 0.2,
        submitted_at=time.monotonic() - age,
    )  # fmt: skip


def _collect(broker: InProcessBroker, count: int) -> list[DetectionOutcome]:
    outcomes: list[DetectionOutcome] = []

    def enough() -> bool:
        outcomes.extend(broker.collect())
        return len(outcomes) >= count

    wait_until(enough, f"{count} outcomes")
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
    detector = _HeldDetector()
    broker = InProcessBroker(detector, max_age_s=30.0)  # type: ignore[arg-type]
    try:
        broker.submit(_job("busy", 0))
        assert detector.started.wait(DEADLINE_S)  # the worker is busy with it until released
        for index in (1, 2, 3):
            broker.submit(_job("s", index))
        broker.submit(_job("old", 9, age=60.0))
        assert broker.pending("s") and broker.pending("busy")
        detector.release.set()
        outcomes = _collect(broker, 3)
        by_session = {o.job.session_id: o for o in outcomes}
        assert by_session["s"].job.frame_index == 3
        assert by_session["old"].detections is None and "old" in (by_session["old"].error or "")
        assert by_session["busy"].detections is not None
        assert len(outcomes) == 3 and broker.collect() == []
    finally:
        detector.release.set()
        broker.close()


class _NamedDetector(_HeldDetector):
    """A held detector that notes, per job, which detector (by name) answered which session."""

    def __init__(self, name: str, answered: list[tuple[str, str]]) -> None:
        super().__init__()
        self.name, self.answered = name, answered

    def detect(self, frames: object, vocabulary: object, **_: object) -> list[Detections]:
        self.answered.append((self.name, str(vocabulary)))
        return super().detect(frames, vocabulary)


def test_first_looks_go_first_and_a_busy_detector_answers_quickly() -> None:
    answered: list[tuple[str, str]] = []
    full, quick = _NamedDetector("full", answered), _NamedDetector("quick", answered)
    quick.release = full.release  # one gate for both
    broker = InProcessBroker(full, quick_detector=quick, max_age_s=30.0)  # type: ignore[arg-type]

    def job(session: str, first_look: bool) -> DetectionJob:
        return DetectionJob(
            session, 0, np.zeros((8, 8, 3), np.uint8), (session,), 0.3, 0.2, first_look=first_look
        )

    try:
        broker.submit(job("busy", first_look=False))
        assert full.started.wait(DEADLINE_S)  # the worker holds it until released
        broker.submit(job("refresh-a", first_look=False))
        broker.submit(job("new-1", first_look=True))
        broker.submit(job("refresh-b", first_look=False))
        broker.submit(job("new-2", first_look=True))
        full.release.set()
        _collect(broker, 5)
    finally:
        full.release.set()
        broker.close()
    order = [(name, words.strip("()',")) for name, words in answered]
    assert order == [
        ("full", "busy"),  # alone in the queue when it started
        ("quick", "new-1"),  # first looks in their own order, ahead of the refreshes
        ("quick", "new-2"),
        ("quick", "refresh-a"),  # a refresh with another job waiting behind it: quick too
        ("full", "refresh-b"),  # the last one, nothing behind it: full size
    ]


@pytest.mark.parametrize(("device", "batch"), [("cpu", 1), ("cuda", 4)])
def test_settings_batch_across_sessions_only_on_a_gpu(device: str, batch: int) -> None:
    settings = EngineSettings.for_device(device, max_side=480)
    assert settings.max_batch == batch and settings.max_side == 480


def test_a_batch_of_sessions_is_segmented_together(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches: list[list[tuple[int, int]]] = []
    embed = models.segmenter.embed

    def recording_embed(frames: list[np.ndarray], *args: object, **kwargs: object) -> object:
        batches.append([frame.shape[:2] for frame in frames])
        return embed(frames, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(models.segmenter, "embed", recording_embed)
    engine = Engine(models, _settings(max_batch=2, refresh_s=1000.0))
    engine.start()
    try:
        a, b = Results(), Results()
        first, second = engine.open_session(a, ["cat"]), engine.open_session(b, ["cup"])
        gate = GatedFrame(data.chelsea())
        engine.submit(first, gate)
        assert gate.entered.wait(DEADLINE_S)  # while the worker is held, both sessions get...
        for session in (first, second):
            engine.tap(session, 0.5, 0.5)  # ...something to segment and a frame waiting
        engine.submit(first, data.chelsea())
        engine.submit(second, data.coffee()[::2, ::2])  # another size in the same batch
        gate.release()
        a.wait_for(lambda items: len(items) >= 2)
        b.wait_for(lambda items: len(items) >= 1)
    finally:
        engine.stop()
    assert [(200, 300), (213, 320)] in [sorted(batch) for batch in batches], batches
    assert a.items[-1].frame_size == (213, 320) and b.items[-1].frame_size == (200, 300)


def test_everything_mode_segments_everything_on_keyframes(
    models: Models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`set_everything(True)`: the next keyframe runs segment-everything (point grid, named by
    the words where they overlap, "something" elsewhere) and its masks' boxes become the
    tracked objects; off again, keyframes find the words."""
    import inference.live.broker as broker_module

    calls: list[int] = []
    real = broker_module.segment_everything

    def counted(*args: object, **kwargs: object) -> Detections:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(len(found))
        return found

    monkeypatch.setattr(broker_module, "segment_everything", counted)
    # random weights: open the filters so random masks survive (the defaults would drop them)
    loose = EverythingSettings(points_per_side=4, iou_threshold=0.0, stability_threshold=0.0)
    broker = _RecordingBroker(models.detector, segmenter=models.segmenter, everything=loose)
    engine = Engine(models, _settings(everything=loose), broker)
    engine.start()
    try:
        results = Results()
        session = engine.open_session(results, ["cup"])
        engine.set_everything(session, True)
        assert engine.session_stats(session).everything is True
        with Feeder(engine, session, data.coffee()):
            results.wait_for(lambda items: bool(calls) and any(r.objects for r in items))
            labels = {o.label for r in results.items for o in r.objects}
            assert labels and labels <= {"cup", "something"}, labels
            assert calls[0] >= 1
            engine.set_everything(session, False)
            switched = len(broker.jobs)
            # a words keyframe goes out only once any "everything" one has finished
            wait_until(
                lambda: any(not job.everything for job in broker.jobs[switched:]),
                "a keyframe that finds the words",
            )
            mark = len(calls)
            words_job = next(job for job in broker.jobs[switched:] if not job.everything)
            wait_until(
                lambda: any(job is words_job for job in broker.answered),
                "the words keyframe's answer",
            )
        assert len(calls) == mark, "off again: keyframes only find the words"
        assert engine.session_stats(session).everything is False
    finally:
        engine.stop()


def test_a_session_switches_language_for_badges_and_speech_not_for_the_detector(
    engine: Engine,
) -> None:
    results = Results()
    session = engine.open_session(results, ["cat"])
    assert engine.set_language(session, "fr") == "Français"
    with Feeder(engine, session, data.chelsea()):
        results.wait_for(lambda items: any(r.objects and r.say for r in items))
    assert engine.session_stats(session).language == "fr"
    french = [o for r in results.items for o in r.objects]
    assert french and {o.label for o in french} == {"cat"}, "the detector still hears English"
    assert {o.say for o in french} <= {"un chat", "chat"} and "chat" in french[0].say
    say = next(r.say for r in results.items if r.say)
    assert "chat" in say.text and "cat" not in say.text
    with pytest.raises(LookupError, match="en"):
        engine.set_language(session, "tlh")
    assert engine.session_stats(session).language == "fr"
