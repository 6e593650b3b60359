"""Logs carry no addresses: a whole lesson's requests (a phone in a room with the fake engine,
a teacher logging in and making the room, the class screen's page, a snapshot, a photo upload)
run against the app as `serve` runs it (its runner options and logging setup), and no log record
at INFO or above holds a client address (the TCP peer's or the one in X-Forwarded-For), the
room's code or the User-Agent. Then the trusted-proxy rule: a trusted peer's X-Forwarded-For
is the address the limits count, anybody else's is ignored."""

from __future__ import annotations

import asyncio
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.teachers import TeacherStore
from stream.edge.access_log import RUNNER_OPTIONS
from stream.edge.client_address import address_key, client_address, parse_trusted_proxies
from stream.edge.limits import ServerLimits
from stream.edge.network import NetworkSettings
from stream.photos.library_settings import PhotoLibrarySettings
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, photo, serving
from tests.support.teachers import FAST
from visionanything.cli import QUIET_LOGGERS, quiet_address_loggers

CLIENT = "203.0.113.77"  # what the phone's proxy says (TEST-NET-3)
AGENT = "ProbeBrowser/9.9 (ChildTablet; rv:42)"
WEB_DIR = Path(__file__).resolve().parents[3] / "web"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        formatter = logging.Formatter("%(name)s %(message)s")
        return [formatter.format(record) for record in self.records]


@dataclass
class Lesson:
    code: str
    statuses: dict[str, int]
    records: list[logging.LogRecord]
    texts: list[str]


@pytest.fixture(scope="module")
def lesson(tmp_path_factory: pytest.TempPathFactory) -> Lesson:
    """A lesson's requests against the app as `serve` runs it; every record at INFO and above,
    with the loggers set as `visionanything serve` sets them (restored afterwards)."""
    tmp_path = tmp_path_factory.mktemp("lesson")
    root = logging.getLogger()
    names = (*QUIET_LOGGERS, "aiohttp.server", "")
    saved = {name: logging.getLogger(name).level for name in names}
    handler = _Records()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet_address_loggers()
    try:
        code, statuses = _run_lesson(tmp_path)
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    return Lesson(code, statuses, handler.records, handler.texts())


def _config(tmp_path: Path, trusted_proxies: tuple[str, ...] = (), **limits: Any) -> ServerConfig:
    store = TeacherStore(tmp_path / "teachers.json", hasher=FAST)
    store.add("lee", "correct horse")
    return ServerConfig(
        web_dir=WEB_DIR,
        limits=ServerLimits(max_sessions=3, **limits),
        network=NetworkSettings(trusted_proxies=trusted_proxies),
        classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"),
        photo_library=PhotoLibrarySettings(directory=tmp_path / "snapshots"),
    )


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(photo("coffee", 160, 120)).save(buffer, "JPEG")
    return buffer.getvalue()


def _run_lesson(tmp_path: Path) -> tuple[str, dict[str, int]]:
    headers = {"User-Agent": AGENT, "X-Forwarded-For": CLIENT}
    statuses: dict[str, int] = {}

    async def lesson() -> str:
        app = create_app(
            _config(tmp_path, trusted_proxies=("127.0.0.0/8", "::1/128")),
            engine=FakeEngine(delay_s=0.05),
        )
        async with serving(app, **RUNNER_OPTIONS) as base:
            jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1
            teacher = aiohttp.ClientSession(cookie_jar=jar, headers=headers)
            anonymous = aiohttp.ClientSession(headers=headers)
            phone, screen = Client(photo("chelsea")), Client(photo("coffee"))
            async with teacher, anonymous:
                try:
                    login = {"name": "lee", "password": "correct horse"}
                    async with teacher.post(f"{base}/api/login", json=login) as r:
                        assert r.status == 200
                    async with teacher.post(f"{base}/api/rooms", json={}) as r:
                        assert r.status == 201
                        code: str = (await r.json())["code"]
                    await phone.connect(anonymous, base, room=code)
                    await phone.wait_for("objects", timeout=60)
                    # the teacher shows the phone and opens the class screen, which connects
                    shown = f"{base}/api/rooms/{code}/presenter"
                    async with teacher.post(shown, json={"session": phone.session}) as r:
                        statuses["presenter"] = r.status
                    async with teacher.post(f"{base}/api/rooms/{code}/screens", json={}) as r:
                        statuses["screen key"] = r.status
                        key = (await r.json())["token"]
                    await screen.connect(anonymous, base, room=code, role="viewer", screen=key)
                    await screen.wait_for("room", timeout=60)
                    for name, url in (
                        ("room", f"/api/rooms/{code}"),
                        ("qr", f"/api/rooms/{code}/qr.png"),
                        ("screen", f"/room/{code}/screen"),
                        ("missing", "/room/ZZZZZZ/nowhere"),
                    ):
                        async with anonymous.get(base + url) as r:
                            statuses[name] = r.status
                    async with anonymous.post(f"{base}/api/nothing/ZZZZZZ", json={}) as r:
                        statuses["no route"] = r.status
                    phone.send({"type": "snapshot"})
                    await phone.wait_until(
                        lambda: (
                            any(str(m.get("type")).startswith("snapshot") for m in phone.messages)
                            or bool(phone.of_type("error"))
                        ),
                        timeout=60,
                    )
                    async with teacher.post(f"{base}/api/rooms/{code}/snapshot", json={}) as r:
                        statuses["projector snapshot"] = r.status
                    async with teacher.get(f"{base}/api/snapshots") as r:
                        statuses["library"] = r.status
                    form = aiohttp.FormData()
                    form.add_field("image", _jpeg(), filename="cup.jpg", content_type="image/jpeg")
                    form.add_field("words", "cup")
                    async with anonymous.post(f"{base}/api/segment", data=form) as r:
                        statuses["photo"] = r.status
                finally:
                    await screen.close()
                    await phone.close()
        return code

    code = asyncio.run(asyncio.wait_for(lesson(), 180))
    return code, statuses


def test_a_lesson_leaves_no_address_or_user_agent_in_the_log(lesson: Lesson) -> None:
    assert lesson.statuses["missing"] == 404 and lesson.statuses["library"] == 200
    assert lesson.statuses["presenter"] == 200 and lesson.statuses["screen key"] == 201
    for needle in ("127.0.0.1", "::1", CLIENT, "ProbeBrowser", "ChildTablet"):
        leaks = [text for text in lesson.texts if needle in text]
        assert not leaks, f"{needle!r} in the log: {leaks[:3]}"


def test_a_lesson_leaves_no_room_code_in_the_log(lesson: Lesson) -> None:
    leaks = [text for text in lesson.texts if lesson.code in text]
    assert not leaks, f"the room code in the log: {leaks[:3]}"


def test_the_access_log_names_the_client_by_pseudonym_and_the_route_by_pattern(
    lesson: Lesson,
) -> None:
    assert not [r for r in lesson.records if r.name == "aiohttp.access"]
    lines = [r.getMessage() for r in lesson.records if r.name == "visionanything.access"]
    assert any(" GET /api/rooms/{code} " in line for line in lines), lines
    assert any(" GET /room/{code}/screen " in line for line in lines), lines
    assert any(" POST /api/offer 200 " in line for line in lines), lines
    assert any(" GET /{static} 404 " in line for line in lines), lines
    assert any(f" POST - {lesson.statuses['no route']} " in line for line in lines), lines
    names = {line.split()[0] for line in lines}
    assert len(names) == 1 and re.fullmatch(r"client-[0-9a-f]{8}", names.pop())


def _offers(tmp_path: Path, trusted: tuple[str, ...]) -> list[int]:
    """Statuses of offers from one TCP peer (127.0.0.1) claiming X-Forwarded-For A, A, A, B
    under a limit of 2 offers a minute per address. Bodies are empty JSON: the limit is
    checked before the body is read (400 when allowed, 429 when not)."""

    async def run() -> list[int]:
        here = tmp_path / f"server-{len(list(tmp_path.iterdir()))}"
        here.mkdir()
        app = create_app(
            _config(here, offers_per_minute=2, trusted_proxies=trusted), engine=FakeEngine()
        )
        statuses = []
        async with serving(app, **RUNNER_OPTIONS) as base, aiohttp.ClientSession() as http:
            for forwarded in ("198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2"):
                headers = {"X-Forwarded-For": f"10.9.9.9, {forwarded}"}
                async with http.post(f"{base}/api/offer", json={}, headers=headers) as r:
                    statuses.append(r.status)
        return statuses

    return asyncio.run(asyncio.wait_for(run(), 60))


def test_a_trusted_proxys_forwarded_address_is_what_the_limit_counts(tmp_path: Path) -> None:
    assert _offers(tmp_path, ("127.0.0.1/32",)) == [400, 400, 429, 400]


def test_an_untrusted_peers_forwarded_for_is_ignored(tmp_path: Path) -> None:
    assert _offers(tmp_path, ()) == [400, 400, 429, 429]
    assert _offers(tmp_path, ("10.0.0.0/8",)) == [400, 400, 429, 429]  # the peer is not in it


def test_the_client_is_the_right_most_untrusted_hop() -> None:
    trusted = parse_trusted_proxies(["10.0.0.0/8", "2001:db8::/32"])
    assert client_address("10.0.0.5", ["1.2.3.4, 10.0.0.7"], trusted) == "1.2.3.4"
    # a client's own header in front of the proxy's hop proves nothing
    assert client_address("10.0.0.5", ["6.6.6.6, 1.2.3.4"], trusted) == "1.2.3.4"
    assert client_address("10.0.0.5", ["6.6.6.6", "1.2.3.4"], trusted) == "1.2.3.4"
    assert client_address("10.0.0.5", [], trusted) == "10.0.0.5"
    assert client_address("10.0.0.5", ["garbage, 10.0.0.9"], trusted) == "10.0.0.9"
    assert client_address("10.0.0.5", ["[2001:db8::1]:443, ::ffff:1.2.3.4"], trusted) == "1.2.3.4"
    assert client_address("192.0.2.1", ["1.2.3.4"], trusted) == "192.0.2.1"
    assert client_address("2001:db8::9", ["5.6.7.8:1234"], trusted) == "5.6.7.8"
    with pytest.raises(ValueError, match="--trusted-proxy 'nope'"):
        parse_trusted_proxies(["nope"])
    with pytest.raises(ValueError, match="trusted-proxy"):
        NetworkSettings(trusted_proxies=("10.0.0.0/33",))


def test_limits_count_an_ipv6_client_by_its_64_network() -> None:
    # one home network gets a whole /64: picking another address in it must not reset a limit
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:1.2.3.4") == address_key("1.2.3.4") == "1.2.3.4"
    assert address_key("1.2.3.4") != address_key("1.2.3.5")
    assert address_key("unix-socket") == "unix-socket"
