"""The snapshot library on disk (SQLite + JPEG files) and taking a snapshot of a session."""

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

from stream.snapshots import (
    SnapshotRefused,
    SnapshotStore,
    SnapshotTaker,
    default_snapshots_dir,
    labels_of,
)
from stream.tracks import SharedFrame
from tests.stream.fake_engine import FakeResult, _result
from tests.stream.rtc_client import VIDEO_TIME_BASE, photo

CAT = [{"id": 1, "label": "cat", "box": [0.1, 0.2, 0.3, 0.4]}]


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def test_a_fresh_store_creates_nothing_until_a_save(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path / "snaps")
    assert store.list() == [] and store.get(1) is None and store.image(1) is None
    assert store.usage().count == 0 and not store.delete(1) and store.delete_all() == 0
    assert not (tmp_path / "snaps").exists()
    store.save(b"jpeg", session="s1", room=None, objects=CAT)
    assert [p.name for p in _files(tmp_path / "snaps") if p.suffix == ".jpg"] != []


def test_save_list_get_delete(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    first = store.save(b"one", session="s1", room="ABCDEF", objects=CAT)
    second = store.save(b"second", session="s2", room=None, objects=[])
    assert first.labels == ["cat"] and second.labels == []
    assert [s.id for s in store.list()] == [second.id, first.id]  # newest first
    assert [s.id for s in store.list(limit=1, offset=1)] == [first.id]
    got = store.get(first.id)
    assert got is not None and got.objects == CAT and got.room == "ABCDEF" and got.bytes == 3
    assert store.image(first.id) == b"one"
    assert store.usage().count == 2 and store.usage().bytes == 3 + 6

    image = store.images / first.image
    assert image.is_file()
    assert store.delete(first.id) and not image.exists()
    assert store.get(first.id) is None and not store.delete(first.id)
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
    latest: FakeResult | None
    settings: _Settings


def _session(with_result: bool = True) -> _Session:
    image = photo("chelsea")
    frame = av.VideoFrame.from_ndarray(image, format="rgb24")
    frame.pts, frame.time_base = 0, VIDEO_TIME_BASE
    result = _result("s1", 1, image, None) if with_result else None
    return _Session("s1", "ROOM42", SharedFrame(frame), result, _Settings())


def test_the_taker_draws_the_result_and_rate_limits(tmp_path: Path) -> None:
    now = [0.0]
    store = SnapshotStore(tmp_path)
    taker = SnapshotTaker(store, per_session_per_minute=2, clock=lambda: now[0])
    session = _session()

    async def press() -> Any:
        return await taker.take(session)

    snapshot = asyncio.run(press())
    assert snapshot.labels == ["cat"] and snapshot.objects[0]["box"] == [0.25, 0.25, 0.75, 0.75]
    assert snapshot.room == "ROOM42" and snapshot.session == "s1"
    jpeg = store.image(snapshot.id)
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
        asyncio.run(SnapshotTaker(store).take(session))
    assert refused.value.code == "no_frame"
    assert not (tmp_path / "lib").exists()
