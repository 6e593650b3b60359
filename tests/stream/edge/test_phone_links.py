"""Links phones can open, and honest demo mode, on the server side: `--public-url` checking,
the origin room links use (`PhoneOrigin`), the join link and its QR code from a teacher on
"localhost" (the QR decoded with OpenCV), the serve banner (no QR code for a page without the
camera, how to get the real weights, teacher commands that work as typed) and `/api/status`."""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from inference.models import Models
from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.teachers import TeacherStore
from stream.edge.network import NetworkSettings
from stream.edge.urls import PhoneOrigin, banner, is_loopback_host, parse_public_url, phone_hosts
from stream.webrtc.engine_slot import EngineSlot
from tests.support.fake_engine import FakeEngine
from tests.support.qr_codes import decode_qr
from tests.support.rtc_client import serving
from tests.support.teachers import FAST
from visionanything.cli import build_parser
from visionanything.commands.serve import EXIT_USAGE, run
from visionanything.commands.serve_hints import cli_command, teacher_hint

LAN = "192.168.7.23"


# -- --public-url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://va.school.org", "https://va.school.org"),
        ("https://VA.School.org/", "https://va.school.org"),
        ("  https://va.school.org:8443/ ", "https://va.school.org:8443"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
        ("https://[fd00::5]:8443", "https://[fd00::5]:8443"),
    ],
)
def test_a_public_url_is_kept_as_its_origin(given: str, kept: str) -> None:
    assert parse_public_url(given) == kept
    assert NetworkSettings(public_url=given).public_url == kept


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("va.school.org", "https://"),
        ("ftp://va.school.org", "https://"),
        ("https://", "no host"),
        ("https://lee:secret@va.school.org", "user name"),
        ("https://va.school.org/va", "path"),
        ("https://va.school.org/?room=ABC", "path"),
        ("https://va.school.org/#x", "path"),
        ("https://va.school.org:99999", "port"),
        ("https://localhost:8443", "phones cannot open"),
        ("https://127.0.0.1", "phones cannot open"),
        ("https://[::1]:8443", "phones cannot open"),
        ("https://0.0.0.0", "phones cannot open"),
        ("https://va school.org", "without spaces"),
        ("", "without spaces"),
    ],
)
def test_a_bad_public_url_is_refused_with_the_reason(given: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        parse_public_url(given)
    assert str(refused.value).startswith("--public-url")
    with pytest.raises(ValueError, match=why):
        NetworkSettings(public_url=given)


def test_serve_stops_on_a_bad_public_url_before_listening(caplog: pytest.LogCaptureFixture) -> None:
    args = build_parser().parse_args(
        ["serve", "--http", "--port", "0", "--public-url", "https://localhost/"]
    )
    assert run(args) == EXIT_USAGE
    assert "phones cannot open localhost" in caplog.text
    args = build_parser().parse_args(["serve", "--public-url", "https://va.school.org"])
    assert args.public_url == "https://va.school.org"


# -- which origin the join link uses ------------------------------------------------------------


def test_loopback_names() -> None:
    for host in ("localhost", "LOCALHOST.", "app.localhost", "127.0.0.1", "127.9.9.9", "::1"):
        assert is_loopback_host(host), host
    for host in ("[::1]", "0.0.0.0", "::"):
        assert is_loopback_host(host), host
    for host in (LAN, "va.school.org", "fd00::5", "10.0.0.1", "localhost.school.org"):
        assert not is_loopback_host(host), host


def test_phones_reach_the_lan_addresses_of_where_the_server_listens() -> None:
    assert phone_hosts("0.0.0.0", [LAN, "10.0.0.2"]) == [LAN, "10.0.0.2"]
    assert phone_hosts("::", [LAN]) == [LAN]
    assert phone_hosts("10.1.2.3", [LAN]) == ["10.1.2.3"]
    assert phone_hosts("127.0.0.1", [LAN]) == []  # --http's default: nobody else can reach it
    assert phone_hosts("localhost", [LAN]) == []


def test_the_join_origin_is_never_localhost_unless_that_is_all_there_is() -> None:
    lan = PhoneOrigin(lan_hosts=(LAN, "10.0.0.2"))
    assert lan.origin("https", "localhost", 8443) == f"https://{LAN}:8443"
    assert lan.origin("http", "127.0.0.1", 8080) == f"http://{LAN}:8080"
    assert lan.origin("https", "::1", 8443) == f"https://{LAN}:8443"
    assert lan.origin("https", "[::1]", None) == f"https://{LAN}"
    # a teacher who reached the server over the network: phones can use the same address
    assert lan.origin("https", "10.0.0.2", 8443) == "https://10.0.0.2:8443"
    assert lan.origin("https", "va.local", 8443) == "https://va.local:8443"
    # an IPv6 LAN address is bracketed
    assert PhoneOrigin(lan_hosts=("fd00::5",)).origin("https", "localhost", 8443) == (
        "https://[fd00::5]:8443"
    )
    # the public URL wins over everything
    public = PhoneOrigin(public_url="https://va.school.org", lan_hosts=(LAN,))
    for host in ("localhost", LAN, "va.local"):
        assert public.origin("http", host, 8080) == "https://va.school.org"
    # no network address at all: localhost is all there is
    assert PhoneOrigin().origin("http", "localhost", 8080) == "http://localhost:8080"


# -- the room API: join link and QR code ---------------------------------------------------------


def _config(tmp_path: Path, random_weights: bool | None = None, **network: Any) -> ServerConfig:
    teachers = tmp_path / "teachers.json"
    if not teachers.exists():
        TeacherStore(teachers, hasher=FAST).add("lee", "correct horse")
    return ServerConfig(
        random_weights=random_weights,
        network=NetworkSettings(**network),
        classroom=ClassroomSettings(teachers_file=teachers),
    )


def _with_server(
    config: ServerConfig,
    test: Callable[[str, aiohttp.ClientSession], Awaitable[None]],
    engine: Any = None,
) -> None:
    async def main() -> None:
        app = create_app(config, engine=engine or FakeEngine(delay_s=0.05))
        async with serving(app) as base:
            jar = aiohttp.CookieJar(unsafe=True)  # cookies for an IP address host
            async with aiohttp.ClientSession(cookie_jar=jar) as http:
                await test(base, http)

    asyncio.run(asyncio.wait_for(main(), 60))


async def _room_from(base: str, http: aiohttp.ClientSession, host: str) -> dict[str, Any]:
    """Log in and create a room the way a teacher's browser at `host` does (its Host header)."""
    headers = {"Host": host, "Origin": f"http://{host}"}
    async with http.post(
        f"{base}/api/login", json={"name": "lee", "password": "correct horse"}, headers=headers
    ) as response:
        assert response.status == 200, await response.text()
    async with http.post(f"{base}/api/rooms", json={}, headers=headers) as response:
        assert response.status == 201, await response.text()
        room: dict[str, Any] = await response.json()
    return room


def test_a_room_made_on_localhost_links_phones_to_the_lan_address(tmp_path: Path) -> None:
    async def check(base: str, http: aiohttp.ClientSession) -> None:
        port = int(base.rsplit(":", 1)[1])
        room = await _room_from(base, http, f"localhost:{port}")
        code = room["code"]
        assert room["join_url"] == f"http://{LAN}:{port}/?room={code}"
        # the teacher's own links stay on the teacher's origin, where the login cookie lives
        assert room["teacher_url"] == f"http://localhost:{port}/room/{code}/teacher"
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):  # teacher page, projector
            async with http.get(f"{base}/api/rooms/{code}", headers={"Host": host}) as r:
                assert (await r.json())["join_url"] == room["join_url"]
            async with http.get(f"{base}/api/rooms/{code}/qr.png", headers={"Host": host}) as r:
                assert r.status == 200 and r.content_type == "image/png"
                assert decode_qr(await r.read()) == room["join_url"]

    _with_server(_config(tmp_path, lan_hosts=(LAN, "10.0.0.2")), check)


def test_a_public_url_is_what_the_join_link_and_qr_code_say(tmp_path: Path) -> None:
    async def check(base: str, http: aiohttp.ClientSession) -> None:
        port = int(base.rsplit(":", 1)[1])
        room = await _room_from(base, http, f"localhost:{port}")
        code = room["code"]
        assert room["join_url"] == f"https://va.school.org/?room={code}"
        async with http.get(f"{base}/api/rooms/{code}/qr.png") as response:
            assert decode_qr(await response.read()) == f"https://va.school.org/?room={code}"

    config = _config(tmp_path, lan_hosts=(LAN,), public_url="https://va.school.org/")
    _with_server(config, check)


# -- /api/status: the demo badge's answer ---------------------------------------------------------


def _status_of(config: ServerConfig, engine: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {}

    async def check(base: str, http: aiohttp.ClientSession) -> None:
        async with http.get(f"{base}/api/status") as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            answer.update(await response.json())

    _with_server(config, check, engine)
    return answer


def _engine_with(random: bool) -> FakeEngine:
    engine = FakeEngine(delay_s=0.05)
    engine.models = cast("Models", types.SimpleNamespace(random=random))  # only .random is read
    return engine


def test_status_says_demo_from_the_engine_else_from_the_config(tmp_path: Path) -> None:
    assert _status_of(_config(tmp_path), _engine_with(True)) == {
        "demo": True,
        "ready": True,
        "loading": None,  # loaded: nothing to wait for (tests/stream/edge/test_loading_status.py)
        "building": [],
    }
    assert _status_of(_config(tmp_path), _engine_with(False))["demo"] is False
    # the engine knows best: "random" asked for but checkpoints loaded is not a demo
    assert _status_of(_config(tmp_path, random_weights=True), _engine_with(False))["demo"] is False
    # an engine without models (the fake) leaves it to what serve was told
    assert _status_of(_config(tmp_path, random_weights=True), FakeEngine())["demo"] is True
    assert _status_of(_config(tmp_path), FakeEngine())["demo"] is None


def test_while_the_models_load_the_declared_weights_answer() -> None:
    slot = EngineSlot(None, lambda: FakeEngine(), None, declared_random=True)
    assert slot.random_weights() is True  # serve --models random: the badge shows at once
    assert EngineSlot(None, lambda: FakeEngine(), None).random_weights() is None
    slot.engine = _engine_with(False)
    assert slot.random_weights() is False


# -- the serve banner ------------------------------------------------------------------------


def test_the_banner_shows_a_qr_code_only_for_a_page_with_the_camera() -> None:
    lan_url = f"https://{LAN}:8443/"
    shown = banner(["https://localhost:8443/", lan_url], https=True)
    assert f"Scan to open {lan_url}" in shown and "Phones need HTTPS" not in shown
    # --http on the LAN: the phone would open the page, not the camera
    shown = banner(["http://localhost:8080/", f"http://{LAN}:8080/"], https=False)
    assert "Scan to open" not in shown and "█" not in shown
    assert "Phones need HTTPS for the camera" in shown and "without --http" in shown
    # --http on this machine only: no QR code, no LAN advice beyond dropping --http
    shown = banner(["http://127.0.0.1:8080/"], https=False)
    assert "Scan to open" not in shown and "drop --http" in shown
    # a public URL is what phones scan
    shown = banner(
        ["https://localhost:8443/", lan_url], https=True, public_url="https://va.school.org"
    )
    assert "Scan to open https://va.school.org/ on a phone" in shown
    shown = banner(["https://localhost:8443/"], https=True, public_url="http://va.school.org")
    assert "Scan to open" not in shown and "https:// --public-url" in shown


def test_the_banner_says_demo_and_how_to_get_the_real_weights() -> None:
    urls = ["https://localhost:8443/"]
    assert "DEMO" not in banner(urls, https=True)
    shown = banner(urls, https=True, random_weights=True, cli=".venv/bin/visionanything")
    assert "DEMO MODE" in shown and "names are made up" in shown
    assert "`make weights`" in shown and "`.venv/bin/visionanything weights fetch`" in shown


def test_the_cli_is_named_the_way_it_can_be_typed_here(tmp_path: Path) -> None:
    script = tmp_path / ".venv" / "bin" / "visionanything"
    script.parent.mkdir(parents=True)
    script.write_text("")
    # after `make`: .venv/bin is not on the PATH
    assert cli_command(".venv/bin/visionanything", lambda _: None, tmp_path) == (
        ".venv/bin/visionanything"
    )
    assert cli_command(str(script), lambda _: "/usr/bin/visionanything", tmp_path) == (
        ".venv/bin/visionanything"
    )
    # an activated venv (or a container): the bare name is this program
    assert cli_command(".venv/bin/visionanything", lambda _: str(script), tmp_path) == (
        "visionanything"
    )
    elsewhere = tmp_path.parent / "other"
    assert cli_command(str(script), lambda _: None, elsewhere) == str(script)
    assert cli_command("/x/visionanything/__main__.py", lambda _: None, tmp_path).endswith(
        " -m visionanything"
    )


def test_the_teacher_hint_gives_commands_that_work_as_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISIONANYTHING_DATA_DIR", str(tmp_path / "data"))  # no real accounts
    makefile = tmp_path / "Makefile"
    makefile.write_text("serve: setup\n\nteacher: setup\n\t@true\n")
    cli = ".venv/bin/visionanything"
    own_file = ServerConfig(classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"))
    hint = teacher_hint(own_file, cli, makefile)
    assert hint is not None
    assert f"`{cli} teacher add NAME --file {tmp_path / 'teachers.json'}`" in hint
    assert "make teacher" not in hint  # the make target writes the default file, not this one
    default_file = ServerConfig()
    hint = teacher_hint(default_file, cli, makefile)
    assert hint is not None and "`make teacher NAME=lee`" in hint and f"`{cli} teacher add" in hint
    assert "make teacher" not in (teacher_hint(default_file, cli, tmp_path / "none") or "")
    TeacherStore(tmp_path / "teachers.json", hasher=FAST).add("lee", "correct horse")
    assert teacher_hint(own_file, cli, makefile) is None


def test_make_teacher_runs_teacher_add_from_the_venv() -> None:
    makefile = (Path(__file__).parents[3] / "Makefile").read_text()
    assert "\nteacher: setup\n" in makefile
    assert '$(BIN)/visionanything teacher add "$(NAME)"' in makefile
