"""Teachers for tests: a quick password hasher, accounts in a file, a logged-in HTTP session,
and the teacher page's JSON POSTs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from argon2 import PasswordHasher

from stream.classroom.teachers import TeacherStore

# tests only: a real argon2id hash, cheap enough for hundreds of logins
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def teacher_store(path: Path, *, admins: tuple[str, ...] = (), **passwords: str) -> TeacherStore:
    """A teachers file at `path` with these accounts (name=password); `admins` among them."""
    store = TeacherStore(path, hasher=FAST)
    for name, password in passwords.items():
        store.add(name, password, admin=name in admins)
    return store


async def log_in(base: str, name: str, password: str) -> aiohttp.ClientSession:
    """An HTTP session logged in as teacher `name` (its cookie kept for 127.0.0.1)."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.post(f"{base}/api/login", json={"name": name, "password": password}) as r:
        assert r.status == 200, await r.text()
    return http


async def post_json(http: aiohttp.ClientSession, url: str, body: Any = None) -> tuple[int, Any]:
    """POST `body` ({} by default) as JSON; the status and the JSON answer."""
    async with http.post(url, json=body if body is not None else {}) as response:
        return response.status, await response.json()
