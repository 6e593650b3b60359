"""A phone whose connection broke takes its place back with the resume token from `hello`
(issue 19), and nobody else can: real aiortc peers on loopback, the fake engine."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from stream.classroom.rooms import ROOMS_KEY
from stream.edge.limits import ServerLimits
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.resume import ResumeTokens
from tests.support.clocks import FakeClock
from tests.support.rooms import WAIT_S, Context, post_offer, run_with_teachers
from tests.support.rtc_client import Client, black_hole, photo
from tests.support.teachers import log_in, post_json


def test_tokens_are_single_use_and_die_after_their_grace() -> None:
    clock = FakeClock()
    tokens = ResumeTokens(grace_s=60, max_tokens=3, clock=clock)
    first = tokens.issue("s1")
    assert len(first) >= 22 and tokens.find(first) == "s1"
    assert tokens.find(first) == "s1"  # finding does not use it up
    tokens.consume(first)
    assert tokens.find(first) is None
    second = tokens.issue("s2")
    clock.now += 3600
    assert tokens.find(second) == "s2"  # an open session's token does not expire
    tokens.closed("s2")
    clock.now += 59
    assert tokens.find(second) == "s2"
    clock.now += 2
    assert tokens.find(second) is None
    assert tokens.find("A" * 24) is None
    # bounded: the oldest go first
    made = [tokens.issue(f"x{i}") for i in range(5)]
    assert len(tokens) == 3
    assert tokens.find(made[0]) is None and tokens.find(made[-1]) == "x4"
    with pytest.raises(ValueError):
        ResumeTokens(max_tokens=0)


async def _hello(client: Client) -> str:
    hello = await client.wait_for("hello", timeout=WAIT_S)
    token = hello["resume"]
    assert isinstance(token, str) and len(token) >= 22
    return token


def test_a_phone_whose_connection_broke_comes_back_to_its_place(tmp_path: Path) -> None:
    async def lesson(base: str, context: Context) -> None:
        app, engine, _ = context
        lee = await log_in(base, "lee", "correct horse")
        async with lee, aiohttp.ClientSession() as http:
            _, room = await post_json(lee, f"{base}/api/rooms")
            code = room["code"]
            _, minted = await post_json(lee, f"{base}/api/rooms/{code}/screens")
            await post_json(lee, f"{base}/api/rooms/{code}/words", {"words": "cat, cup"})
            screen, phone = Client(), Client(photo("coffee"))
            clients = [screen, phone]
            try:
                await screen.connect(http, base, room=code, role="viewer", screen=minted["token"])
                await phone.connect(http, base, room=code, name="Table 3")
                token = await _hello(phone)
                first = phone.session
                assert first is not None
                await post_json(lee, f"{base}/api/rooms/{code}/phones/{first}/admit")
                await post_json(lee, f"{base}/api/rooms/{code}/presenter", {"session": first})
                await screen.wait_for("room", lambda m: m["presenting"] == first)
                # the teacher locks the room: nobody new comes in, but this phone was in
                await post_json(lee, f"{base}/api/rooms/{code}/settings", {"locked": True})

                # the phone's network goes away; its page makes a new connection
                assert black_hole(phone.pc) >= 1
                again = Client(photo("coffee"))
                clients.append(again)
                await again.connect(http, base, room=code, name="Someone else", resume=token)
                second = again.session
                assert second is not None and second != first
                mine = await again.wait_for("room", lambda m: "you" in m, timeout=WAIT_S)
                assert mine["you"] == {"name": "Table 3", "state": "presenting"}
                assert mine["presenting"] == second and mine["words"] == "cat, cup"
                assert engine.session_stats(second).vocabulary == ("cat", "cup")
                await screen.wait_for("room", lambda m: m["presenting"] == second)
                # the broken session is closed as replaced; the room lists one phone
                sessions = app[SESSIONS_KEY]
                await again.wait_until(lambda: sessions.get(first) is None, timeout=WAIT_S)
                async with lee.get(f"{base}/api/rooms/{code}") as response:
                    listed = (await response.json())["phones"]
                assert listed == [{"id": second, "name": "Table 3", "state": "presenting"}]
                # the screen shows the resumed phone's video
                seen = screen.received
                await screen.wait_until(lambda: screen.received > seen + 5, timeout=WAIT_S)
                # a token is used once: the old one gets nothing more (the room is locked)
                status, body = await post_offer(http, base, Client(), room=code, resume=token)
                assert (status, body["reason"]) == (403, "locked"), body
                # the new session has a new token of its own
                assert await _hello(again) != token
            finally:
                for client in clients:
                    await client.close()

    run_with_teachers(lesson, tmp_path)


def test_a_phone_that_left_while_presenting_gets_the_screen_back(tmp_path: Path) -> None:
    async def lesson(base: str, context: Context) -> None:
        app, _, _ = context
        lee = await log_in(base, "lee", "correct horse")
        async with lee, aiohttp.ClientSession() as http:
            _, room = await post_json(lee, f"{base}/api/rooms")
            code = room["code"]
            phone = Client()
            clients = [phone]
            try:
                await phone.connect(http, base, room=code, name="Table 5")
                token = await _hello(phone)
                first = phone.session
                assert first is not None
                await post_json(lee, f"{base}/api/rooms/{code}/presenter", {"session": first})
                # the server noticed first: the session is gone before the phone comes back
                await phone.close()
                hub = app[ROOMS_KEY]
                await asyncio.wait_for(_until(lambda: first not in hub.live(code).phones), WAIT_S)
                assert hub.live(code).presenting is None
                again = Client()
                clients.append(again)
                await again.connect(http, base, room=code, resume=token)
                mine = await again.wait_for("room", lambda m: "you" in m, timeout=WAIT_S)
                assert mine["you"] == {"name": "Table 5", "state": "presenting"}
            finally:
                for client in clients:
                    await client.close()

    run_with_teachers(lesson, tmp_path)


def test_no_token_no_place_made_up_removed_or_from_another_room(tmp_path: Path) -> None:
    async def attack(base: str, context: Context) -> None:
        app, _, _ = context
        lee = await log_in(base, "lee", "correct horse")
        async with lee, aiohttp.ClientSession() as http:
            _, room = await post_json(lee, f"{base}/api/rooms")
            _, other = await post_json(lee, f"{base}/api/rooms")
            code, elsewhere = room["code"], other["code"]
            phone, stranger = Client(), Client()
            clients = [phone, stranger]
            try:
                await phone.connect(http, base, room=code, name="Table 1")
                token = await _hello(phone)
                first = phone.session
                await post_json(lee, f"{base}/api/rooms/{code}/phones/{first}/admit")
                # a made-up token is nothing: a new phone that waits (and a bad one is refused)
                await stranger.connect(http, base, room=code, resume="B" * 24)
                theirs = await stranger.wait_for("room", lambda m: "you" in m, timeout=WAIT_S)
                assert theirs["you"]["state"] == "waiting" and theirs["you"]["name"] != "Table 1"
                status, body = await post_offer(http, base, Client(), room=code, resume="x y")
                assert (status, body["reason"]) == (400, "bad_request")
                # the token does nothing in another room
                visitor = Client()
                clients.append(visitor)
                await visitor.connect(http, base, room=elsewhere, resume=token)
                seen = await visitor.wait_for("room", lambda m: "you" in m, timeout=WAIT_S)
                assert seen["you"]["state"] == "waiting"
                assert app[SESSIONS_KEY].get(first or "") is not None  # not replaced
                # removed by the teacher: the token brings nothing back
                await post_json(lee, f"{base}/api/rooms/{code}/phones/{first}/remove")
                await phone.wait_for("room", lambda m: m.get("removed") is True)
                status, body = await post_offer(http, base, Client(), room=code, resume=token)
                assert (status, body["reason"]) == (403, "removed"), body
                hub = app[ROOMS_KEY]
                assert not hub.can_resume(code, first or "")
            finally:
                for client in clients:
                    await client.close()

    run_with_teachers(attack, tmp_path, ServerLimits(max_sessions=4, sessions_per_address=6))


def test_outside_a_room_the_broken_session_is_closed(tmp_path: Path) -> None:
    async def alone(base: str, context: Context) -> None:
        app, _, _ = context
        async with aiohttp.ClientSession() as http:
            phone = Client()
            clients = [phone]
            try:
                await phone.connect(http, base)
                token = await _hello(phone)
                first = phone.session
                black_hole(phone.pc)
                again = Client()
                clients.append(again)
                started = time.monotonic()
                await again.connect(http, base, resume=token)
                await again.wait_until(lambda: again.received >= 3, timeout=WAIT_S)
                sessions = app[SESSIONS_KEY]
                await again.wait_until(lambda: sessions.get(first or "") is None, timeout=WAIT_S)
                print(f"streaming again {time.monotonic() - started:.2f} s after the new offer")
            finally:
                for client in clients:
                    await client.close()

    run_with_teachers(alone, tmp_path)


async def _until(condition: Any, every_s: float = 0.05) -> None:
    while not condition():
        await asyncio.sleep(every_s)
