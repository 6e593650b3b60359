"""Teacher login over HTTP: cookie flags, 401/429, /api/me, logout and the CSRF checks."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from argon2 import PasswordHasher

from stream.classroom.teacher_auth import (
    COOKIE_NAME,
    MAX_BODY_BYTES,
    TEACHER_AUTH_KEY,
    TeacherAuth,
    check_post,
)
from stream.classroom.teachers import TeacherStore
from tests.support.clocks import FakeClock

pytestmark = pytest.mark.timeout(30)

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
ALICE = {"name": "alice", "password": "correct horse"}
BOB = {"name": "bob", "password": "battery staple"}

Client = TestClient[web.Request, web.Application]
Scenario = Callable[[Client, TeacherAuth], Awaitable[None]]


def make_store(tmp_path: Path) -> TeacherStore:
    store = TeacherStore(tmp_path / "teachers.json", hasher=FAST_HASHER)
    store.add("alice", "correct horse", admin=True)
    store.add("bob", "battery staple")
    return store


def run(tmp_path: Path, scenario: Scenario, **options: Any) -> None:
    """Serve an app with TeacherAuth installed (plus two routes that use it) and run `scenario`."""
    auth = TeacherAuth(make_store(tmp_path), **{"secure_cookies": False, **options})

    async def secret(request: web.Request) -> web.Response:
        return web.json_response({"teacher": request.app[TEACHER_AUTH_KEY].require(request)})

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await check_post(request))

    async def main() -> None:
        app = web.Application()
        auth.install(app)
        app.router.add_get("/api/secret", secret)
        app.router.add_post("/api/echo", echo)
        async with TestClient(TestServer(app)) as client:
            await scenario(client, auth)

    asyncio.run(asyncio.wait_for(main(), 20))


async def error_of(response: Any, status: int) -> str:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    assert list(body) == ["error"]
    message: str = body["error"]
    return message


def set_cookie_header(response: Any) -> str:
    headers = [h for h in response.headers.getall("Set-Cookie") if h.startswith(COOKIE_NAME)]
    assert len(headers) == 1
    cookie: str = headers[0]
    return cookie


@pytest.mark.parametrize("secure", [False, True])
def test_login_sets_a_strict_httponly_cookie(tmp_path: Path, secure: bool) -> None:
    async def scenario(client: Client, _: TeacherAuth) -> None:
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 200
            assert await r.json() == {"name": "alice"}
            assert r.headers["Cache-Control"] == "no-store"
            cookie = set_cookie_header(r)
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert {"httponly", "path", "max-age"} <= attributes
        assert "SameSite=Strict" in cookie and "Path=/" in cookie
        assert "Max-Age=3600" in cookie
        assert ("secure" in attributes) is secure

    run(tmp_path, scenario, secure_cookies=secure, session_ttl_s=3600)


@pytest.mark.parametrize(
    "credentials",
    [
        {"name": "alice", "password": "wrong password"},
        {"name": "nobody", "password": "correct horse"},
        {"name": "alice", "password": ""},
        {"name": "bob", "password": "correct horse"},
    ],
)
def test_wrong_credentials_401(tmp_path: Path, credentials: dict[str, str]) -> None:
    async def scenario(client: Client, _: TeacherAuth) -> None:
        async with client.post("/api/login", json=credentials) as r:
            assert await error_of(r, 401) == "wrong name or password"
            assert "Set-Cookie" not in r.headers
        async with client.get("/api/me") as r:
            assert r.status == 401

    run(tmp_path, scenario)


def test_failed_login_is_logged_without_the_name_the_password_or_the_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(client: Client, _: TeacherAuth) -> None:
        async with client.post("/api/login", json={"name": "alice", "password": "s3cret-typo"}):
            pass
        # a password typed into the name field: never at INFO
        async with client.post("/api/login", json={"name": "hunter2-pw", "password": "x" * 8}):
            pass
        async with client.post("/api/login", json=ALICE):
            pass

    with caplog.at_level("INFO", logger="stream.classroom.teacher_auth"):
        run(tmp_path, scenario)
    assert caplog.text.count("failed teacher login") == 2
    assert "hunter2-pw" not in caplog.text
    assert "s3cret-typo" not in caplog.text and "correct horse" not in caplog.text
    assert "logged in" in caplog.text and "127.0.0.1" not in caplog.text  # addresses: debug


@pytest.mark.parametrize("last_is_right", [False, True])
def test_sixth_attempt_in_a_minute_is_429(tmp_path: Path, last_is_right: bool) -> None:
    clock = FakeClock()

    async def scenario(client: Client, _: TeacherAuth) -> None:
        for attempt in range(5):  # right and wrong alike count
            body = ALICE if attempt % 2 else {"name": "alice", "password": "wrong password"}
            async with client.post("/api/login", json=body) as r:
                assert r.status in (200, 401)
            clock.now += 1
        sixth = ALICE if last_is_right else {"name": "alice", "password": "nope nope"}
        async with client.post("/api/login", json=sixth) as r:
            assert "too many login attempts" in await error_of(r, 429)
            assert r.headers["Retry-After"] == "55"
        clock.now += 54  # 59 s after the first attempt: still refused
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "1"
        clock.now += 1  # the first attempt has left the window
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 200
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 429  # the second attempt is still inside it

    run(tmp_path, scenario, clock=clock)


@pytest.mark.parametrize(("name", "admin"), [("alice", True), ("bob", False)])
def test_me_and_logout(tmp_path: Path, name: str, admin: bool) -> None:
    password = {"alice": "correct horse", "bob": "battery staple"}[name]

    async def scenario(client: Client, _: TeacherAuth) -> None:
        async with client.get("/api/me") as r:
            assert await error_of(r, 401) == "teacher login required"
        async with client.get("/api/secret") as r:
            assert await error_of(r, 401) == "teacher login required"
        async with client.post("/api/login", json={"name": name, "password": password}) as r:
            assert r.status == 200
        async with client.get("/api/me") as r:
            assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
            assert await r.json() == {"name": name, "admin": admin}
        async with client.get("/api/secret") as r:
            assert await r.json() == {"teacher": name}
        token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[COOKIE_NAME].value
        async with client.post("/api/logout", json={}) as r:
            assert r.status == 200
            assert "max-age=0" in set_cookie_header(r).lower()
        async with client.get("/api/me") as r:
            assert r.status == 401
        # the old token is dead on the server, not only forgotten by this browser
        async with client.get("/api/me", cookies={COOKIE_NAME: token}) as r:
            assert r.status == 401

    run(tmp_path, scenario)


def test_session_expires_and_removed_teacher_loses_access(tmp_path: Path) -> None:
    clock = FakeClock()

    async def scenario(client: Client, auth: TeacherAuth) -> None:
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 200
        clock.now += 99
        async with client.get("/api/me") as r:
            assert r.status == 200
        clock.now += 1
        async with client.get("/api/me") as r:
            assert r.status == 401
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 200
        auth.store.remove("alice")
        async with client.get("/api/secret") as r:
            assert r.status == 401
        # an account added again under the same name: the old login stays dead
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 401
        auth.store.add("alice", ALICE["password"])
        async with client.get("/api/secret") as r:
            assert r.status == 401

    run(tmp_path, scenario, clock=clock, session_ttl_s=100)


def test_sessions_are_bounded(tmp_path: Path) -> None:
    async def scenario(client: Client, auth: TeacherAuth) -> None:
        async with client.post("/api/login", json=ALICE) as r:
            assert r.status == 200
        for _ in range(1000):  # the 1000 newer sessions push the first one out
            auth._open_session("bob")
        async with client.get("/api/me") as r:
            assert r.status == 401
        assert len(auth._sessions) == 1000

    run(tmp_path, scenario)


@pytest.mark.parametrize("path", ["/api/login", "/api/logout", "/api/echo"])
@pytest.mark.parametrize(
    ("request_options", "status", "message"),
    [
        ({"data": {"name": "alice", "password": "correct horse"}}, 415, "application/json"),
        ({"data": "{}", "headers": {"Content-Type": "text/plain"}}, 415, "application/json"),
        ({"json": {}, "headers": {"Origin": "https://evil.example"}}, 403, "cross-site"),
        ({"json": {}, "headers": {"Origin": "http://127.0.0.1:1"}}, 403, "cross-site"),
        ({"json": {}, "headers": {"Origin": "null"}}, 403, "cross-site"),
        ({"json": {"pad": "x" * MAX_BODY_BYTES}}, 413, "over 4096 bytes"),
        ({"data": "{nope", "headers": {"Content-Type": "application/json"}}, 400, "not valid"),
        ({"data": "", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
        ({"json": [1, 2]}, 400, "must be a JSON object"),
    ],
)
def test_post_checks(
    tmp_path: Path, path: str, request_options: dict[str, Any], status: int, message: str
) -> None:
    async def scenario(client: Client, _: TeacherAuth) -> None:
        async with client.post(path, **request_options) as r:
            assert message in await error_of(r, status)
            assert "Set-Cookie" not in r.headers

    run(tmp_path, scenario)


def test_post_checks_pass_same_origin_and_cap_chunked_bodies(tmp_path: Path) -> None:
    async def chunks(total: int) -> AsyncIterator[bytes]:
        yield b'{"pad": "'
        for _ in range(total // 100):
            yield b"x" * 100
        yield b'"}'

    async def scenario(client: Client, _: TeacherAuth) -> None:
        origin = str(client.make_url("/")).rstrip("/")
        async with client.post("/api/echo", json={"a": 1}, headers={"Origin": origin}) as r:
            assert r.status == 200 and await r.json() == {"a": 1}
        async with client.post("/api/login", json=ALICE, headers={"Origin": origin}) as r:
            assert r.status == 200
        json_type = {"Content-Type": "application/json; charset=utf-8"}
        async with client.post("/api/echo", data=chunks(1000), headers=json_type) as r:
            assert r.status == 200 and len((await r.json())["pad"]) == 1000
        async with client.post("/api/echo", data=chunks(8000), headers=json_type) as r:
            assert r.status == 413

    run(tmp_path, scenario)


@pytest.mark.parametrize(
    "body",
    [{"name": "alice"}, {"name": 1, "password": "correct horse"}, {"password": "x" * 10}],
)
def test_login_needs_string_fields(tmp_path: Path, body: dict[str, Any]) -> None:
    async def scenario(client: Client, _: TeacherAuth) -> None:
        async with client.post("/api/login", json=body) as r:
            assert "strings" in await error_of(r, 400)

    run(tmp_path, scenario)


def test_install_sets_the_app_key(tmp_path: Path) -> None:
    app = web.Application()
    auth = TeacherAuth(make_store(tmp_path), secure_cookies=True)
    auth.install(app)
    assert app[TEACHER_AUTH_KEY] is auth
    routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None
    }
    assert {("POST", "/api/login"), ("POST", "/api/logout"), ("GET", "/api/me")} <= routes


@pytest.mark.parametrize("action", ["passwd", "remove"])
def test_the_cli_ends_the_teachers_cookie_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """`visionanything teacher passwd|remove`, run as its own command on the same file (as on
    another machine sharing it), ends the sessions this server holds: the old cookie is
    refused on the next request, even though this server was never told."""
    from visionanything import cli

    async def scenario(client: Client, auth: TeacherAuth) -> None:
        async with client.post("/api/login", json=BOB) as r:
            assert r.status == 200
        async with client.post("/api/login", json=ALICE) as r:  # another teacher, same jar
            assert r.status == 200
        async with client.post("/api/login", json=BOB) as r:
            assert r.status == 200
        async with client.get("/api/secret") as r:
            assert r.status == 200 and (await r.json())["teacher"] == "bob"
        monkeypatch.setattr("sys.stdin", io.StringIO("a brand new password\n"))
        argv = ["teacher", action, "bob", "--file", str(auth.store.path)]
        argv += ["--password-stdin"] if action == "passwd" else []
        assert await asyncio.to_thread(cli.main, argv) == 0
        async with client.get("/api/secret") as r:
            assert r.status == 401, await r.text()
        async with client.get("/api/me") as r:
            assert r.status == 401
        async with client.post("/api/login", json=BOB) as r:  # the old password is gone too
            assert r.status == 401
        if action == "passwd":
            new = {"name": "bob", "password": "a brand new password"}
            async with client.post("/api/login", json=new) as r:
                assert r.status == 200
            async with client.get("/api/secret") as r:
                assert r.status == 200

    run(tmp_path, scenario)


def test_the_teachers_file_is_parsed_again_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(tmp_path)
    parses = []
    original = TeacherStore._parse

    def counting(self: TeacherStore) -> dict[str, dict[str, Any]]:
        parses.append(1)
        return original(self)

    monkeypatch.setattr(TeacherStore, "_parse", counting)
    first = store.version("bob")
    assert first is not None
    for _ in range(50):  # one check per request: a stat, not a read
        assert store.version("bob") == first
    assert len(parses) == 1
    other = TeacherStore(store.path, hasher=FAST_HASHER)  # another process's store
    other.set_password("bob", "another password")
    assert store.version("bob") == first + 1 and store.version("nobody") is None
