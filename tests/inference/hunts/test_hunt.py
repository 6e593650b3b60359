"""A hunt rewards a thing seen steadily, never a one-frame flicker; skip, stop and order work.
Time is the frames' own clock: no sleeping, any machine."""

from __future__ import annotations

import random

import pytest

from inference.hunts.hunt import MAX_HUNT_WORDS, Hunt, HuntError, hunt_words
from inference.hunts.steadiness import SteadinessSettings, SteadySighting
from inference.live.results import SeenObject

THRESHOLD = 0.35  # the lighting's box threshold in these tests


def seen(label: str, score: float = 0.8, id: int = 7) -> SeenObject:
    return SeenObject(
        id=id, label=label, say=f"a {label}", score=score, box=(0, 0, 1, 1), colour="#ff0000"
    )


def feed(sighting: SteadySighting, frames: list[tuple[float, list[SeenObject]]]) -> list[float]:
    """The times at which `sighting` said found."""
    return [t for t, objects in frames if sighting.observe(t, objects, THRESHOLD) is not None]


def test_a_thing_seen_for_a_second_is_found_on_the_frame_that_completes_the_second() -> None:
    sighting = SteadySighting("cup")
    frames = [(i * 0.2, [seen("cup")]) for i in range(8)]  # 5 fps
    assert feed(sighting, frames)[0] == pytest.approx(1.0)


def test_a_one_frame_flicker_is_never_found_however_long_we_watch() -> None:
    sighting = SteadySighting("cup")
    frames = [(i * 0.2, [seen("cup")] if i == 3 else []) for i in range(30)]
    assert feed(sighting, frames) == []


def test_flickering_on_and_off_with_long_gaps_is_not_found() -> None:
    sighting = SteadySighting("cup", SteadinessSettings(max_gap_s=0.5))
    frames = [(i * 0.2, [seen("cup")] if i % 4 == 0 else []) for i in range(40)]  # every 0.8 s
    assert feed(sighting, frames) == []


def test_a_short_gap_does_not_restart_the_count_but_a_long_one_does() -> None:
    short = SteadySighting("cup")
    frames = [(t, [seen("cup")]) for t in (0.0, 0.2, 0.4, 0.9, 1.0)]  # 0.5 s gap < 0.6
    assert feed(short, frames) == [1.0]
    long = SteadySighting("cup")
    frames = [(t, [seen("cup")]) for t in (0.0, 0.2, 0.4, 1.2, 1.4, 1.6, 2.0, 2.2)]
    assert feed(long, frames) == [2.2], "counting restarted at 1.2 s"


def test_a_slow_server_still_needs_several_frames() -> None:
    sighting = SteadySighting("cup")  # min_frames 3
    assert feed(sighting, [(0.0, [seen("cup")]), (1.1, [seen("cup")])]) == []  # gap resets too
    slow = SteadySighting("cup", SteadinessSettings(max_gap_s=1.0, min_frames=3))
    assert feed(slow, [(0.0, [seen("cup")]), (1.0, [seen("cup")])]) == []
    assert slow.observe(1.5, [seen("cup")], THRESHOLD) is not None


def test_scores_below_the_lighting_threshold_or_the_floor_never_count() -> None:
    sighting = SteadySighting("cup")
    frames = [(i * 0.2, [seen("cup", score=0.34)]) for i in range(20)]
    assert feed(sighting, frames) == []
    dim = SteadySighting("cup")  # dim light lowers the box threshold, the floor stays
    assert [t for t, o in frames if dim.observe(t, o, 0.2) is not None]
    floor = SteadySighting("cup")
    low = [(i * 0.2, [seen("cup", score=0.25)]) for i in range(20)]
    assert [t for t, o in low if floor.observe(t, o, 0.1) is not None] == []


def test_other_words_do_not_count_and_the_best_match_is_named() -> None:
    sighting = SteadySighting("cup")
    assert feed(sighting, [(i * 0.2, [seen("cat")]) for i in range(10)]) == []
    best = None
    for i in range(6):
        best = (
            sighting.observe(i * 0.2, [seen("cup", 0.5, id=1), seen("cup", 0.9, id=2)], THRESHOLD)
            or best
        )
    assert best is not None and best.id == 2


def test_a_hunt_moves_word_by_word_with_skip_and_finishes() -> None:
    hunt = Hunt(("cup", "banana", "cat"))
    assert hunt.current == "cup"
    found = [hunt.observe(i * 0.2, [seen("cup")], THRESHOLD) for i in range(6)]
    hit = [f for f in found if f is not None]
    assert len(hit) == 1 and hit[0].word == "cup" and hit[0].object_id == 7
    assert hunt.current == "banana"
    # the banana's count starts fresh: an old cup sighting does not carry over
    assert hunt.observe(1.2, [seen("banana")], THRESHOLD) is None
    assert hunt.skip() == "banana" and hunt.current == "cat"
    for i in range(6):
        hunt.observe(2.0 + i * 0.2, [seen("cat")], THRESHOLD)
    progress = hunt.progress
    assert progress.finished and progress.current is None
    assert progress.found == ("cup", "cat") and progress.skipped == ("banana",)
    assert progress.position == 3 and hunt.skip() is None


def test_a_stopped_hunt_finds_nothing_more() -> None:
    hunt = Hunt(("cup",))
    hunt.stop()
    assert all(hunt.observe(i * 0.2, [seen("cup")], THRESHOLD) is None for i in range(10))
    assert hunt.progress.stopped and not hunt.progress.finished and hunt.current is None


def test_hunt_words_clean_deduplicate_order_and_refuse() -> None:
    assert hunt_words([" Cup ", "cup", "teddy  bear", ""], "list") == ("cup", "teddy bear")
    words = [f"w{i}" for i in range(10)]
    shuffled = hunt_words(words, "random", random.Random(3))
    assert sorted(shuffled) == sorted(words) and list(shuffled) != words
    with pytest.raises(HuntError, match="at least one"):
        hunt_words([" ", ""], "list")
    with pytest.raises(HuntError, match="at most"):
        hunt_words([f"w{i}" for i in range(MAX_HUNT_WORDS + 1)], "list")
    with pytest.raises(HuntError, match="order"):
        hunt_words(["cup"], "backwards")  # type: ignore[arg-type]


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="min_frames"):
        SteadinessSettings(min_frames=1)
    with pytest.raises(ValueError, match="max_gap_s"):
        SteadinessSettings(max_gap_s=2.0)
