"""The snapshot library on disk (SQLite + JPEG files) and taking a snapshot of a session: photos
belong to a room's teacher (another teacher's are out of reach), each room has a budget that
reconnecting does not reset, old photos are deleted after the retention period (an injected
clock), and a phone outside a room stores nothing."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from inference.live.results import FrameResult
from stream.photos.retention import RetentionSweeper
from stream.photos.snapshots import (
    DAY_S,
    EVERY_TEACHER,
    RoomBudget,
    SnapshotPolicy,
    SnapshotRefused,
    SnapshotStore,
    default_snapshots_dir,
    labels_of,
)
from stream.photos.taking import SnapshotTaker
from stream.webrtc.tracks import SharedFrame
from tests.support.fake_engine import _result
from tests.support.rtc_client import VIDEO_TIME_BASE, photo

CAT = [{"id": 1, "label": "cat", "box": [0.1, 0.2, 0.3, 0.4]}]


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_a_fresh_store_creates_nothing_until_a_save(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    everyone = EVERY_TEACHER
    assert store.list(teacher=everyone) == [] and store.get(1, teacher=everyone) is None
    assert store.image(1, teacher=everyone) is None and store.rooms(teacher=everyone) == []
    assert store.usage().count == 0 and not store.delete(1, teacher=everyone)
    assert store.delete_all() == 0 and store.delete_older_than(0) == 0
    assert not (tmp_path / "snaps").exists()
    store.save(b"jpeg", session="s1", room=None, objects=CAT)
    assert [p.name for p in _files(tmp_path / "snaps") if p.suffix == ".jpg"] != []


def test_save_list_get_delete(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    first = store.save(b"one", session="s1", room="ABCDEF", teacher="lee", objects=CAT)
    second = store.save(b"second", session="s2", room="ABCDEF", teacher="lee", objects=[])
    assert first.labels == ["cat"] and second.labels == []
    assert [s.id for s in store.list(teacher="lee")] == [second.id, first.id]  # newest first
    assert [s.id for s in store.list(limit=1, offset=1, teacher="lee")] == [first.id]
    got = store.get(first.id, teacher="lee")
    assert got is not None and got.objects == CAT and got.room == "ABCDEF" and got.bytes == 3
    assert got.teacher == "lee"
    assert store.image(first.id, teacher="lee") == b"one"
    assert store.usage().count == 2 and store.usage().bytes == 3 + 6

    image = store.images / first.image
    assert image.is_file()
    assert store.delete(first.id, teacher="lee") and not image.exists()
    assert store.get(first.id, teacher="lee") is None
    assert not store.delete(first.id, teacher="lee")
    assert store.delete_all() == 1
    assert [p for p in _files(tmp_path) if p.suffix == ".jpg"] == []


def test_caps_refuse_rather_than_delete(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path, max_count=2, max_bytes=10)
    store.save(b"1234", session="s", room=None, objects=[])
    with pytest.raises(SnapshotRefused) as too_big:
        store.save(b"1234567", session="s", room=None, objects=[])
    assert too_big.value.code == "library_full"
    store.save(b"12", session="s", room=None, objects=[])
    with pytest.raises(SnapshotRefused) as too_many:
        store.save(b"1", session="s", room=None, objects=[])
    assert too_many.value.code == "library_full"
    assert store.usage().count == 2
    assert len([p for p in _files(tmp_path) if p.suffix == ".jpg"]) == 2  # nothing left behind


def test_labels_are_distinct_in_order() -> None:
    objects: list[dict[str, Any]] = [{"label": "cup"}, {"label": "cat"}, {"label": "cup"}, {}]
    assert labels_of(objects) == ["cup", "cat"]


def test_default_dir_follows_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VISIONANYTHING_DATA_DIR", str(tmp_path))
    assert default_snapshots_dir() == tmp_path / "snapshots"


@dataclass
class _Settings:
    output_height: int | None = None


@dataclass
class _Session:
    id: str
    room: str | None
    latest_frame: SharedFrame | None
    latest: FrameResult | None
    settings: _Settings


def _teacher(name: str | None) -> Any:
    """A room lookup that names `name` as every room's teacher (None: no such room)."""

    async def teacher_of(_code: str, _session: str) -> str | None:
        return name

    return teacher_of


def _session(with_result: bool = True) -> _Session:
    image = photo("chelsea")
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts, frame.time_base = 0, VIDEO_TIME_BASE
    result = _result("s1", 1, image, None) if with_result else None
    return _Session("s1", "ROOM42", SharedFrame(frame), result, _Settings())


def test_the_taker_draws_the_result_and_rate_limits(tmp_path: Path) -> None:
    now = [0.0]
    store = SnapshotStore(tmp_path)
    taker = SnapshotTaker(
        store, per_session_per_minute=2, clock=lambda: now[0], teacher_of=_teacher("lee")
    )
    session = _session()

    async def press() -> Any:
        return await taker.take(session)

    snapshot = asyncio.run(press())
    assert snapshot.labels == ["cat"] and snapshot.objects[0]["box"] == [0.25, 0.25, 0.75, 0.75]
    assert snapshot.room == "ROOM42" and snapshot.session == "s1" and snapshot.teacher == "lee"
    jpeg = store.image(snapshot.id, teacher="lee")
    assert jpeg is not None
    picture = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"))
    assert picture.shape == (240, 320, 3)
    plain = photo("chelsea")
    # the overlay is drawn: the picture differs from the plain photo inside the cat's box
    inside = np.abs(picture[70:170, 90:230].astype(int) - plain[70:170, 90:230]).mean()
    assert inside > 8

    asyncio.run(press())
    with pytest.raises(SnapshotRefused) as limited:
        asyncio.run(press())
    assert limited.value.code == "snapshot_limit"
    now[0] = 61.0
    asyncio.run(press())
    assert store.usage().count == 3


def test_no_picture_no_snapshot(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "lib")
    session = _session()
    session.latest_frame = None
    with pytest.raises(SnapshotRefused) as refused:
        asyncio.run(SnapshotTaker(store, teacher_of=_teacher("lee")).take(session))
    assert refused.value.code == "no_frame"
    assert not (tmp_path / "lib").exists()


def test_a_teacher_reaches_only_their_own_photos(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    lee = store.save(b"lee's", session="s1", room="AAAAAA", teacher="lee", objects=CAT)
    kim = store.save(b"kim's", session="s2", room="BBBBBB", teacher="kim", objects=[])
    # kim trying lee's photo: every way in answers "no such photo"
    assert [s.id for s in store.list(teacher="kim")] == [kim.id]
    assert store.list(teacher="kim", room="AAAAAA") == []
    assert store.get(lee.id, teacher="kim") is None
    assert store.image(lee.id, teacher="kim") is None
    assert not store.delete(lee.id, teacher="kim")
    assert store.delete_room("AAAAAA", teacher="kim") == 0
    assert store.usage(teacher="kim").count == 1
    assert [(r.room, r.count) for r in store.rooms(teacher="kim")] == [("BBBBBB", 1)]
    assert store.image(lee.id, teacher="lee") == b"lee's"  # still there, untouched
    # a teacher called like no one ("") or a name that looks like SQL reaches nothing
    assert store.list(teacher="") == [] and store.list(teacher="' OR 1=1 --") == []
    # an admin reaches all
    assert {s.id for s in store.list(teacher=EVERY_TEACHER)} == {lee.id, kim.id}
    assert {r.teacher for r in store.rooms(teacher=EVERY_TEACHER)} == {"lee", "kim"}
    assert store.delete_room("AAAAAA", teacher="lee") == 1
    assert store.usage().count == 1


def test_a_room_budget_survives_reconnecting_phones(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = SnapshotStore(tmp_path, clock=lambda: now[0])
    budget = RoomBudget(per_hour=3, max_kept=5)

    def press(session: str, room: str = "AAAAAA") -> Any:
        return store.save(
            b"x", session=session, room=room, teacher="lee", objects=[], budget=budget
        )

    for n in range(3):  # a new session each time: a phone that reconnects between presses
        press(f"s{n}")
        now[0] += 60
    with pytest.raises(SnapshotRefused) as hourly:
        press("s99")
    assert hourly.value.code == "room_limit"
    press("s1", room="BBBBBB")  # another room has its own budget
    now[0] += 3600  # an hour on: the hourly budget is back, the kept photos count on
    press("s100")
    press("s101")
    with pytest.raises(SnapshotRefused) as kept:
        press("s102")
    assert kept.value.code == "room_limit" and "delete" in str(kept.value)
    assert store.usage(room="AAAAAA").count == 5
    first = store.list(teacher="lee", room="AAAAAA")[-1]
    assert store.delete(first.id, teacher="lee")  # the teacher makes room
    press("s103")


def test_old_photos_are_deleted_by_the_sweeper(tmp_path: Path) -> None:
    now = [10 * DAY_S]
    store = SnapshotStore(tmp_path, clock=lambda: now[0])
    old = store.save(b"old", session="s1", room="AAAAAA", teacher="lee", objects=[])
    now[0] += 20 * DAY_S
    young = store.save(b"young", session="s2", room="AAAAAA", teacher="kim", objects=[])
    old_file = store.images / old.image
    policy = SnapshotPolicy(retention_days=30, sweep_every_s=3600)
    slept: list[float] = []
    young_gone_at: list[float] = []

    async def sleep(seconds: float) -> None:  # the sweeper's wait: the clock moves instead
        slept.append(seconds)
        if not young_gone_at and store.get(young.id, teacher="kim") is None:
            young_gone_at.append(now[0])
        now[0] += seconds
        if now[0] > 61 * DAY_S:
            raise asyncio.CancelledError

    sweeper = RetentionSweeper(store, policy, sleep=sleep)
    assert asyncio.run(sweeper.sweep()) == 0  # 20 days old: kept
    now[0] += 10 * DAY_S + 3600  # 30 days and an hour
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(sweeper.run())
    assert sweeper.deleted == 2 and set(slept) == {3600}
    assert store.get(old.id, teacher="lee") is None and not old_file.exists()
    # the young photo (taken on day 30) lived until it was 30 days old too, and no longer
    assert young_gone_at and 60 * DAY_S < young_gone_at[0] <= 60 * DAY_S + 3600
    assert store.usage().count == 0 and _files(store.images) == []


def test_retention_must_be_sensible() -> None:
    for days in (0, -1, 4000):
        with pytest.raises(ValueError, match="retention"):
            SnapshotPolicy(retention_days=days)
    assert SnapshotPolicy().retention_s == 30 * DAY_S


def test_a_library_from_before_rooms_had_teachers_is_admin_only(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "snapshots.sqlite3")
    old.execute(
        "CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,"
        " session TEXT NOT NULL, room TEXT, labels TEXT NOT NULL, objects TEXT NOT NULL,"
        " image TEXT NOT NULL UNIQUE, bytes INTEGER NOT NULL)"
    )
    old.execute(
        "INSERT INTO snapshots VALUES (1, '2026-01-01T00:00:00+00:00', 's1', 'AAAAAA', '[]',"
        " '[]', 'a.jpg', 1)"
    )
    old.commit()
    old.close()
    store = SnapshotStore(tmp_path)
    assert store.list(teacher="lee") == []
    (only,) = store.list(teacher=EVERY_TEACHER)
    assert only.id == 1 and only.teacher is None
    store.save(b"x", session="s2", room="AAAAAA", teacher="lee", objects=[])
    assert len(store.list(teacher="lee")) == 1


def test_outside_a_room_or_in_an_ended_room_nothing_is_stored(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "lib")
    outside = _session()
    outside.room = None
    with pytest.raises(SnapshotRefused) as refused:
        asyncio.run(SnapshotTaker(store, teacher_of=_teacher("lee")).take(outside))
    assert refused.value.code == "not_in_room"
    with pytest.raises(SnapshotRefused) as ended:
        asyncio.run(SnapshotTaker(store, teacher_of=_teacher(None)).take(_session()))
    assert ended.value.code == "not_in_room"
    assert not (tmp_path / "lib").exists()


def test_serve_takes_the_retention_in_days() -> None:
    import argparse

    from stream.app import ServerConfig
    from visionanything.commands.serve_options import add_photo_options, with_photo_options

    parser = argparse.ArgumentParser()
    add_photo_options(parser)
    assert parser.parse_args([]).photo_retention_days == 30
    config = with_photo_options(ServerConfig(), parser.parse_args(["--photo-retention-days", "7"]))
    assert config.photo_library.policy.retention_s == 7 * DAY_S
    assert config.photo_library.policy.room == RoomBudget()  # the rest as it was
    with pytest.raises(ValueError, match="retention"):
        with_photo_options(ServerConfig(), parser.parse_args(["--photo-retention-days", "0"]))
