"""Snapshots end to end with a real phone (aiortc over loopback, the fake engine): a press saves
the annotated picture to the library, a teacher lists, fetches and deletes it; the projector's
teacher-only snapshot; the admin page; and streaming without a press stores nothing."""

from __future__ import annotations

import asyncio
import io
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp import web
from argon2 import PasswordHasher
from PIL import Image

from stream.app import SESSIONS_KEY, ServerConfig, create_app
from stream.snapshot_api import SNAPSHOTS_KEY, install_snapshots
from stream.snapshots import DATA_DIR_ENV, SnapshotStore
from stream.teachers import TeacherStore
from tests.stream.fake_engine import FakeEngine
from tests.stream.rtc_client import Client, photo, serving

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORDS = {"lee": "correct horse", "kim": "battery staple"}


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


def _run(test: Callable[[str, SnapshotStore], Awaitable[None]], tmp_path: Path) -> None:
    teachers = TeacherStore(tmp_path / "teachers.json", hasher=FAST)
    teachers.add("lee", PASSWORDS["lee"], admin=True)
    teachers.add("kim", PASSWORDS["kim"])

    async def main() -> None:
        config = ServerConfig(teachers_file=tmp_path / "teachers.json", max_sessions=3)
        app = create_app(config, engine=FakeEngine(delay_s=0.1))
        store = SnapshotStore(tmp_path / "data" / "snapshots")
        _library(app, store)
        async with serving(app) as base:
            await test(base, store)

    asyncio.run(asyncio.wait_for(main(), 180))


def _files(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()] if directory.exists() else []


def test_a_press_saves_the_picture_to_the_library(tmp_path: Path) -> None:
    async def lesson(base: str, store: SnapshotStore) -> None:
        phone = Client(photo("chelsea"))
        lee, kim, stranger = [await _login(base, n) for n in ("lee", "kim", None)]
        async with lee, kim, stranger:
            try:
                await phone.connect(stranger, base)
                await phone.wait_for("objects", timeout=60)
                phone.send({"type": "snapshot"})
                saved = await phone.wait_for("snapshot_saved", timeout=60)
                snapshot_id = saved["id"]

                status, page = await _json(await lee.get(f"{base}/api/snapshots"))
                assert status == 200 and page["total"] == 1 and page["next"] is None
                (item,) = page["snapshots"]
                assert item["id"] == snapshot_id and item["labels"] == ["cat"]
                assert item["session"] == phone.session and item["objects"][0]["box"]
                async with lee.get(base + item["url"]) as response:
                    assert response.status == 200 and response.content_type == "image/jpeg"
                    picture = Image.open(io.BytesIO(await response.read()))
                    assert picture.size == (320, 240)
                    assert np.asarray(picture.convert("RGB")).std() > 10

                # strangers see nothing; other teachers are not admins
                for url in ("/api/snapshots", item["url"], "/api/admin"):
                    async with stranger.get(base + url) as response:
                        assert response.status == 401, url
                status, _ = await _json(await kim.get(f"{base}/api/admin"))
                assert status == 403
                status, _ = await _json(
                    await kim.post(f"{base}/api/admin/delete-all", json={"confirm": "delete all"})
                )
                assert status == 403
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
                async with lee.post(f"{base}/api/snapshots/{snapshot_id}/delete", data="x") as r:
                    assert r.status == 415
                status, body = await _json(
                    await lee.post(f"{base}/api/snapshots/{snapshot_id}/delete", json={})
                )
                assert status == 200 and body["deleted"]
                async with lee.get(base + item["url"]) as response:
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


def test_the_projector_snapshot_is_the_room_teachers(tmp_path: Path) -> None:
    async def lesson(base: str, store: SnapshotStore) -> None:
        phone = Client(photo("coffee"))
        lee, kim, stranger = [await _login(base, n) for n in ("lee", "kim", None)]
        async with lee, kim, stranger:
            status, room = await _json(await lee.post(f"{base}/api/rooms", json={}))
            assert status == 201
            url = f"{base}/api/rooms/{room['code']}/snapshot"
            try:
                status, _ = await _json(await lee.post(url, json={}))
                assert status == 409  # nobody presents yet
                await phone.connect(stranger, base, room=room["code"])
                await phone.wait_for("objects", timeout=60)
                assert (await _json(await stranger.post(url, json={})))[0] == 401
                assert (await _json(await kim.post(url, json={})))[0] == 403
                status, snapshot = await _json(await lee.post(url, json={}))
                assert status == 201, snapshot
                assert snapshot["session"] == phone.session and snapshot["room"] == room["code"]
                assert store.usage().count == 1
            finally:
                await phone.close()

    _run(lesson, tmp_path)


def _tree(root: Path) -> dict[Path, int]:
    """Every file under `root` with its modification time (ns)."""
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_streaming_without_a_press_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every place a file could land is a folder of ours: the home folder (the default library
    # lives under it), the XDG folders, the temp folder and the working directory
    home, temp, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for folder in (home, temp, work):
        folder.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.chdir(work)
    before = _tree(tmp_path)

    async def watch() -> None:
        app = create_app(ServerConfig(), engine=FakeEngine(delay_s=0.1))  # the default library
        assert app[SNAPSHOTS_KEY].store.directory.is_relative_to(home)
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
            finally:
                await phone.close()
            await phone.wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=60)

    # asyncio.run returns once the app is cleaned up and its worker threads are done, so any
    # write that streaming started has finished by the time we look
    asyncio.run(asyncio.wait_for(watch(), 120))
    after = _tree(tmp_path)
    changed = sorted(str(p) for p in after.keys() | before.keys() if after.get(p) != before.get(p))
    assert changed == [], f"written without a press: {changed}"


def test_the_pages_are_served(tmp_path: Path) -> None:
    async def visit() -> None:
        web_dir = Path(__file__).parents[2] / "web"
        config = ServerConfig(teachers_file=tmp_path / "t.json", web_dir=web_dir)
        app = create_app(config, engine=FakeEngine(delay_s=0.1))
        _library(app, SnapshotStore(tmp_path / "snapshots"), web_dir)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            for path, script in (("/library", "/js/library.js"), ("/admin", "/js/admin.js")):
                async with http.get(base + path) as response:
                    assert response.status == 200 and script in await response.text()
                async with http.get(base + script) as response:
                    assert response.status == 200
        assert not (tmp_path / "snapshots").exists()

    asyncio.run(asyncio.wait_for(visit(), 30))
