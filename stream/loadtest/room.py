"""The classroom room a load test runs in: an existing one (`--room CODE`), checked before any
peer connects so that a wrong code is one clear line rather than N refused offers; or one made
for the run by a teacher (`--teacher NAME`), who logs in, creates it and ends it afterwards so
repeated runs do not pile rooms up against the server's room limit. Class screens need a screen
key from the room's teacher: the teacher path mints one and lets the first phone present (as a
quick demo would); with `--room CODE` it is the `#key=` part of the teacher's screen link
(`--screen-key`).

    async with run_room(http, url, ssl, room=None, teacher="lee", password="...") as access:
        ...                       # phones join access.code, viewers also show access.screen

Failures are `ClientFailure`s with a message for the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp

from stream.loadtest.peer import ClientFailure, describe_connection_error, refusal

log = logging.getLogger(__name__)

ROOM_CODE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what /api/offer accepts as a `room`
REQUEST_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class RoomAccess:
    """The run's room: its code, and the key class screens show (None: viewers have none and
    the server will refuse them)."""

    code: str
    screen: str | None = None


def check_room_code(code: str) -> None:
    """ValueError unless `code` could be a room code at all (letters, digits, '-', '_')."""
    if not ROOM_CODE.match(code):
        raise ValueError(f"a room code is 1-64 letters, digits, '-' or '_', got {code!r}")


async def _json(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    ssl: bool,
    what: str,
    body: Mapping[str, str | bool] | None = None,
) -> tuple[int, dict[str, object], ClientFailure | None]:
    """One JSON request: (status, the JSON object answered or {}, the refusal for a status
    that is not 2xx); ClientFailure when the server cannot be reached at all."""
    try:
        async with http.request(
            method,
            url,
            json=body,
            ssl=ssl,
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
        ) as response:
            if response.status >= 300:
                return response.status, {}, await refusal(response, what)
            try:
                payload = await response.json(content_type=None)
            except ValueError:
                payload = None
            return response.status, payload if isinstance(payload, dict) else {}, None
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ClientFailure(describe_connection_error(url, exc)) from exc


async def check_room(http: aiohttp.ClientSession, url: str, code: str, ssl: bool) -> str:
    """The room's code as the server spells it, or ClientFailure when it has no such room."""
    status, state, failure = await _json(http, "GET", f"{url}/api/rooms/{code}", ssl, "room")
    if status == 404:
        raise ClientFailure(
            f"no room with code {code!r} on {url}: check the code on the teacher's screen"
        )
    if failure is not None:
        raise failure
    found = state.get("code")
    return found if isinstance(found, str) else code


async def _login(
    teacher: aiohttp.ClientSession, url: str, ssl: bool, name: str, password: str
) -> None:
    body = {"name": name, "password": password}
    status, _, failure = await _json(teacher, "POST", f"{url}/api/login", ssl, "login", body)
    if status == 401:
        raise ClientFailure(f"teacher login failed for {name!r}: wrong name or password")
    if failure is not None:
        raise ClientFailure(f"teacher login failed for {name!r}: {failure}")


async def _create(teacher: aiohttp.ClientSession, url: str, ssl: bool) -> str:
    _, created, failure = await _json(teacher, "POST", f"{url}/api/rooms", ssl, "room", {})
    if failure is not None:
        raise ClientFailure(f"could not create a room: {failure}")
    code = created.get("code")
    if not isinstance(code, str):
        raise ClientFailure(f"creating a room on {url} gave no code")
    return code


async def _prepare_screens(teacher: aiohttp.ClientSession, url: str, ssl: bool, code: str) -> str:
    """A screen key for the viewers, and the first phone presenting without being picked."""
    body = {"first_phone_presents": True}
    path = f"{url}/api/rooms/{code}/settings"
    _, _, failure = await _json(teacher, "POST", path, ssl, "settings", body)
    if failure is not None:
        raise ClientFailure(f"could not let the first phone present in room {code}: {failure}")
    path = f"{url}/api/rooms/{code}/screens"
    _, minted, failure = await _json(teacher, "POST", path, ssl, "screen", {})
    token = minted.get("token") if failure is None else None
    if not isinstance(token, str):
        raise ClientFailure(f"could not open a class screen for room {code}: {failure}")
    return token


async def _end(teacher: aiohttp.ClientSession, url: str, ssl: bool, code: str) -> None:
    """End the run's room (best effort: a server already gone has nothing to end)."""
    try:
        _, _, failure = await _json(teacher, "POST", f"{url}/api/rooms/{code}/end", ssl, "end", {})
    except ClientFailure as exc:
        failure = exc
    if failure is not None:
        log.warning("could not end room %s: %s", code, failure)


@contextlib.asynccontextmanager
async def run_room(
    http: aiohttp.ClientSession,
    url: str,
    ssl: bool,
    *,
    room: str | None,
    teacher: str | None,
    password: str | None,
    screen_key: str | None = None,
) -> AsyncIterator[RoomAccess | None]:
    """The room for the run (None: no room); see the module docstring."""
    if room is not None:
        yield RoomAccess(await check_room(http, url, room, ssl), screen_key)
        return
    if teacher is None:
        yield None
        return
    # a cookie jar of its own: the login cookie is the teacher's, not the phones', and aiohttp's
    # default jar refuses cookies from IP addresses such as 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        await _login(session, url, ssl, teacher, password or "")
        code = await _create(session, url, ssl)
        try:
            yield RoomAccess(code, await _prepare_screens(session, url, ssl, code))
        finally:
            await asyncio.shield(_end(session, url, ssl, code))
