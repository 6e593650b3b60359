"""The "events" data channel: bad messages get an `error` reply and the session goes on; good
ones reach the engine; pause stops objects and speech until live again."""

from __future__ import annotations

import asyncio
import json

import aiohttp

from stream.app import ServerConfig, create_app
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving

DEADLINE_S = 60.0  # generous: only a broken server waits this long

BAD_MESSAGES: list[tuple[str | bytes, str]] = [
    ("garbage {{{", "bad_json"),
    (b"\xff\x00\x81", "bad_json"),
    ("[1, 2, 3]", "bad_message"),
    (json.dumps({"type": "launch", "target": "moon"}), "unknown_type"),
    (json.dumps({"type": "tap", "x": 2, "y": 0.5}), "bad_message"),
    (json.dumps({"type": "tap", "x": "left", "y": 0.5}), "bad_message"),
    (json.dumps({"type": "mode", "mode": "turbo"}), "bad_message"),
    (json.dumps({"type": "speech", "on": "yes"}), "bad_message"),
    (json.dumps({"type": "vocabulary"}), "bad_message"),
    (json.dumps({"type": "vocabulary", "theme": "dinosaurs"}), "unknown_theme"),
    (json.dumps({"type": "vocabulary", "words": " , ;, "}), "bad_vocabulary"),
    (json.dumps({"type": "vocabulary", "words": "x" * 20_000}), "too_large"),
    ("y" * 40_000, "too_large"),
]


def test_bad_messages_get_error_replies_and_the_session_goes_on() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.1)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client()
            try:
                await client.connect(http, base)
                await client.wait_for("hello", timeout=DEADLINE_S)
                await client.wait_until(lambda: client.received >= 3, timeout=DEADLINE_S)
                for raw, _ in BAD_MESSAGES:
                    client.send(raw)
                await client.wait_until(
                    lambda: len(client.of_type("error")) >= len(BAD_MESSAGES), timeout=DEADLINE_S
                )
                codes = [m["code"] for m in client.of_type("error")]
                assert codes == [code for _, code in BAD_MESSAGES]
                assert all(m["message"] for m in client.of_type("error"))
                theme_error = client.of_type("error")[9]["message"]
                assert "animals" in theme_error, "the reply names the known themes"

                # still alive: video keeps coming, stats keep coming, good messages work
                frames, stats = client.received, len(client.of_type("stats"))
                client.send({"type": "vocabulary", "words": "apple, teddy bear"})
                client.send({"type": "tap", "x": 0.5, "y": 0.25})
                client.send({"type": "speech", "on": False})
                await client.wait_until(
                    lambda: client.received >= frames + 15 and len(client.of_type("stats")) > stats,
                    timeout=DEADLINE_S,
                )
                await client.wait_for(
                    "stats",
                    lambda m: m["vocabulary"] == ["apple", "teddy bear"],
                    timeout=DEADLINE_S,
                )
                session_id = client.session
                assert ("tap", session_id, (0.5, 0.25)) in engine.calls
                assert ("speech", session_id, False) in engine.calls
                assert len(app[SESSIONS_KEY]) == 1
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))


def test_pause_stops_objects_and_speech_until_live_again() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.1)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client()
            try:
                await client.connect(http, base)
                await client.wait_for("objects", timeout=DEADLINE_S)
                client.send({"type": "mode", "mode": "pause"})
                # the channel is ordered: once the reply to a message sent after the pause is
                # here, so is every message the server sent before it took the pause
                client.send({"type": "after-pause"})
                await client.wait_for("error", lambda m: m["code"] == "unknown_type", DEADLINE_S)
                session = app[SESSIONS_KEY].get(client.session or "")
                assert session is not None and session.paused
                frozen = session.latest
                objects = len(client.of_type("objects"))
                # new words would normally resend objects at once; not while paused
                client.send({"type": "vocabulary", "theme": "animals"})
                frames = client.received
                # a while later: the new words were taken, the engine worked on later frames
                # and 15 more frames came back, all without a new `objects` or overlay
                processed = engine.stats()["processed"]
                await client.wait_until(
                    lambda: (
                        client.received >= frames + 15
                        and engine.stats()["processed"] > processed
                        and ("vocabulary", session.id, ("cat", "dog")) in engine.calls
                    ),
                    timeout=DEADLINE_S,
                )
                assert len(client.of_type("objects")) == objects
                assert session.latest is frozen, "the overlay is frozen"
                assert ("paused", session.id, True) in engine.calls

                client.send({"type": "mode", "mode": "live"})
                await client.wait_until(
                    lambda: len(client.of_type("objects")) > objects, timeout=DEADLINE_S
                )
                assert ("paused", session.id, False) in engine.calls
                assert engine.calls[-1] == ("everything", session.id, False)

                # "everything": live, and keyframes segment everything
                client.send({"type": "mode", "mode": "everything"})
                await client.wait_until(
                    lambda: ("everything", session.id, True) in engine.calls, timeout=DEADLINE_S
                )
                assert not session.paused
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))
