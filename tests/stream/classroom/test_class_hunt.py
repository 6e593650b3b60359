"""A class "Find it!" hunt over real connections (aiortc on loopback, the scripted fake engine):
the teacher starts it for two phones and a class screen, each phone hunts the same words in the
same order, a find is news on the screen and progress on the teacher's page, the CSV has the
results; phones cannot start or stop it, strangers and other teachers cannot touch it."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.rooms import ROOMS_KEY
from stream.edge.limits import ServerLimits
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, photo, serving
from tests.support.teachers import log_in, post_json, teacher_store

WAIT_S = 60.0  # deadline for something that happens within a second or two on an idle machine


def _run(test: Callable[[str, Any, FakeEngine], Awaitable[None]], tmp_path: Path) -> None:
    store = teacher_store(tmp_path / "teachers.json", lee="correct horse", kim="battery staple")
    config = ServerConfig(
        limits=ServerLimits(max_sessions=4),
        classroom=ClassroomSettings(teachers_file=store.path),
    )

    async def main() -> None:
        engine = FakeEngine(delay_s=0.05)
        engine.show()  # empty tables until the test puts something on one
        app = create_app(config, engine=engine)
        async with serving(app) as base:
            await test(base, app, engine)

    asyncio.run(asyncio.wait_for(main(), 240))


def test_a_class_hunt_for_two_phones_and_a_screen(tmp_path: Path) -> None:
    async def lesson(base: str, app: Any, engine: FakeEngine) -> None:
        teacher = await log_in(base, "lee", "correct horse")
        phones = [Client(photo("coffee")), Client(photo("chelsea"))]
        screen = Client(photo("coffee"))
        async with teacher, aiohttp.ClientSession() as http:
            _, room = await post_json(teacher, f"{base}/api/rooms")
            code = room["code"]
            try:
                for phone in phones:
                    await phone.connect(http, base, room=code)
                    await phone.wait_for("hello", timeout=WAIT_S)
                second = phones[1].session or ""
                await post_json(teacher, f"{base}/api/rooms/{code}/phones/{second}/name",
                            {"name": "Table 3"})  # fmt: skip
                _, token = await app[ROOMS_KEY].mint_screen(code)
                await screen.connect(http, base, room=code, role="viewer", screen=token)

                # a phone cannot start a class hunt, nor stop one
                phones[0].send({"type": "hunt", "action": "start", "words": "sock"})
                refused = await phones[0].wait_for("error", timeout=WAIT_S)
                assert refused["code"] == "room_hunt"

                status, state = await post_json(
                    teacher,
                    f"{base}/api/rooms/{code}/hunt",
                    {"action": "start", "words": "cup, banana, apple", "order": "random"},
                )
                assert status == 200 and state["hunt"]["words"], state
                order = state["hunt"]["words"]
                assert sorted(order) == ["apple", "banana", "cup"]
                asked = [
                    await p.wait_for("hunt", lambda m: m["room"] is not None, timeout=WAIT_S)
                    for p in phones
                ]
                assert all(a["word"] == order[0] and a["total"] == 3 for a in asked), asked
                # the room's words are the hunt's: every phone's detector looks for them
                await phones[0].wait_for(
                    "stats", lambda m: sorted(m["vocabulary"]) == sorted(order), timeout=WAIT_S
                )

                # Table 3 finds the first word; the other phone's table stays empty
                engine.show_to(second, order[0])
                found = await phones[1].wait_for(
                    "hunt", lambda m: m["state"] == "found", timeout=WAIT_S
                )
                assert found["just_found"]["word"] == order[0] and found["word"] == order[1]
                news = await screen.wait_for("class_hunt", lambda m: "news" in m, WAIT_S)
                assert news["news"]["phone"] == second
                assert news["news"]["say"].startswith("Table 3 found ")
                standing = {p["id"]: p for p in news["phones"]}
                assert standing[second]["found"] == [order[0]]
                assert standing[second]["current"] == order[1]
                assert not [m for m in phones[0].of_type("hunt") if m["state"] == "found"]

                # the teacher sees it too, and puts the finder on the screen with one tap
                async with teacher.get(f"{base}/api/rooms/{code}") as response:
                    described = await response.json()
                finds = described["hunt"]["finds"]
                assert finds[0]["phone"] == second and finds[0]["name"] == "Table 3"
                status, state = await post_json(
                    teacher, f"{base}/api/rooms/{code}/presenter", {"session": finds[0]["phone"]}
                )
                assert status == 200 and state["presenting"] == second

                # a phone may skip a word of the class hunt
                phones[0].send({"type": "hunt", "action": "skip"})
                await phones[0].wait_for("hunt", lambda m: m["position"] == 1, WAIT_S)

                # the screen speaks the room's language
                status, _ = await post_json(
                    teacher, f"{base}/api/rooms/{code}/language", {"language": "fr"}
                )
                assert status == 200
                await phones[1].wait_for("language", lambda m: m["language"] == "fr", WAIT_S)
                engine.show_to(second, order[1])
                news = await screen.wait_for(
                    "class_hunt", lambda m: "news" in m and m["news"]["word"] == order[1], WAIT_S
                )
                assert news["news"]["say"].startswith("Table 3 a trouvé ")
                french = {"cup": "tasse", "banana": "banane", "apple": "pomme"}
                assert news["names"] == {word: french[word] for word in order}

                # a screen opened mid-game hears where the class stands at once
                late = Client()
                try:
                    _, token = await app[ROOMS_KEY].mint_screen(code)
                    await late.connect(http, base, room=code, role="viewer", screen=token)
                    board = await late.wait_for("class_hunt", timeout=WAIT_S)
                    assert board["words"] == order and "news" not in board
                    assert {p["id"]: p["found"] for p in board["phones"]}[second] == order[:2]
                finally:
                    await late.close()

                # the results, as a spreadsheet
                async with teacher.get(f"{base}/api/rooms/{code}/hunt.csv") as response:
                    assert response.status == 200 and response.content_type == "text/csv"
                    rows = list(csv.DictReader(io.StringIO(await response.text())))
                table3 = {r["word"]: r["result"] for r in rows if r["phone"] == "Table 3"}
                assert table3 == {order[0]: "found", order[1]: "found", order[2]: "not_yet"}
                phone1 = {r["word"]: r["result"] for r in rows if r["phone"] == "Phone 1"}
                assert phone1[order[0]] == "skipped"

                # the teacher stops it: every phone hears, and the results stay
                status, state = await post_json(teacher, f"{base}/api/rooms/{code}/hunt",
                                            {"action": "stop"})  # fmt: skip
                assert status == 200 and state["hunt"]["ended"] and state["hunt_words"] == []
                for phone in phones:
                    await phone.wait_for("hunt", lambda m: m["state"] == "stopped", WAIT_S)
                async with teacher.get(f"{base}/api/rooms/{code}/hunt.csv") as response:
                    assert response.status == 200
            finally:
                for client in (*phones, screen):
                    await client.close()

    _run(lesson, tmp_path)


def test_strangers_phones_and_other_teachers_cannot_run_a_hunt(tmp_path: Path) -> None:
    async def attack(base: str, app: Any, engine: FakeEngine) -> None:
        teacher = await log_in(base, "lee", "correct horse")
        other = await log_in(base, "kim", "battery staple")
        async with teacher, other, aiohttp.ClientSession() as stranger:
            _, room = await post_json(teacher, f"{base}/api/rooms")
            code = room["code"]
            start = {"action": "start", "theme": "fruit"}
            for http in (stranger, other):
                status, _ = await post_json(http, f"{base}/api/rooms/{code}/hunt", start)
                assert status in (401, 403, 404)
                status, _ = await post_json(http, f"{base}/api/rooms/{code}/language",
                                        {"language": "fr"})  # fmt: skip
                assert status in (401, 403, 404)
                async with http.get(f"{base}/api/rooms/{code}/hunt.csv") as response:
                    assert response.status in (401, 403, 404)
            # the teacher's own bad requests get clear reasons
            bad = [
                ({"action": "dance"}, "'start' or 'stop'"),
                ({"action": "start"}, "either 'words' or 'theme'"),
                ({"action": "start", "theme": "fruit", "order": "up"}, "'order'"),
                ({"action": "start", "theme": "dinosaurs"}, "fruit"),
            ]
            for body, reason in bad:
                status, answer = await post_json(teacher, f"{base}/api/rooms/{code}/hunt", body)
                assert status == 400 and reason in answer["error"], answer
            status, answer = await post_json(teacher, f"{base}/api/rooms/{code}/language",
                                         {"language": "tlh"})  # fmt: skip
            assert status == 400 and "fr" in answer["error"]
            async with teacher.get(f"{base}/api/rooms/{code}/hunt.csv") as response:
                assert response.status == 404  # no hunt yet
            assert app[ROOMS_KEY].find(code) is None or app[ROOMS_KEY].find(code).hunt is None

    _run(attack, tmp_path)
