"""The announcement policy, replayed over simulated timelines of tracked ids.

Frames come every 0.1 s. Default settings: dwell 0.6 s, cool-down 20 s, at most one utterance
every 3 s, tracking gaps up to 0.3 s still count as continuous.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from inference.labels.announcer import (
    MAX_OBJECTS_PER_UPDATE,
    Announcer,
    AnnouncerSettings,
    SayEvent,
    TrackedObject,
)
from inference.labels.languages import UnknownLanguageError

STEP = 0.1
Scene = Callable[[float], Sequence[TrackedObject]]


def cat(track_id: int = 1, score: float = 0.9) -> TrackedObject:
    return TrackedObject(track_id, "cat", score)


def dog(track_id: int = 2, score: float = 0.9) -> TrackedObject:
    return TrackedObject(track_id, "dog", score)


def play(
    announcer: Announcer, scene: Scene, start: float, end: float
) -> list[tuple[float, SayEvent]]:
    """Feed one update per frame for `start` <= t < `end`; return the events with their times."""
    events = []
    for frame in range(round(start / STEP), round(end / STEP)):
        now = round(frame * STEP, 6)
        event = announcer.update(now, scene(now))
        if event is not None:
            events.append((now, event))
    return events


def during(*spans: tuple[float, float, TrackedObject]) -> Scene:
    """A scene where each object is in view from its start (inclusive) to its end (exclusive)."""

    def scene(now: float) -> list[TrackedObject]:
        return [obj for start, end, obj in spans if start <= now < end]

    return scene


# --------------------------------------------------------------------------- appear


def test_object_is_announced_after_the_dwell_not_before() -> None:
    announcer = Announcer()
    events = play(announcer, during((0.0, 10.0, cat())), 0.0, 10.0)
    assert events == [(0.6, SayEvent("That's a cat!", (1,)))]


def test_object_that_leaves_before_the_dwell_is_never_announced() -> None:
    announcer = Announcer()
    assert play(announcer, during((0.0, 0.5, cat())), 0.0, 5.0) == []
    assert announcer.pending_ids() == ()


def test_dwell_setting_is_honoured() -> None:
    announcer = Announcer(AnnouncerSettings(dwell_s=1.5))
    assert [t for t, _ in play(announcer, during((2.0, 9.0, cat())), 0.0, 9.0)] == [3.5]


def test_zero_dwell_announces_on_first_sight() -> None:
    announcer = Announcer(AnnouncerSettings(dwell_s=0.0))
    assert announcer.update(0.0, [cat()]) == SayEvent("That's a cat!", (1,))


def test_confidence_wording_follows_the_tracked_score() -> None:
    announcer = Announcer()
    events = play(announcer, during((0.0, 5.0, cat(score=0.2))), 0.0, 5.0)
    assert [e.text for _, e in events] == ["Is that a cat?"]


def test_best_score_of_the_sighting_counts() -> None:
    announcer = Announcer()
    announcer.update(0.0, [cat(score=0.9)])
    announcer.update(0.3, [cat(score=0.2)])
    assert announcer.update(0.6, [cat(score=0.2)]) == SayEvent("That's a cat!", (1,))


# --------------------------------------------------------------------------- flicker


def test_short_tracking_gaps_still_count_towards_the_dwell() -> None:
    # Seen every other frame (gaps of 0.2 s, within the 0.3 s tolerance).
    announcer = Announcer()
    scene: Scene = lambda now: [cat()] if round(now / STEP) % 2 == 0 else []  # noqa: E731
    assert [t for t, _ in play(announcer, scene, 0.0, 5.0)] == [0.6]


def test_slow_updates_still_count_as_continuous() -> None:
    # A CPU may segment a session only twice a second: present in every update is continuous.
    announcer = Announcer()
    events = [announcer.update(t, [cat()]) for t in (0.0, 0.5, 1.0, 1.5)]
    assert events[:2] == [None, None] and events[2] == SayEvent("That's a cat!", (1,))


def test_a_long_gap_restarts_the_dwell() -> None:
    announcer = Announcer()
    scene = during((0.0, 0.5, cat()), (1.0, 5.0, cat()))  # 0.6 s gap
    assert [t for t, _ in play(announcer, scene, 0.0, 5.0)] == [1.6]


def test_flicker_is_not_announced_again() -> None:
    announcer = Announcer()
    scene = during(
        (0.0, 2.0, cat()),
        (4.0, 6.0, cat()),  # back after 2 s
        (6.5, 7.0, cat()),
        (7.5, 15.0, cat()),
    )
    events = play(announcer, scene, 0.0, 15.0)
    assert events == [(0.6, SayEvent("That's a cat!", (1,)))]


def test_object_in_view_is_never_repeated() -> None:
    announcer = Announcer()
    assert len(play(announcer, during((0.0, 60.0, cat())), 0.0, 60.0)) == 1


# --------------------------------------------------------------------------- cool-down


def test_object_reappearing_after_the_cooldown_is_announced_again() -> None:
    announcer = Announcer()
    # Last seen at 1.9; the cool-down (20 s) ends at 21.9. Back at 25.
    scene = during((0.0, 2.0, cat()), (25.0, 30.0, cat()))
    events = play(announcer, scene, 0.0, 30.0)
    assert [(t, e.ids) for t, e in events] == [(0.6, (1,)), (25.6, (1,))]


def test_cooldown_counts_from_the_last_sighting() -> None:
    # Announced at 0.6 but in view until 9.9: back at 25 is still within 20 s of 9.9.
    announcer = Announcer()
    scene = during((0.0, 10.0, cat()), (25.0, 40.0, cat()))
    assert [t for t, _ in play(announcer, scene, 0.0, 40.0)] == [0.6]


def test_object_back_within_the_cooldown_keeps_it_quiet() -> None:
    # Back at 21 (within 20 s of 1.9) and staying: it is covered, and stays quiet as long as it
    # stays, even after the original cool-down would have ended.
    announcer = Announcer()
    scene = during((0.0, 2.0, cat()), (21.0, 60.0, cat()))
    assert [t for t, _ in play(announcer, scene, 0.0, 60.0)] == [0.6]


def test_same_label_under_a_new_id_is_not_repeated_within_the_cooldown() -> None:
    # Trackers give a new id after an occlusion: the same cat must not be announced again.
    announcer = Announcer()
    scene = during((0.0, 2.0, cat(1)), (3.0, 10.0, cat(7)))
    assert [(t, e.ids) for t, e in play(announcer, scene, 0.0, 10.0)] == [(0.6, (1,))]


def test_same_label_under_a_new_id_after_the_cooldown_is_announced() -> None:
    announcer = Announcer()
    scene = during((0.0, 2.0, cat(1)), (23.0, 30.0, cat(9)))
    assert [(t, e.ids) for t, e in play(announcer, scene, 0.0, 30.0)] == [(0.6, (1,)), (23.6, (9,))]


def test_second_object_of_an_announced_kind_stays_quiet() -> None:
    # A second cat joins an announced one and stays after the first has gone.
    announcer = Announcer()
    scene = during((0.0, 30.0, cat(1)), (5.0, 60.0, cat(2)))
    assert [(t, e.ids) for t, e in play(announcer, scene, 0.0, 60.0)] == [(0.6, (1,))]


def test_cooldown_is_by_spoken_name() -> None:
    # "cell phone" and "phone" are the same thing to a child.
    announcer = Announcer()
    scene = during(
        (0.0, 2.0, TrackedObject(1, "cell phone", 0.9)),
        (3.0, 8.0, TrackedObject(2, "phone", 0.9)),
    )
    assert [(t, e.text) for t, e in play(announcer, scene, 0.0, 8.0)] == [(0.6, "That's a phone!")]


def test_a_new_label_on_the_same_id_is_a_new_sighting() -> None:
    # The detector relabels track 1 from "cat" to "dog" on a keyframe.
    announcer = Announcer()
    scene = during((0.0, 2.0, cat(1)), (2.0, 8.0, TrackedObject(1, "dog", 0.9)))
    events = play(announcer, scene, 0.0, 8.0)
    assert [(t, e.text) for t, e in events] == [(0.6, "That's a cat!"), (3.6, "That's a dog!")]


# --------------------------------------------------------------------------- together and gaps


def test_objects_arriving_together_share_one_sentence() -> None:
    announcer = Announcer()
    scene = during((0.0, 5.0, cat(1)), (0.0, 5.0, dog(2)))
    assert play(announcer, scene, 0.0, 5.0) == [(0.6, SayEvent("I see a cat and a dog!", (1, 2)))]


def test_two_of_a_kind_are_counted() -> None:
    announcer = Announcer()
    scene = during((0.0, 5.0, cat(4)), (0.0, 5.0, cat(3)))
    assert play(announcer, scene, 0.0, 5.0) == [(0.6, SayEvent("I see two cats!", (3, 4)))]


def test_minimum_gap_batches_objects_that_become_ready_meanwhile() -> None:
    announcer = Announcer()
    bird = TrackedObject(3, "bird", 0.9)
    scene = during((0.0, 10.0, cat(1)), (1.0, 10.0, dog(2)), (2.0, 10.0, bird))
    events = play(announcer, scene, 0.0, 10.0)
    # The cat at 0.6; the dog (ready at 1.6) and the bird (ready at 2.6) wait for 3.6.
    assert events == [
        (0.6, SayEvent("That's a cat!", (1,))),
        (3.6, SayEvent("I see a dog and a bird!", (2, 3))),
    ]


def test_minimum_gap_is_respected_over_a_busy_scene() -> None:
    announcer = Announcer()
    labels = ["cat", "dog", "cup", "ball", "book", "apple", "chair", "kite", "clock", "spoon"]

    def scene(now: float) -> list[TrackedObject]:
        # A new kind of object arrives every 0.7 s and stays.
        return [TrackedObject(i, label, 0.9) for i, label in enumerate(labels) if now >= i * 0.7]

    events = play(announcer, scene, 0.0, 30.0)
    times = [t for t, _ in events]
    assert all(later - earlier >= 3.0 - 1e-9 for earlier, later in itertools.pairwise(times))
    announced = [i for _, event in events for i in event.ids]
    assert sorted(announced) == list(range(len(labels)))  # everyone, once


def test_object_that_leaves_before_its_turn_is_not_announced_late() -> None:
    announcer = Announcer()
    scene = during((0.0, 10.0, cat(1)), (1.0, 2.0, dog(2)))  # dog ready at 1.6, gone at 2.0
    assert [(t, e.ids) for t, e in play(announcer, scene, 0.0, 10.0)] == [(0.6, (1,))]


def test_many_kinds_at_once_make_one_bounded_sentence() -> None:
    announcer = Announcer()
    labels = ["cat", "dog", "cup", "ball", "book", "apple"]
    scene = during(*((0.0, 5.0, TrackedObject(i, label, 0.9)) for i, label in enumerate(labels)))
    events = play(announcer, scene, 0.0, 5.0)
    assert len(events) == 1
    _, event = events[0]
    assert event.ids == tuple(range(len(labels)))
    assert event.text == "I see a cat, a dog, a cup and more!"


# --------------------------------------------------------------------------- vocabulary change


def test_new_vocabulary_resets_the_history() -> None:
    announcer = Announcer()
    assert announcer.set_vocabulary(["cat", "cup"]) is True
    scene = during((0.0, 20.0, cat(1)))
    assert [t for t, _ in play(announcer, scene, 0.0, 5.0)] == [0.6]
    assert announcer.set_vocabulary(["Cup", " cat "]) is False  # same words: no reset
    assert play(announcer, scene, 5.0, 8.0) == []
    assert announcer.set_vocabulary("animals, cat") is True
    assert announcer.vocabulary == ("animals, cat",)
    # The cat still in view is announced afresh, after the dwell.
    assert play(announcer, scene, 8.0, 20.0) == [(8.6, SayEvent("That's a cat!", (1,)))]


def test_reset_keeps_the_minimum_gap() -> None:
    announcer = Announcer(AnnouncerSettings(dwell_s=0.0))
    assert announcer.update(0.0, [cat()]) is not None
    announcer.reset()
    assert announcer.update(1.0, [cat()]) is None  # ready, but too soon after the last utterance
    assert announcer.update(3.0, [cat()]) == SayEvent("That's a cat!", (1,))


# --------------------------------------------------------------------------- robustness


def test_sayless_labels_are_never_announced() -> None:
    announcer = Announcer()
    scene = during(
        (0.0, 5.0, TrackedObject(1, "<script>alert(1)</script>", 0.9)),
        (0.0, 5.0, TrackedObject(2, "", 0.9)),
        (0.0, 5.0, TrackedObject(3, "🐱", 0.9)),
    )
    assert play(announcer, scene, 0.0, 5.0) == []


def test_hostile_labels_give_bounded_text() -> None:
    announcer = Announcer()
    scene = during(
        (0.0, 5.0, TrackedObject(1, "<b>cat</b>" + "x" * 10_000, 0.9)),
        (0.0, 5.0, TrackedObject(2, "dog\x00\x1b[31m", 0.9)),
    )
    events = play(announcer, scene, 0.0, 5.0)
    assert len(events) == 1
    text = events[0][1].text
    assert len(text) <= 200
    assert "<" not in text and "\x00" not in text and "\x1b" not in text


def test_too_many_objects_are_bounded() -> None:
    announcer = Announcer(AnnouncerSettings(dwell_s=0.0))
    crowd = [TrackedObject(i, "cat", 0.9) for i in range(MAX_OBJECTS_PER_UPDATE * 4)]
    event = announcer.update(0.0, crowd)
    assert event is not None
    assert len(event.ids) == MAX_OBJECTS_PER_UPDATE
    assert event.text == f"I see {MAX_OBJECTS_PER_UPDATE} cats!"


def test_duplicate_and_odd_ids_are_tolerated() -> None:
    announcer = Announcer(AnnouncerSettings(dwell_s=0.0))
    objects = [cat(1), cat(1), TrackedObject(True, "dog", 0.9), TrackedObject("x", "cup", 0.9)]  # type: ignore[arg-type]
    assert announcer.update(0.0, objects) == SayEvent("That's a cat!", (1,))


def test_numpy_ids_and_scores_are_accepted() -> None:
    announcer = Announcer(AnnouncerSettings(dwell_s=0.0))
    event = announcer.update(0.0, [TrackedObject(np.int64(5), "cat", np.float32(0.9))])  # type: ignore[arg-type]
    assert event == SayEvent("That's a cat!", (5,))
    assert type(event.ids[0]) is int  # JSON-serialisable


def test_clock_going_backwards_does_not_break_the_policy() -> None:
    announcer = Announcer()
    announcer.update(10.0, [cat()])
    assert announcer.update(5.0, [cat()]) is None  # treated as 10.0
    assert announcer.update(10.3, [cat()]) is None
    assert announcer.update(10.6, [cat()]) == SayEvent("That's a cat!", (1,))


@pytest.mark.parametrize("now", [math.nan, math.inf, -math.inf])
def test_non_finite_time_is_rejected(now: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        Announcer().update(now, [cat()])


def test_memory_stays_bounded() -> None:
    # Ten thousand short-lived ids over a long session leave nothing behind.
    announcer = Announcer()
    for step in range(10_000):
        now = step * 0.5
        announcer.update(now, [TrackedObject(step, "cat", 0.9)])
    announcer.update(10_000.0, [])
    assert announcer.pending_ids() == ()
    assert len(announcer._sightings) == 0
    assert len(announcer._quiet_names) == 0


@pytest.mark.parametrize(
    "settings",
    [
        {"dwell_s": -1.0},
        {"cooldown_s": math.nan},
        {"min_gap_s": math.inf},
        {"gap_tolerance_s": -0.1},
    ],
)
def test_bad_settings_are_rejected(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        AnnouncerSettings(**settings)  # type: ignore[arg-type]


def test_settings_must_be_numbers() -> None:
    with pytest.raises(TypeError):
        AnnouncerSettings(dwell_s="0.6")  # type: ignore[arg-type]


def test_unknown_language_fails_at_construction() -> None:
    with pytest.raises(UnknownLanguageError):
        Announcer(AnnouncerSettings(language="xx"))


def test_french_announcer() -> None:
    announcer = Announcer(AnnouncerSettings(language="fr"))
    scene = during((0.0, 5.0, cat(1)), (0.0, 5.0, TrackedObject(2, "apple", 0.9)))
    assert play(announcer, scene, 0.0, 5.0) == [
        (0.6, SayEvent("Je vois un chat et une pomme\u00a0!", (1, 2)))
    ]
