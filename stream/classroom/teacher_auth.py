"""Teacher login for the aiohttp app: cookie sessions, login throttling and CSRF checks.

Sessions are random tokens kept in memory (a restart logs every teacher out, which is fine for a
classroom and means no session secrets on disk). Each session remembers the teacher's
credential version at login (`stream.classroom.teachers`); every request compares it with the
teachers file (a `stat`, re-read only when the file changed), so `visionanything teacher passwd` or
`remove`, run anywhere that file is shared, ends that teacher's sessions on every server.
The cookie is HttpOnly so page scripts cannot read it, and SameSite=Strict so other sites
cannot make the browser send it.

Every teacher POST must be JSON (`check_post`): a cross-site HTML form cannot send
`Content-Type: application/json` without a CORS preflight this server never grants, and a
browser's `Origin` header, when present, must name this very host. That is the CSRF defence on
top of SameSite.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from stream.classroom.teachers import TeacherStore
from stream.edge.client_address import address_key
from stream.edge.rate_limits import RateLimiter
from stream.edge.security import same_host

log = logging.getLogger("stream.classroom.teacher_auth")

COOKIE_NAME = "va_teacher"
MAX_BODY_BYTES = 4096
MAX_SESSIONS = 1000
# addresses whose login attempts are remembered; beyond this the stalest are forgotten
MAX_TRACKED_ADDRESSES = 10_000
LOGIN_WINDOW_S = 60.0
NO_STORE = {"Cache-Control": "no-store"}


def json_error(
    error_class: type[web.HTTPException],
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.HTTPException:
    """An HTTP error with body `{"error": message}`, ready to raise from a handler."""
    return error_class(
        text=json.dumps({"error": message}),
        content_type="application/json",
        headers={**NO_STORE, **(headers or {})},
    )


def json_answer(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=NO_STORE)


def check_headers(request: web.Request) -> None:
    """The header half of `check_post`: JSON content type and a same-host Origin."""
    if request.content_type != "application/json":
        raise json_error(web.HTTPUnsupportedMediaType, "send the request as application/json")
    origin = request.headers.get("Origin")
    if origin is not None and not same_host(origin, request.headers.get("Host")):
        raise json_error(web.HTTPForbidden, "cross-site request refused")
    length = request.content_length
    if length is not None and length > MAX_BODY_BYTES:
        raise _too_large(length)


async def check_post(request: web.Request) -> dict[str, Any]:
    """Check a teacher POST and return its JSON object body.

    Raises (as JSON errors) 415 unless the body is application/json, 403 when an Origin header
    names another host, 413 for bodies over 4 KiB and 400 unless the body is a JSON object.
    Reading the body here, rather than leaving it to `request.json()`, enforces the size cap
    even for chunked bodies that declare no length.
    """
    check_headers(request)
    body = bytearray()
    while chunk := await request.content.read(MAX_BODY_BYTES + 1 - len(body)):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large(len(body))
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise json_error(web.HTTPBadRequest, f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise json_error(web.HTTPBadRequest, "request body must be a JSON object")
    return data


def _too_large(size: int) -> web.HTTPException:
    return web.HTTPRequestEntityTooLarge(
        MAX_BODY_BYTES,
        size,
        text=json.dumps({"error": f"request body over {MAX_BODY_BYTES} bytes"}),
        content_type="application/json",
        headers=NO_STORE,
    )


@dataclass(frozen=True)
class _Session:
    name: str
    expires: float
    version: int  # the teacher's credential version at login


class TeacherAuth:
    """Logs teachers in and out, and tells other handlers who is asking (`require`)."""

    def __init__(
        self,
        store: TeacherStore,
        *,
        secure_cookies: bool,
        session_ttl_s: float = 8 * 3600,
        logins_per_minute: int = 5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.secure_cookies = secure_cookies
        self.session_ttl_s = session_ttl_s
        self.logins_per_minute = logins_per_minute
        self._clock = clock
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # oldest first
        self._logins = RateLimiter(
            logins_per_minute, LOGIN_WINDOW_S, MAX_TRACKED_ADDRESSES, clock=clock
        )

    def install(self, app: web.Application) -> None:
        app[TEACHER_AUTH_KEY] = self
        app.router.add_post("/api/login", self._login)
        app.router.add_post("/api/logout", self._logout)
        app.router.add_get("/api/me", self._me)

    def require(self, request: web.Request) -> str:
        """The logged-in teacher's name, else raise 401 `{"error": "teacher login required"}`.

        A teacher removed from the store, or given a new password, loses their sessions at once.
        """
        name = self._session_name(request)
        if name is None or self.store.get(name) is None:
            raise json_error(web.HTTPUnauthorized, "teacher login required")
        return name

    async def teacher(self, request: web.Request) -> str:
        """`require` for callers that prefer to await."""
        return self.require(request)

    def logout_everywhere(self, name: str) -> None:
        """End every session of `name` (e.g. after their password changed in this process)."""
        for token in [t for t, s in self._sessions.items() if s.name == name]:
            del self._sessions[token]

    async def _login(self, request: web.Request) -> web.Response:
        body = await check_post(request)
        name, password = body.get("name"), body.get("password")
        if not isinstance(name, str) or not isinstance(password, str):
            raise json_error(web.HTTPBadRequest, "send name and password as strings")
        address = address_key(request.remote) if request.remote else "unknown"
        self._count_attempt(address)
        if not await asyncio.to_thread(self.store.verify, name, password):
            # the name typed may be a password typed in the wrong field: debug only
            log.info("failed teacher login")
            log.debug("failed teacher login for %r", name[:64])
            log.debug("failed teacher login for %r from %s", name[:64], address)
            raise json_error(web.HTTPUnauthorized, "wrong name or password")
        self._drop(request.cookies.get(COOKIE_NAME))
        token = self._open_session(name)
        log.info("teacher %r logged in", name)
        log.debug("teacher %r logged in from %s", name, address)
        response = json_answer({"name": name})
        response.set_cookie(
            COOKIE_NAME,
            token,
            max_age=int(self.session_ttl_s),
            path="/",
            secure=self.secure_cookies,
            httponly=True,
            samesite="Strict",
        )
        return response

    async def _logout(self, request: web.Request) -> web.Response:
        await check_post(request)
        self._drop(request.cookies.get(COOKIE_NAME))
        response = json_answer({"ok": True})
        response.del_cookie(
            COOKIE_NAME, path="/", secure=self.secure_cookies, httponly=True, samesite="Strict"
        )
        return response

    async def _me(self, request: web.Request) -> web.Response:
        name = self._session_name(request)
        teacher = self.store.get(name) if name is not None else None
        if teacher is None:
            raise json_error(web.HTTPUnauthorized, "teacher login required")
        return json_answer({"name": teacher.name, "admin": teacher.admin})

    def _count_attempt(self, address: str) -> None:
        """Allow `logins_per_minute` attempts per address in any 60 s, right or wrong; 429 after.

        Refused attempts are not counted, so a client that waits Retry-After gets back in.
        """
        wait = self._logins.wait_s(address)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            log.info("teacher logins from one address throttled for %d s", retry_after)
            log.debug("teacher logins from %s throttled", address)
            raise json_error(
                web.HTTPTooManyRequests,
                f"too many login attempts: try again in {retry_after} s",
                {"Retry-After": str(retry_after)},
            )
        self._logins.allow(address)

    def _open_session(self, name: str) -> str:
        now = self._clock()
        for token in [t for t, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[token]
        while len(self._sessions) >= MAX_SESSIONS:
            self._sessions.popitem(last=False)
        token = secrets.token_urlsafe(32)
        version = self.store.version(name) or 0
        self._sessions[token] = _Session(name, now + self.session_ttl_s, version)
        return token

    def _session_name(self, request: web.Request) -> str | None:
        token = request.cookies.get(COOKIE_NAME)
        session = self._sessions.get(token) if token else None
        if session is None:
            return None
        if session.expires <= self._clock() or self.store.version(session.name) != session.version:
            self._drop(token)  # expired, or the password changed or the teacher is gone
            return None
        return session.name

    def _drop(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)


TEACHER_AUTH_KEY = web.AppKey("teacher_auth", TeacherAuth)
