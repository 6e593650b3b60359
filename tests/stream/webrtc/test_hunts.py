""" "Find it!" over the data channel with a scripted engine: the prompt, a one-frame flicker that
is not a find, a steady sighting that is, skip, stop, the child's language, and the refusals."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from inference.labels.languages import available_languages, load_language
from stream.app import ServerConfig, create_app
from stream.webrtc import protocol, wire
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving

DEADLINE_S = 60.0  # generous: only a broken server waits this long


def _run(test: Callable[[Client, FakeEngine], Awaitable[None]]) -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        engine.show()  # an empty table until the test puts something on it
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client()
            try:
                await client.connect(http, base)
                await client.wait_for("hello", timeout=DEADLINE_S)
                await test(client, engine)
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))


async def _results(client: Client, count: int) -> None:
    """Wait until `count` more `stats` show more processed frames (results went by)."""
    start = client.of_type("stats")[-1]["frames_processed"] if client.of_type("stats") else 0
    await client.wait_for(
        "stats", lambda m: m["frames_processed"] >= start + count, timeout=DEADLINE_S
    )


def test_a_steady_cup_is_found_a_flicker_is_not_and_skip_finishes_the_hunt() -> None:
    async def test(client: Client, engine: FakeEngine) -> None:
        client.send({"type": "hunt", "action": "start", "words": "cup, banana"})
        asking = await client.wait_for("hunt", timeout=DEADLINE_S)
        assert asking["state"] == "looking" and asking["word"] == "cup"
        assert asking["prompt"] == "Can you find a cup?" and asking["letter"] == "C"
        assert asking["hint"] == "It starts with C." and asking["total"] == 2
        assert asking["colour_hint"] is None, "a cup has no colour a child can expect"
        assert (asking["position"], asking["found"]) == (0, [])

        engine.flash("cup")  # one frame with a cup in it, then nothing
        await _results(client, 25)  # over a second of results at 20 per second
        assert len(client.of_type("hunt")) == 1, "a one-frame flicker is never a find"

        engine.show("cup", "cat")
        found = await client.wait_for("hunt", lambda m: m["state"] == "found", timeout=DEADLINE_S)
        assert found["just_found"]["word"] == "cup"
        assert found["just_found"]["say"] == "You found a cup!"
        assert found["just_found"]["object"] == 1, "the cup's track id, to light up its mask"
        assert found["word"] == "banana" and found["prompt"] == "Can you find a banana?"
        assert found["found"] == [{"word": "cup", "name": "cup"}] and found["position"] == 1
        assert not client.of_type("say"), "the hunt's words are not talked over"

        client.send({"type": "hunt", "action": "skip"})
        done = await client.wait_for("hunt", lambda m: m["state"] == "finished", timeout=DEADLINE_S)
        assert done["word"] is None and done["skipped"] == [{"word": "banana", "name": "banana"}]
        client.send({"type": "hunt", "action": "stop"})
        refused = await client.wait_for("error", timeout=DEADLINE_S)
        assert refused["code"] == "no_hunt"
        # the hunt is over: the announcer speaks again
        engine.show("cat")
        said = await client.wait_for("say", timeout=DEADLINE_S)
        assert said["text"] == "That's a cat!"

    _run(test)


def test_a_theme_hunt_in_random_order_stops_with_one_message() -> None:
    async def test(client: Client, engine: FakeEngine) -> None:
        client.send({"type": "hunt", "action": "start", "theme": "fruit", "order": "random"})
        asking = await client.wait_for("hunt", timeout=DEADLINE_S)
        assert asking["total"] == 14 and asking["state"] == "looking"
        await client.wait_for("stats", lambda m: "banana" in m["vocabulary"], timeout=DEADLINE_S)
        client.send({"type": "hunt", "action": "stop"})
        stopped = await client.wait_for(
            "hunt", lambda m: m["state"] == "stopped", timeout=DEADLINE_S
        )
        assert stopped["word"] is None and stopped["position"] == 0
        engine.show(asking["word"])
        await _results(client, 30)
        assert [m["state"] for m in client.of_type("hunt")] == ["looking", "stopped"]

    _run(test)


def test_the_hunt_the_badges_and_the_speech_follow_the_childs_language() -> None:
    async def test(client: Client, engine: FakeEngine) -> None:
        client.send({"type": "language", "language": "fr"})
        told = await client.wait_for("language", timeout=DEADLINE_S)
        assert told["language"] == "fr" and told["name"] == "Français"
        fruit = next(t for t in told["catalogue"]["themes"] if t["name"] == "fruit")
        assert {"word": "strawberry", "name": "fraise"}.items() <= next(
            w for w in fruit["words"] if w["word"] == "strawberry"
        ).items()
        client.send({"type": "hunt", "action": "start", "words": "banana"})
        asking = await client.wait_for("hunt", timeout=DEADLINE_S)
        assert asking["word"] == "banana" and asking["name"] == "banane"
        assert asking["colour_hint"] == "C'est jaune."  # the fruit theme knows bananas are yellow
        assert asking["prompt"] == "Tu peux trouver une banane\u00a0?" and asking["letter"] == "B"
        engine.show("banana")
        found = await client.wait_for(
            "hunt", lambda m: m["state"] == "finished", timeout=DEADLINE_S
        )
        assert found["just_found"]["say"] == "Tu as trouvé une banane\u00a0!"
        objects = await client.wait_for("objects", lambda m: bool(m["objects"]), DEADLINE_S)
        assert objects["objects"][0]["label"] == "banana", "the detector still hears English"
        assert objects["objects"][0]["say"] == "banane"

        client.send({"type": "language", "language": "es"})
        await client.wait_for("language", lambda m: m["language"] == "es", DEADLINE_S)
        again = await client.wait_for("hunt", lambda m: "plátano" in str(m), DEADLINE_S)
        assert again["state"] == "finished" and again["found"][0]["name"] == "plátano"
        spoken = await client.wait_for("say", timeout=DEADLINE_S)
        assert spoken["text"] == "¡Es un plátano!"

        client.send({"type": "language", "language": "tlh"})
        refused = await client.wait_for("error", timeout=DEADLINE_S)
        assert refused["code"] == "unknown_language" and "fr" in refused["message"]

    _run(test)


def test_bad_hunt_messages_get_clear_errors_and_the_session_goes_on() -> None:
    async def test(client: Client, engine: FakeEngine) -> None:
        bad: list[tuple[dict[str, Any], str]] = [
            ({"type": "hunt"}, "bad_message"),
            ({"type": "hunt", "action": "dance"}, "bad_message"),
            ({"type": "hunt", "action": "start", "order": "backwards"}, "bad_message"),
            ({"type": "hunt", "action": "start", "theme": "dinosaurs"}, "unknown_theme"),
            ({"type": "hunt", "action": "start", "words": " , ; "}, "bad_vocabulary"),
            ({"type": "hunt", "action": "skip"}, "no_hunt"),
            ({"type": "language", "language": 7}, "bad_message"),
        ]
        for message, _ in bad:
            client.send(message)
        await client.wait_until(
            lambda: len(client.of_type("error")) >= len(bad), timeout=DEADLINE_S
        )
        assert [m["code"] for m in client.of_type("error")] == [code for _, code in bad]
        assert not client.of_type("hunt")
        client.send({"type": "hunt", "action": "start"})  # the words in force
        asking = await client.wait_for("hunt", timeout=DEADLINE_S)
        assert asking["state"] == "looking" and asking["total"] >= 1

    _run(test)


def test_every_languages_message_leaves_room_under_the_message_cap() -> None:
    """A `language` message must go out whole (a message over the cap cannot be sent at all):
    every shipped language keeps a quarter of the cap free for the words still to come."""
    for code in available_languages():
        text = protocol.encode("language", **wire.language_fields(load_language(code)))
        size = len(text.encode("utf-8"))
        assert size <= protocol.MAX_MESSAGE_BYTES * 3 // 4, (code, size)
        catalogue = json.loads(text)["catalogue"]
        assert catalogue["page"] and all(t["words"] for t in catalogue["themes"]), code
