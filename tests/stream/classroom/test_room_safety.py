"""Who may watch, join and speak in a class room, tried from the attacker's side (issue 18):
real aiortc peers on loopback, the fake engine, the login and lookup limits on clocks only the
tests move. Every client here shares 127.0.0.1, which is also what a removal binds to."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import aiohttp
import pytest

from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.lookup_guard import LookupGuard
from stream.classroom.room_api import sweep
from stream.classroom.rooms import ROOMS_KEY
from stream.classroom.viewers import VIEWERS_KEY
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.clocks import FakeClock
from tests.support.rooms import WAIT_S, Context, post_offer, run_with_teachers
from tests.support.rtc_client import Client, photo
from tests.support.teachers import log_in, post_json


def test_a_class_screen_needs_the_teachers_token(tmp_path: Path) -> None:
    async def attack(base: str, context: Context) -> None:
        app, _, _ = context
        lee = await log_in(base, "lee", "correct horse")
        kim = await log_in(base, "kim", "battery staple")
        async with lee, kim, aiohttp.ClientSession() as http:
            _, room = await post_json(lee, f"{base}/api/rooms")
            code = room["code"]
            assert "screen_url" not in room  # no link without a key
            await post_json(
                lee, f"{base}/api/rooms/{code}/settings", {"first_phone_presents": True}
            )
            phone, stranger = Client(photo("coffee")), Client()
            try:
                await phone.connect(http, base, room=code)
                await phone.wait_for("room", lambda m: m["presenting"] == phone.session)
                # the code alone, or a made-up key, never yields the presenter's video
                for fields in ({}, {"screen": "A" * 32}):
                    status, body = await post_offer(
                        http, base, stranger, room=code, role="viewer", **fields
                    )
                    assert (status, body["reason"]) == (403, "screen_token"), body
                assert len(app[VIEWERS_KEY]) == 0
                # only the room's teacher mints a key
                for asker in (http, kim):
                    async with asker.post(f"{base}/api/rooms/{code}/screens", json={}) as r:
                        assert r.status in (401, 403)
                status, minted = await post_json(lee, f"{base}/api/rooms/{code}/screens")
                assert status == 201 and len(minted["token"]) >= 22  # >= 128 bits
                assert minted["screen_url"].endswith(f"/room/{code}/screen#key={minted['token']}")
                screen = Client()
                await screen.connect(http, base, room=code, role="viewer", screen=minted["token"])
                await screen.wait_until(lambda: screen.received >= 1, timeout=WAIT_S)
                # the teacher sees the screen and disconnects it: its key dies with it
                async with lee.get(f"{base}/api/rooms/{code}") as response:
                    assert (await response.json())["screens"] == [{"id": screen.session}]
                status, state = await post_json(
                    lee, f"{base}/api/rooms/{code}/screens/{screen.session}/disconnect"
                )
                assert status == 200 and state["screens"] == []
                await screen.wait_until(lambda: len(app[VIEWERS_KEY]) == 0, timeout=WAIT_S)
                again = Client()
                status, body = await post_offer(
                    http, base, again, room=code, role="viewer", screen=minted["token"]
                )
                assert (status, body["reason"]) == (403, "screen_token")
                # keys die with the room
                _, second = await post_json(lee, f"{base}/api/rooms/{code}/screens")
                await post_json(lee, f"{base}/api/rooms/{code}/end")
                status, _ = await post_offer(
                    http, base, Client(), room=code, role="viewer", screen=second["token"]
                )
                assert status == 404
                for client in (screen, again):
                    await client.close()
            finally:
                await phone.close()
                await stranger.close()

    run_with_teachers(attack, tmp_path)


def test_phones_wait_for_the_teacher_and_a_removed_phone_stays_out(tmp_path: Path) -> None:
    async def lesson(base: str, context: Context) -> None:
        app, engine, _ = context
        lee = await log_in(base, "lee", "correct horse")
        async with lee, aiohttp.ClientSession() as http:
            _, room = await post_json(lee, f"{base}/api/rooms")
            code = room["code"]
            _, minted = await post_json(lee, f"{base}/api/rooms/{code}/screens")
            screen, class_phone, intruder = Client(), Client(photo("coffee")), Client()
            clients = [screen, class_phone, intruder]
            try:
                await screen.connect(http, base, room=code, role="viewer", screen=minted["token"])
                await intruder.connect(http, base, room=code, name="I am the teacher")
                await class_phone.connect(http, base, room=code, name="Table\u0000 3")
                mine = await class_phone.wait_for("room", lambda m: "you" in m)
                assert mine["you"] == {"name": "Table 3", "state": "waiting"}
                # the first phone in does not present: the projector stays dark
                await intruder.wait_for("room", lambda m: m["you"]["state"] == "waiting")
                assert all(m["presenting"] is None for m in screen.of_type("room"))
                assert app[ROOMS_KEY].live(code).presenting is None

                # a phone cannot change the room's words, on its own screen or the projector's
                await post_json(lee, f"{base}/api/rooms/{code}/words", {"words": "cat, cup"})
                await intruder.wait_for("room", lambda m: m["words"] == "cat, cup")
                intruder.send({"type": "vocabulary", "words": "rocket, banana"})
                refusal = await intruder.wait_for("error", lambda m: m["code"] == "room_words")
                assert "teacher" in refusal["message"]
                assert intruder.session is not None
                assert engine.session_stats(intruder.session).vocabulary == ("cat", "cup")

                # the teacher admits and picks the class phone; then removes the intruder
                status, state = await post_json(
                    lee, f"{base}/api/rooms/{code}/phones/{class_phone.session}/admit"
                )
                assert status == 200
                assert state["phones"][1] == {
                    "id": class_phone.session, "name": "Table 3", "state": "admitted"
                }  # fmt: skip
                await post_json(
                    lee, f"{base}/api/rooms/{code}/presenter", {"session": class_phone.session}
                )
                await screen.wait_for("room", lambda m: m["presenting"] == class_phone.session)
                status, state = await post_json(
                    lee, f"{base}/api/rooms/{code}/phones/{intruder.session}/remove"
                )
                assert status == 200 and [p["id"] for p in state["phones"]] == [class_phone.session]
                await intruder.wait_for("room", lambda m: m.get("removed") is True)
                await intruder.wait_until(
                    lambda: app[SESSIONS_KEY].get(intruder.session or "") is None, timeout=WAIT_S
                )
                # it cannot come back (bound to its address: here every client's)
                comeback = Client()
                clients.append(comeback)
                status, body = await post_offer(http, base, comeback, room=code)
                assert (status, body["reason"]) == (403, "removed"), body
                # the class phone leaving leaves the projector dark: nobody takes over
                await class_phone.close()
                await screen.wait_for("room", lambda m: m["phones"] == 0)
                assert screen.of_type("room")[-1]["presenting"] is None
            finally:
                for client in clients:
                    await client.close()

    run_with_teachers(lesson, tmp_path)


def test_a_locked_room_and_a_new_code(tmp_path: Path) -> None:
    async def lesson(base: str, context: Context) -> None:
        app, _, _ = context
        lee = await log_in(base, "lee", "correct horse")
        async with lee, aiohttp.ClientSession() as http:
            _, room = await post_json(lee, f"{base}/api/rooms")
            old = room["code"]
            inside, late, later = Client(), Client(), Client()
            try:
                await inside.connect(http, base, room=old)
                status, state = await post_json(
                    lee, f"{base}/api/rooms/{old}/settings", {"locked": True}
                )
                assert status == 200 and state["locked"] is True
                status, body = await post_offer(http, base, late, room=old)
                assert (status, body["reason"]) == (403, "locked")
                await post_json(lee, f"{base}/api/rooms/{old}/settings", {"locked": False})
                status, state = await post_json(lee, f"{base}/api/rooms/{old}/code")
                new = state["code"]
                assert status == 200 and new != old and state["join_url"].endswith(new)
                # the phone already in stays, and hears the new code
                await inside.wait_for("room", lambda m: m["code"] == new)
                assert [p["id"] for p in state["phones"]] == [inside.session]
                status, body = await post_offer(http, base, later, room=old)
                assert status == 404  # the old code is dead
                await later.close()
                later = Client()
                await later.connect(http, base, room=new)
                async with lee.get(f"{base}/api/rooms/{new}") as response:
                    phones = (await response.json())["phones"]
                assert [p["name"] for p in phones] == ["Phone 1", "Phone 2"]
                # a phone that joined under the old code leaves cleanly
                await inside.close()
                await later.wait_until(
                    lambda: len(app[ROOMS_KEY].members(new)[0]) == 1, timeout=WAIT_S
                )
            finally:
                for client in (inside, late, later):
                    await client.close()

    run_with_teachers(lesson, tmp_path)


def test_room_codes_cannot_be_enumerated(tmp_path: Path) -> None:
    clock = FakeClock()

    async def attack(base: str, context: Context) -> None:
        app, _, _ = context
        app[ROOMS_KEY].lookups = LookupGuard(burst=100, miss_burst=5, clock=clock)
        lee = await log_in(base, "lee", "correct horse")
        async with lee, aiohttp.ClientSession() as http:
            _, live = await post_json(lee, f"{base}/api/rooms")
            _, ended = await post_json(lee, f"{base}/api/rooms")
            await post_json(lee, f"{base}/api/rooms/{ended['code']}/end")

            async def get(path: str) -> tuple[int, str | None, str]:
                async with http.get(base + path) as response:
                    return (
                        response.status,
                        response.headers.get("Retry-After"),
                        await response.text(),
                    )

            # missing and ended rooms answer alike
            missing = await get("/api/rooms/ZZZZZZ")
            gone = await get(f"/api/rooms/{ended['code']}")
            assert missing[0] == gone[0] == 404
            assert missing[2].replace("ZZZZZZ", "CODE") == gone[2].replace(ended["code"], "CODE")
            # a live room tells a stranger nothing but that it takes phones
            status, _, text = await get(f"/api/rooms/{live['code']}")
            assert status == 200 and "presenter" not in text and "phones" not in text
            # misses on every room route count; past the budget even a live code says 429
            for path in ("/api/rooms/ABCDEF/qr.png", "/api/rooms/ABCDEG"):
                assert (await get(path))[0] == 404
            status, body = await post_offer(http, base, Client(), room="ABCDEH")
            assert status == 404
            for path in (f"/api/rooms/{live['code']}", f"/api/rooms/{live['code']}/qr.png"):
                status, retry, _ = await get(path)
                assert status == 429 and retry is not None and int(retry) >= 1
            status, body = await post_offer(http, base, Client(), room=live["code"])
            assert status == 429 and body["reason"] == "rate_limited"
            # the room's own teacher is never limited: guessers cannot lock them out of the class
            async with lee.get(f"{base}/api/rooms/{live['code']}") as response:
                assert response.status == 200 and "phones" in await response.json()
            clock.now += 3600  # the miss bucket refills: strangers may look again
            assert (await get(f"/api/rooms/{live['code']}"))[0] == 200

    run_with_teachers(attack, tmp_path)


def test_a_global_budget_stops_many_addresses_guessing() -> None:
    clock = FakeClock()
    guard = LookupGuard(global_misses_per_s=1, global_miss_burst=20, clock=clock)
    for n in range(20):  # 20 addresses, one guess each: no address is over its own limit
        address = f"10.0.0.{n}"
        assert guard.check(address) is None
        guard.miss(address)
    wait = guard.check("10.0.1.1")  # a fresh address is refused too
    assert wait is not None and wait >= 1
    clock.now += 5
    assert guard.check("10.0.1.1") is None  # the budget refills at its rate


def test_teacher_limits_admins_and_removed_teachers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def check(base: str, context: Context) -> None:
        from visionanything import cli

        app, _, teachers = context
        lee = await log_in(base, "lee", "correct horse")
        kim = await log_in(base, "kim", "battery staple")
        ada = await log_in(base, "ada", "admin password")
        async with lee, kim, ada:
            codes = []
            for _ in range(2):
                status, room = await post_json(lee, f"{base}/api/rooms")
                assert status == 201
                codes.append(room["code"])
            status, body = await post_json(lee, f"{base}/api/rooms")
            assert status == 409 and "2 open rooms" in body["error"]
            assert (await post_json(kim, f"{base}/api/rooms"))[0] == 201  # others still can
            # kim cannot end lee's room; an admin can
            assert (await post_json(kim, f"{base}/api/rooms/{codes[0]}/end"))[0] == 403
            assert (await post_json(ada, f"{base}/api/rooms/{codes[0]}/end"))[0] == 200
            # `teacher remove`, in its own process, ends the teacher's rooms on the next sweep
            monkeypatch.setattr("sys.stdin", io.StringIO(""))
            argv = ["teacher", "remove", "lee", "--file", str(teachers)]
            assert await asyncio.to_thread(cli.main, argv) == 0
            assert await sweep(app) == [codes[1]]
            assert await app[ROOMS_KEY].store.get(codes[1]) is None
            assert [r.teacher for r in await app[ROOMS_KEY].store.open_rooms()] == ["kim"]

    run_with_teachers(check, tmp_path, classroom=ClassroomSettings(max_rooms_per_teacher=2))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"words": "   "}, "empty"),
        ({"words": ", ; ,"}, "vocabulary is empty"),
        ({"words": "x" * 2001}, "longer than 2000"),
        ({"words": "cat, " + "a" * 41}, "40"),
        ({"theme": "dinosaurs"}, "unknown theme 'dinosaurs'"),
        ({"theme": ""}, "theme"),
        ({"words": "cat", "theme": "animals"}, "either"),
    ],
)
def test_teacher_words_are_checked_like_a_phones(
    tmp_path: Path, body: dict[str, str], reason: str
) -> None:
    async def check(base: str, context: Context) -> None:
        lee = await log_in(base, "lee", "correct horse")
        async with lee:
            _, room = await post_json(lee, f"{base}/api/rooms")
            status, answer = await post_json(lee, f"{base}/api/rooms/{room['code']}/words", body)
            assert status == 400 and reason in answer["error"], answer
            async with lee.get(f"{base}/api/rooms/{room['code']}") as response:
                state = await response.json()
            assert (state["words"], state["theme"]) == (None, None)  # nothing stored
            status, _ = await post_json(
                lee, f"{base}/api/rooms/{room['code']}/words", {"theme": "animals"}
            )
            assert status == 200

    run_with_teachers(check, tmp_path)
