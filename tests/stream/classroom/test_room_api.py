"""The teacher's room API with real phones (aiortc over loopback, the fake engine): creating a
room, its QR code, choosing the presenter, the room's words and mute reaching every phone,
ending the room; and what strangers and other teachers are refused. Waits are event-driven
with generous deadlines, and the login limit runs on an injected clock, so a slow or busy
machine changes how long the tests take, not whether they pass."""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

import stream.app
from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.teacher_auth import TeacherAuth
from stream.edge.limits import ServerLimits
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.clocks import FakeClock
from tests.support.fake_engine import FakeEngine
from tests.support.rooms import WAIT_S
from tests.support.rtc_client import Client, photo, serving
from tests.support.teachers import log_in, post_json, teacher_store


def _config(tmp_path: Path) -> ServerConfig:
    teacher_store(tmp_path / "teachers.json", lee="correct horse", kim="battery staple")
    return ServerConfig(
        limits=ServerLimits(max_sessions=3),
        classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"),
    )


def _run(test: Callable[[str, Any], Awaitable[None]], tmp_path: Path) -> None:
    async def main() -> None:
        engine = FakeEngine(delay_s=0.1)
        app = create_app(_config(tmp_path), engine=engine)
        async with serving(app) as base:
            await test(base, (app, engine))

    asyncio.run(asyncio.wait_for(main(), 180))


def test_a_teacher_runs_a_room_for_two_phones(tmp_path: Path) -> None:
    async def lesson(base: str, context: Any) -> None:
        app, engine = context
        teacher = await log_in(base, "lee", "correct horse")
        phones = [Client(photo("coffee")), Client(photo("chelsea"))]
        async with teacher, aiohttp.ClientSession() as http:
            status, room = await post_json(teacher, f"{base}/api/rooms")
            assert status == 201 and len(room["code"]) == 6
            assert room["join_url"].endswith(f"/?room={room['code']}")
            async with http.get(room["qr_url"]) as response:
                assert response.status == 200 and response.content_type == "image/png"
                qr = Image.open(io.BytesIO(await response.read()))
                assert min(qr.size) >= 100
            code = room["code"]
            try:
                for phone in phones:
                    await phone.connect(http, base, room=code)
                first, second = (p.session for p in phones)
                # anyone with the code learns only what a joining phone needs
                async with http.get(f"{base}/api/rooms/{code}") as response:
                    assert await response.json() == {"code": code, "locked": False}
                # the teacher sees both phones, named, waiting: nobody presents by itself
                async with teacher.get(f"{base}/api/rooms/{code}") as response:
                    state = await response.json()
                assert state["phones"] == [
                    {"id": first, "name": "Phone 1", "state": "waiting"},
                    {"id": second, "name": "Phone 2", "state": "waiting"},
                ]
                assert state["presenter"] is None and state["presenting"] is None
                status, state = await post_json(
                    teacher, f"{base}/api/rooms/{code}/presenter", {"session": first}
                )
                assert status == 200 and state["presenter"] == first

                # the teacher picks the second phone: everyone hears it at once
                status, state = await post_json(
                    teacher, f"{base}/api/rooms/{code}/presenter", {"session": second}
                )
                assert status == 200 and state["presenter"] == second
                # each phone hears only about itself: the second presents, the first is admitted
                await phones[1].wait_for(
                    "room",
                    lambda m: m["presenting"] == second and m["you"]["state"] == "presenting",
                    timeout=WAIT_S,
                )
                await phones[0].wait_for(
                    "room",
                    lambda m: m["presenting"] is None and m["you"] == {
                        "name": "Phone 1", "state": "admitted"
                    },
                    timeout=WAIT_S,
                )  # fmt: skip
                assert all("phones" not in m for p in phones for m in p.of_type("room"))

                # the room's words and mute reach every phone, and every engine session
                status, state = await post_json(
                    teacher, f"{base}/api/rooms/{code}/words", {"words": "apple, banana"}
                )
                assert status == 200 and state["problems"] == []
                status, state = await post_json(
                    teacher, f"{base}/api/rooms/{code}/speech", {"muted": True}
                )
                assert status == 200 and state["speech_muted"] is True
                for phone in phones:
                    await phone.wait_for(
                        "room", lambda m: m["words"] == "apple, banana" and m["speech_muted"],
                        timeout=WAIT_S,
                    )  # fmt: skip
                    assert phone.session is not None
                    vocabulary = engine.session_stats(phone.session).vocabulary
                    assert vocabulary == ("apple", "banana")
                    assert ("speech", phone.session, False) in engine.calls
                # a child turning speech back on stays silent while the room is muted; the tap
                # sent after it on the same ordered channel says when it has been applied
                speech_before = [c for c in engine.calls if c[:2] == ("speech", first)]
                phones[0].send({"type": "speech", "on": True})
                phones[0].send({"type": "tap", "x": 0.25, "y": 0.75})
                await phones[0].wait_until(
                    lambda: ("tap", first, (0.25, 0.75)) in engine.calls, timeout=WAIT_S
                )
                speech_after = [c for c in engine.calls if c[:2] == ("speech", first)]
                assert speech_after[len(speech_before) :] == [("speech", first, False)]

                status, ended = await post_json(teacher, f"{base}/api/rooms/{code}/end")
                assert status == 200 and ended["ended"]
                for phone in phones:
                    await phone.wait_for("room", lambda m: m["ended"], timeout=WAIT_S)
                # the phones still stream: only the room's end can close their sessions
                await phones[0].wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=WAIT_S)
                async with http.get(f"{base}/api/rooms/{code}") as response:
                    assert response.status == 404
            finally:
                for phone in phones:
                    await phone.close()

    _run(lesson, tmp_path)


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "status"),
    [
        (None, "post", "/api/rooms", {}, 401),
        (None, "get", "/api/rooms", None, 401),
        (None, "post", "/api/rooms/{code}/end", {}, 401),
        ("kim", "post", "/api/rooms/{code}/end", {}, 403),
        ("kim", "post", "/api/rooms/{code}/words", {"words": "x"}, 403),
        ("lee", "post", "/api/rooms/{code}/words", {}, 400),
        ("lee", "post", "/api/rooms/{code}/speech", {"muted": "yes"}, 400),
        ("lee", "post", "/api/rooms/{code}/presenter", {"session": "s99"}, 404),
        ("lee", "post", "/api/rooms/ZZZZZZ/end", {}, 404),
        (None, "get", "/api/rooms/ZZZZZZ", None, 404),
        (None, "get", "/api/rooms/ZZZZZZ/qr.png", None, 404),
    ],
)
def test_refusals(
    tmp_path: Path, who: str | None, method: str, path: str, body: Any, status: int
) -> None:
    async def check(base: str, _: Any) -> None:
        lee = await log_in(base, "lee", "correct horse")
        async with lee:
            _, room = await post_json(lee, f"{base}/api/rooms")
            url = base + path.format(code=room["code"])
            passwords = {"lee": "correct horse", "kim": "battery staple"}
            asker = await log_in(base, who, passwords[who]) if who else aiohttp.ClientSession()
            async with asker:
                request = asker.post(url, json=body) if method == "post" else asker.get(url)
                async with request as response:
                    assert response.status == status, await response.text()
                    assert "error" in await response.json()

    _run(check, tmp_path)


def test_wrong_password_is_401_then_rate_limited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the login limit runs on a clock only the test moves: a slow machine cannot let the
    # window slide between the guesses
    clock = FakeClock()
    monkeypatch.setattr(stream.app, "TeacherAuth", functools.partial(TeacherAuth, clock=clock))

    async def guess(base: str, _: Any) -> None:
        async with aiohttp.ClientSession() as http:

            async def login(password: str) -> tuple[int, str | None]:
                body = {"name": "lee", "password": password}
                async with http.post(f"{base}/api/login", json=body) as response:
                    return response.status, response.headers.get("Retry-After")

            answers = [await login(f"guess{attempt}") for attempt in range(7)]
            assert [status for status, _ in answers] == [401] * 5 + [429, 429]
            assert answers[5][1] == answers[6][1] == "60"  # no time passed: a full minute
            clock.now += 60.0  # the five attempts leave the window
            assert await login("correct horse") == (200, None)

    _run(guess, tmp_path)


@pytest.mark.parametrize("page", ["screen", "teacher"])
def test_room_pages_for_a_wrong_code_say_so(tmp_path: Path, page: str) -> None:
    async def visit() -> None:
        web_dir = Path(__file__).parents[3] / "web"
        app = create_app(
            ServerConfig(
                web_dir=web_dir, classroom=ClassroomSettings(teachers_file=tmp_path / "t.json")
            ),
            engine=FakeEngine(delay_s=0.1),
        )
        async with serving(app) as base, aiohttp.ClientSession() as http:
            response = await http.get(f"{base}/room/QQQQQQ/{page}")
            text = await response.text()
            assert response.status == 404
            assert "No room with code" in text and "QQQQQQ" in text

    asyncio.run(asyncio.wait_for(visit(), 60))
