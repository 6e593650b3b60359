"""Scaffolding for the class-room tests with real aiortc peers on loopback and the fake engine:
a server with three teachers to run a test against, a raw offer to it, and the deadline for
what should happen at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.edge.limits import ServerLimits
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving
from tests.support.teachers import teacher_store

WAIT_S = 30.0  # deadline for something that happens at once on an idle machine

# what `run_with_teachers` hands its test besides the base URL: (the app, its fake engine, the
# teachers file)
Context = tuple[Any, FakeEngine, Path]


def run_with_teachers(
    test: Callable[[str, Context], Awaitable[None]],
    tmp_path: Path,
    limits: ServerLimits | None = None,
    classroom: ClassroomSettings | None = None,
) -> None:
    """`test` against a server with three teachers (lee, kim and the admin ada); at most 4
    phones unless `limits` says otherwise."""
    store = teacher_store(
        tmp_path / "teachers.json",
        admins=("ada",),
        lee="correct horse",
        kim="battery staple",
        ada="admin password",
    )

    async def main() -> None:
        engine = FakeEngine(delay_s=0.1)
        config = ServerConfig(
            limits=limits or ServerLimits(max_sessions=4),
            classroom=replace(classroom or ClassroomSettings(), teachers_file=store.path),
        )
        app = create_app(config, engine=engine)
        async with serving(app) as base:
            await test(base, (app, engine, store.path))

    asyncio.run(asyncio.wait_for(main(), 180))


async def post_offer(
    http: aiohttp.ClientSession, base: str, client: Client, **fields: str
) -> tuple[int, dict[str, Any]]:
    """POST `client`'s offer with `fields` added (room, role, screen, ...) to /api/offer, without
    connecting; the answer's status and JSON."""
    payload = {**await client.offer(), **fields}
    async with http.post(f"{base}/api/offer", json=payload) as response:
        return response.status, await response.json()
