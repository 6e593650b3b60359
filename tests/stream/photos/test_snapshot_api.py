"""Snapshots end to end with a real phone (aiortc over loopback, the fake engine): a press saves
the annotated picture to the library, a teacher lists, fetches and deletes it; the projector's
teacher-only snapshot; the admin page; and streaming without a press stores nothing."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import tempfile
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from PIL import Image

from inference.core.directories import DATA_DIR_ENV
from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.teachers import TeacherStore
from stream.edge.limits import ServerLimits
from stream.photos.library_settings import PhotoLibrarySettings
from stream.photos.snapshot_api import SNAPSHOTS_KEY, install_snapshots
from stream.photos.snapshots import RoomBudget, SnapshotPolicy, SnapshotStore
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, photo, serving
from tests.support.teachers import FAST

PASSWORDS = {"lee": "correct horse", "kim": "battery staple", "ana": "purple tractor"}


async def _login(base: str, name: str | None) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # 127.0.0.1
    if name is not None:
        body = {"name": name, "password": PASSWORDS[name]}
        async with http.post(f"{base}/api/login", json=body) as response:
            assert response.status == 200, await response.text()
    return http


async def _json(response: aiohttp.ClientResponse) -> tuple[int, Any]:
    async with response:
        return response.status, await response.json()


def _library(app: web.Application, store: SnapshotStore, web_dir: Path | None = None) -> None:
    """Give `app` a snapshot library in `store` (create_app may already install one)."""
    if SNAPSHOTS_KEY in app:
        app[SNAPSHOTS_KEY].store = store
    else:
        install_snapshots(app, store, web_dir)


async def _room(http: aiohttp.ClientSession, base: str) -> str:
    """A new room of the logged-in teacher; its code."""
    status, room = await _json(await http.post(f"{base}/api/rooms", json={}))
    assert status == 201, room
    code: str = room["code"]
    return code


def _run(
    test: Callable[[str, SnapshotStore], Awaitable[None]],
    tmp_path: Path,
    policy: SnapshotPolicy | None = None,
) -> None:
    """`test` against a server with teachers lee (admin), kim and ana (not admins)."""
    teachers = TeacherStore(tmp_path / "teachers.json", hasher=FAST)
    teachers.add("lee", PASSWORDS["lee"], admin=True)
    teachers.add("kim", PASSWORDS["kim"])
    teachers.add("ana", PASSWORDS["ana"])

    async def main() -> None:
        config = ServerConfig(
            limits=ServerLimits(max_sessions=3),
            classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"),
            photo_library=PhotoLibrarySettings(policy=policy or SnapshotPolicy()),
        )
        app = create_app(config, engine=FakeEngine(delay_s=0.1))
        store = SnapshotStore(tmp_path / "data" / "snapshots")
        _library(app, store)
        assert app[SNAPSHOTS_KEY].policy == config.photo_library.policy
        async with serving(app) as base:
            await test(base, store)

    asyncio.run(asyncio.wait_for(main(), 180))


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_a_press_in_a_room_saves_to_that_teachers_library(tmp_path: Path) -> None:
    async def lesson(base: str, store: SnapshotStore) -> None:
        phone = Client(photo("chelsea"))
        ana, kim, lee, stranger = [await _login(base, n) for n in ("ana", "kim", "lee", None)]
        async with ana, kim, lee, stranger:
            code = await _room(ana, base)
            try:
                await phone.connect(stranger, base, room=code)
                await _admit(ana, base, code, phone.session)
                await phone.wait_for("objects", timeout=60)
                phone.send({"type": "snapshot"})
                saved = await phone.wait_for("snapshot_saved", timeout=60)
                snapshot_id = saved["id"]

                status, page = await _json(await ana.get(f"{base}/api/snapshots"))
                assert status == 200 and page["total"] == 1 and page["next"] is None
                (item,) = page["snapshots"]
                assert item["id"] == snapshot_id and item["labels"] == ["cat"]
                assert item["room"] == code and item["teacher"] == "ana"
                assert item["session"] == phone.session and item["objects"][0]["box"]
                async with ana.get(base + item["url"]) as response:
                    assert response.status == 200 and response.content_type == "image/jpeg"
                    picture = Image.open(io.BytesIO(await response.read()))
                    assert picture.size == (320, 240)
                    assert np.asarray(picture.convert("RGB")).std() > 10
                status, groups = await _json(await ana.get(f"{base}/api/snapshots/rooms"))
                assert status == 200
                assert [(g["room"], g["count"]) for g in groups["rooms"]] == [(code, 1)]

                # another teacher: the photo does not exist for them (404 like a missing one)
                missing = f"/api/snapshots/{snapshot_id + 1000}.jpg"
                for url in (item["url"], missing):
                    async with kim.get(base + url) as response:
                        assert response.status == 404, url
                status, page = await _json(await kim.get(f"{base}/api/snapshots"))
                assert status == 200 and page["total"] == 0 and page["snapshots"] == []
                status, page = await _json(await kim.get(f"{base}/api/snapshots?room={code}"))
                assert page["total"] == 0
                assert (await _json(await kim.get(f"{base}/api/snapshots/rooms")))[1] == {
                    "rooms": []
                }
                for target in (snapshot_id, snapshot_id + 1000):
                    status, body = await _json(
                        await kim.post(f"{base}/api/snapshots/{target}/delete", json={})
                    )
                    assert status == 404, body
                async with kim.get(f"{base}/api/snapshots/rooms/{code}/photos.zip") as r:
                    assert r.status == 404
                status, _ = await _json(
                    await kim.post(
                        f"{base}/api/snapshots/rooms/{code}/delete", json={"confirm": "delete all"}
                    )
                )
                assert status == 404
                assert store.usage().count == 1  # kim changed nothing

                # strangers see nothing; other teachers are not admins
                for url in ("/api/snapshots", "/api/snapshots/rooms", item["url"], "/api/admin"):
                    async with stranger.get(base + url) as response:
                        assert response.status == 401, url
                status, _ = await _json(await kim.get(f"{base}/api/admin"))
                assert status == 403
                status, _ = await _json(
                    await kim.post(f"{base}/api/admin/delete-all", json={"confirm": "delete all"})
                )
                assert status == 403
                # an admin sees every class's photos
                status, page = await _json(await lee.get(f"{base}/api/snapshots"))
                assert status == 200 and [s["id"] for s in page["snapshots"]] == [snapshot_id]
                async with lee.get(base + item["url"]) as response:
                    assert response.status == 200
                status, admin = await _json(await lee.get(f"{base}/api/admin"))
                assert status == 200
                assert admin["sessions"]["count"] == 1
                assert admin["sessions"]["list"][0]["id"] == phone.session
                assert admin["storage"]["snapshots"] == 1 and admin["storage"]["bytes"] > 1000

                # deleting: JSON POSTs only, then the picture and its file are gone
                async with stranger.post(
                    f"{base}/api/snapshots/{snapshot_id}/delete", json={}
                ) as r:
                    assert r.status == 401
                async with ana.post(f"{base}/api/snapshots/{snapshot_id}/delete", data="x") as r:
                    assert r.status == 415
                status, body = await _json(
                    await ana.post(f"{base}/api/snapshots/{snapshot_id}/delete", json={})
                )
                assert status == 200 and body["deleted"]
                async with ana.get(base + item["url"]) as response:
                    assert response.status == 404
                assert [p for p in _files(store.directory) if p.suffix == ".jpg"] == []

                # delete-all needs the exact confirmation
                phone.send({"type": "snapshot"})
                await phone.wait_for("snapshot_saved", lambda m: m["id"] != snapshot_id, timeout=60)
                status, _ = await _json(
                    await lee.post(f"{base}/api/admin/delete-all", json={"confirm": "yes"})
                )
                assert status == 400
                status, body = await _json(
                    await lee.post(f"{base}/api/admin/delete-all", json={"confirm": "delete all"})
                )
                assert status == 200 and body["deleted"] == 1
                assert store.usage().count == 0
            finally:
                await phone.close()

    _run(lesson, tmp_path)


def test_a_rooms_photos_download_as_one_zip_and_delete_together(tmp_path: Path) -> None:
    async def lesson(base: str, store: SnapshotStore) -> None:
        phone = Client(photo("coffee"))
        ana, kim = [await _login(base, n) for n in ("ana", "kim")]
        async with ana, kim:
            code = await _room(ana, base)
            other = await _room(kim, base)
            store.save(b"kim's", session="s9", room=other, teacher="kim", objects=[])
            try:
                await phone.connect(ana, base, room=code)
                await _admit(ana, base, code, phone.session)
                await phone.wait_for("objects", timeout=60)
                ids = []
                for _ in range(2):
                    phone.send({"type": "snapshot"})
                    saved = await phone.wait_for(
                        "snapshot_saved", lambda m: m["id"] not in ids, timeout=60
                    )
                    ids.append(saved["id"])
            finally:
                await phone.close()
            async with ana.get(f"{base}/api/snapshots/rooms/{code}/photos.zip") as response:
                assert response.status == 200
                assert response.content_type == "application/zip"
                assert "attachment" in response.headers["Content-Disposition"]
                archive = zipfile.ZipFile(io.BytesIO(await response.read()))
            assert archive.testzip() is None
            names = sorted(archive.namelist())
            assert names == sorted([*(f"photo-{i}.jpg" for i in ids), "photos.json"])
            for i in ids:
                assert Image.open(io.BytesIO(archive.read(f"photo-{i}.jpg"))).size == (320, 240)
            index = json.loads(archive.read("photos.json"))
            assert index["room"] == code and len(index["photos"]) == 2
            # ana cannot fetch kim's room, even knowing its code
            async with ana.get(f"{base}/api/snapshots/rooms/{other}/photos.zip") as response:
                assert response.status == 404

            url = f"{base}/api/snapshots/rooms/{code}/delete"
            assert (await _json(await ana.post(url, json={})))[0] == 400  # no confirmation
            assert (await _json(await ana.post(url, json={"confirm": "yes"})))[0] == 400
            status, body = await _json(await ana.post(url, json={"confirm": "delete all"}))
            assert status == 200 and body == {"room": code, "deleted": 2}
            assert (await _json(await ana.post(url, json={"confirm": "delete all"})))[0] == 404
            assert store.usage(room=code).count == 0
            assert store.usage(room=other).count == 1  # kim's class keeps its photo
            assert len([p for p in _files(store.directory) if p.suffix == ".jpg"]) == 1

    _run(lesson, tmp_path)


async def _press_once(
    http: aiohttp.ClientSession,
    base: str,
    room: str | None,
    teacher: aiohttp.ClientSession | None = None,
) -> dict[str, Any]:
    """A new phone (in `room`, or in none) presses 📸 once, let in first by `teacher` when
    given; the server's answer to it."""
    phone = Client(photo("chelsea"))
    try:
        await phone.connect(http, base, **({"room": room} if room else {}))
        if teacher is not None:
            await _admit(teacher, base, room, phone.session)
        await phone.wait_for("objects", timeout=60)
        phone.send({"type": "snapshot"})
        await phone.wait_until(
            lambda: bool(phone.of_type("snapshot_saved") or phone.of_type("error")), timeout=60
        )
        return (phone.of_type("snapshot_saved") or phone.of_type("error"))[0]
    finally:
        await phone.close()


async def _admit(
    teacher: aiohttp.ClientSession, base: str, room: str | None, phone: str | None
) -> None:
    async with teacher.post(f"{base}/api/rooms/{room}/phones/{phone}/admit", json={}) as answer:
        assert answer.status == 200, await answer.text()


def test_a_phone_the_teacher_has_not_let_in_keeps_no_photo(tmp_path: Path) -> None:
    async def lesson(base: str, store: SnapshotStore) -> None:
        ana = await _login(base, "ana")
        async with ana:
            code = await _room(ana, base)
            async with aiohttp.ClientSession() as stranger:
                answer = await _press_once(stranger, base, code)
            assert answer["type"] == "error" and answer["code"] == "not_in_room", answer
            assert store.usage().count == 0

    _run(lesson, tmp_path)


def test_reconnecting_phones_share_the_rooms_budget(tmp_path: Path) -> None:
    policy = SnapshotPolicy(room=RoomBudget(per_hour=2, max_kept=50))

    async def lesson(base: str, store: SnapshotStore) -> None:
        ana = await _login(base, "ana")
        async with ana:
            code = await _room(ana, base)
            answers: list[dict[str, Any]] = []
            for _ in range(3):  # the attacker reconnects before every press
                async with aiohttp.ClientSession() as anonymous:
                    answers.append(await _press_once(anonymous, base, code, ana))
            assert [a["type"] for a in answers] == ["snapshot_saved", "snapshot_saved", "error"]
            assert answers[2]["code"] == "room_limit"
            assert store.usage().count == 2

    _run(lesson, tmp_path, policy=policy)


def test_the_projector_snapshot_is_the_room_teachers(tmp_path: Path) -> None:
    async def lesson(base: str, store: SnapshotStore) -> None:
        phone = Client(photo("coffee"))
        ana, kim, stranger = [await _login(base, n) for n in ("ana", "kim", None)]
        async with ana, kim, stranger:
            code = await _room(ana, base)
            url = f"{base}/api/rooms/{code}/snapshot"
            try:
                status, _ = await _json(await ana.post(url, json={}))
                assert status == 409  # nobody presents yet
                await phone.connect(stranger, base, room=code)
                await phone.wait_for("objects", timeout=60)
                # the teacher puts the phone on the class screen
                pick = {"session": phone.session}
                status, body = await _json(
                    await ana.post(f"{base}/api/rooms/{code}/presenter", json=pick)
                )
                assert status == 200, body
                assert (await _json(await stranger.post(url, json={})))[0] == 401
                # another teacher's room is answered like a missing one
                assert (await _json(await kim.post(url, json={})))[0] == 404
                status, snapshot = await _json(await ana.post(url, json={}))
                assert status == 201, snapshot
                assert snapshot["session"] == phone.session and snapshot["room"] == code
                assert snapshot["teacher"] == "ana"
                assert store.usage().count == 1
            finally:
                await phone.close()

    _run(lesson, tmp_path)


def _tree(root: Path) -> dict[Path, int]:
    """Every file under `root` with its modification time (ns)."""
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_streaming_and_pressing_outside_a_room_store_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every place a file could land is a folder of ours: the data folder (the library lives
    # under it), the home and XDG folders, the temp folder and the working directory
    home, temp, work, data = (tmp_path / n for n in ("home", "tmp", "work", "data"))
    for folder in (home, temp, work, data):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(work)
    before = _tree(tmp_path)

    async def watch() -> None:
        app = create_app(ServerConfig(), engine=FakeEngine(delay_s=0.1))  # the default library
        assert app[SNAPSHOTS_KEY].store.directory.is_relative_to(data)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            phone = Client(photo("chelsea"))
            try:
                await phone.connect(http, base)
                session = app[SESSIONS_KEY].get(phone.session or "")
                assert session is not None
                # results drawn on video for a while: everything a press could save was there
                await phone.wait_for("objects", timeout=60)
                await phone.wait_until(
                    lambda: phone.received >= 30 and session.results >= 3, timeout=60
                )
                # 📸 outside a room: the page keeps the picture; the server refuses to keep it
                for _ in range(3):
                    phone.send({"type": "snapshot"})
                await phone.wait_until(lambda: len(phone.of_type("error")) >= 3, timeout=60)
                assert {m["code"] for m in phone.of_type("error")} == {"not_in_room"}
                assert phone.of_type("snapshot_saved") == []
            finally:
                await phone.close()
            await phone.wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=60)

    # asyncio.run returns once the app is cleaned up and its worker threads are done, so any
    # write that streaming started has finished by the time we look
    asyncio.run(asyncio.wait_for(watch(), 120))
    after = _tree(tmp_path)
    changed = sorted(str(p) for p in after.keys() | before.keys() if after.get(p) != before.get(p))
    assert changed == [], f"written outside a room: {changed}"
    assert list(data.iterdir()) == []


def test_the_pages_are_served(tmp_path: Path) -> None:
    async def visit() -> None:
        web_dir = Path(__file__).parents[3] / "web"
        config = ServerConfig(
            web_dir=web_dir, classroom=ClassroomSettings(teachers_file=tmp_path / "t.json")
        )
        app = create_app(config, engine=FakeEngine(delay_s=0.1))
        _library(app, SnapshotStore(tmp_path / "snapshots"), web_dir)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            for path, script in (("/library", "/pages/library.js"), ("/admin", "/pages/admin.js")):
                async with http.get(base + path) as response:
                    assert response.status == 200 and script in await response.text()
                async with http.get(base + script) as response:
                    assert response.status == 200
        assert not (tmp_path / "snapshots").exists()

    asyncio.run(asyncio.wait_for(visit(), 30))


def test_a_phone_sees_the_photos_kept_from_it_and_no_one_elses(tmp_path: Path) -> None:
    """At the end of a hunt a phone shows what it found today: its own kept photos, small."""

    async def lesson(base: str, store: SnapshotStore) -> None:
        mine, other = Client(photo("chelsea")), Client(photo("coffee"))
        ana = await _login(base, "ana")
        async with ana, aiohttp.ClientSession() as http:
            code = await _room(ana, base)
            try:
                for phone in (mine, other):
                    await phone.connect(http, base, room=code)
                    await _admit(ana, base, code, phone.session)
                    await phone.wait_for("objects", timeout=60)
                mine.send({"type": "snapshot"})
                saved = await mine.wait_for("snapshot_saved", timeout=60)
                other.send({"type": "snapshot"})
                await other.wait_for("snapshot_saved", timeout=60)

                mine.send({"type": "kept"})
                kept = await mine.wait_for("kept", timeout=60)
                assert (kept["count"], kept["index"], kept["id"]) == (1, 0, saved["id"])
                assert kept["labels"] == ["cat"]
                assert kept["picture"].startswith("data:image/jpeg;base64,")
                picture = Image.open(io.BytesIO(base64.b64decode(kept["picture"].split(",")[1])))
                assert picture.size[0] == 160, "a small picture, not the kept file"
                await asyncio.sleep(0.5)  # the only message: the other phone's photo is not ours
                assert len(mine.of_type("kept")) == 1
            finally:
                for phone in (mine, other):
                    await phone.close()

    _run(lesson, tmp_path)


def test_a_phone_outside_a_room_is_shown_no_kept_photos(tmp_path: Path) -> None:
    async def alone(base: str, store: SnapshotStore) -> None:
        outside = Client()
        async with aiohttp.ClientSession() as http:
            try:
                await outside.connect(http, base)
                await outside.wait_for("hello", timeout=60)
                outside.send({"type": "kept"})
                kept = await outside.wait_for("kept", timeout=60)
                assert kept == {"v": 1, "type": "kept", "count": 0}
            finally:
                await outside.close()

    _run(alone, tmp_path)
