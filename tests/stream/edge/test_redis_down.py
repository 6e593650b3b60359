"""Redis down under `serve --redis` rooms: every route that needs Redis answers 503 with
Retry-After (never a 500 with a traceback), through the one middleware in
stream/edge/redis_outage.py. A real redis-server is started (rooms made) and stopped."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.redis_room_store import RedisRoomStore
from stream.classroom.teachers import TeacherStore
from stream.edge.access_log import RUNNER_OPTIONS
from stream.edge.limits import ServerLimits
from tests.support.fake_engine import FakeEngine
from tests.support.redis_server import RedisServer
from tests.support.rtc_client import Client, serving
from tests.support.teachers import FAST


def test_redis_down_gives_503_with_retry_after_on_rooms_and_room_offers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    TeacherStore(tmp_path / "teachers.json", hasher=FAST).add("lee", "correct horse")
    server = RedisServer()
    server.start()
    answers: dict[str, tuple[int, str | None, str]] = {}

    async def lesson() -> None:
        store = RedisRoomStore(server.url)
        config = ServerConfig(
            limits=ServerLimits(retry_after_s=7),
            classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"),
        )
        app = create_app(config, engine=FakeEngine(), room_store=store)
        phone = Client()
        async with serving(app, **RUNNER_OPTIONS) as base:
            teacher = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            async with teacher:
                login = {"name": "lee", "password": "correct horse"}
                async with teacher.post(f"{base}/api/login", json=login) as r:
                    assert r.status == 200
                async with teacher.post(f"{base}/api/rooms", json={}) as r:
                    assert r.status == 201  # Redis up: the room is made there
                    code = (await r.json())["code"]
                server.stop()
                offer = {**await phone.offer(), "room": code}
                for name, method, url, body in (
                    ("create", "POST", "/api/rooms", {}),
                    ("show", "GET", f"/api/rooms/{code}", None),
                    ("list", "GET", "/api/rooms", None),
                    ("offer", "POST", "/api/offer", offer),
                ):
                    async with teacher.request(method, base + url, json=body) as r:
                        answers[name] = (r.status, r.headers.get("Retry-After"), await r.text())
            await phone.close()

    try:
        with caplog.at_level(logging.INFO):
            asyncio.run(asyncio.wait_for(lesson(), 120))
    finally:
        server.stop()
    for name, (status, retry_after, text) in answers.items():
        assert (status, retry_after) == (503, "7"), (name, status, text)
        assert "Traceback" not in text and "unavailable" in text, (name, text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "no error logged"
    assert [r for r in caplog.records if "redis unavailable" in r.getMessage()]
