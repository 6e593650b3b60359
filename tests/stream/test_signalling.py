"""`POST /api/offer` under bad input and load: clear 400/413/429/503 answers that leave nothing
behind, and the server keeps accepting good offers afterwards. Background effects are awaited
with generous deadlines and the offer limit runs on an injected clock, so a slow or busy machine
changes how long the tests take, not whether they pass."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from stream import signalling
from stream.app import ServerConfig, create_app
from stream.edge.limits import ServerLimits
from stream.signalling import RateLimiter
from stream.webrtc.engine_seam import EngineLike
from stream.webrtc.engine_slot import ENGINE_KEY
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving

BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("not json", b"{sdp: nope", 400, "not valid JSON"),
    ("not utf-8", b"\xff\xfe\x00", 400, "not valid JSON"),
    ("a list", b"[1, 2]", 400, "JSON object"),
    ("no type", json.dumps({"sdp": "v=0"}).encode(), 400, "'type'"),
    ("an answer", json.dumps({"sdp": "v=0", "type": "answer"}).encode(), 400, "'type'"),
    ("no sdp", json.dumps({"type": "offer"}).encode(), 400, "'sdp'"),
    ("sdp not text", json.dumps({"sdp": 42, "type": "offer"}).encode(), 400, "'sdp'"),
    (
        "bad room",
        json.dumps({"sdp": "v=0", "type": "offer", "room": "a b/c"}).encode(),
        400,
        "'room'",
    ),
    ("too large", json.dumps({"sdp": "v" * 70_000, "type": "offer"}).encode(), 413, "exceeds"),
]


WAIT_S = 30.0  # deadline for something that happens at once on an idle machine


def _run(coro: Any, timeout: float = 120) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout))


async def _eventually(condition: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Poll `condition` until it holds; TimeoutError past `timeout` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def _ready_status(http: aiohttp.ClientSession, base: str) -> int:
    async with http.get(f"{base}/readyz") as r:
        return r.status


async def _post(
    http: aiohttp.ClientSession, base: str, body: bytes | dict[str, Any]
) -> tuple[int, dict[str, Any], dict[str, str]]:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    async with http.post(
        f"{base}/api/offer", data=data, headers={"Content-Type": "application/json"}
    ) as r:
        return r.status, await r.json(), dict(r.headers)


def test_malformed_offers_get_clear_errors_and_leave_nothing_behind() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            for name, body, status, words in BAD_BODIES:
                got, reply, _ = await _post(http, base, body)
                assert got == status, (name, got, reply)
                assert words in reply["error"], (name, reply)
            assert len(app[SESSIONS_KEY]) == 0
            assert engine.open_sessions == []

    _run(scenario())


def test_sdp_that_aiortc_rejects_is_400_and_a_later_offer_still_works() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            status, reply, _ = await _post(
                http, base, {"sdp": "v=0\r\nthis is not sdp\r\n", "type": "offer"}
            )
            assert status == 400 and "SDP was rejected" in reply["error"], reply

            # a real offer without its ICE password: parses, but aiortc refuses it
            probe = Client()
            offer = await probe.offer()
            await probe.close()
            broken = "\r\n".join(
                line for line in offer["sdp"].split("\r\n") if not line.startswith("a=ice-pwd")
            )
            status, reply, _ = await _post(http, base, {"sdp": broken, "type": "offer"})
            assert status == 400 and "SDP was rejected" in reply["error"], reply
            # refused sessions are closed in the background
            await _eventually(lambda: len(engine.closed_sessions) >= 2)
            assert len(app[SESSIONS_KEY]) == 0
            assert engine.open_sessions == [] and len(engine.closed_sessions) == 2

            client = Client()
            try:
                await client.connect(http, base)
                await client.wait_until(lambda: client.received >= 5, timeout=WAIT_S)
                await client.wait_for("hello", timeout=WAIT_S)
            finally:
                await client.close()

    _run(scenario())


def test_session_cap_answers_503_with_retry_after_until_a_slot_frees() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        # a long idle timeout: only the closed connection itself can free the slot in time
        settings = SessionSettings(idle_timeout_s=300)
        app = create_app(
            ServerConfig(session=settings, limits=ServerLimits(max_sessions=1, retry_after_s=3)),
            engine=engine,
        )
        async with serving(app) as base, aiohttp.ClientSession() as http:
            first, second = Client(), Client()
            try:
                await first.connect(http, base)
                await first.wait_until(lambda: first.received >= 3, timeout=WAIT_S)
                status, reply, headers = await _post(http, base, await second.offer())
                assert status == 503 and "full" in reply["error"], reply
                assert headers["Retry-After"] == "3"
                assert len(app[SESSIONS_KEY]) == 1
                await first.close()
                # a closed connection is forgotten at once, freeing the slot
                await second.wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=WAIT_S)
                third = Client()
                try:
                    await third.connect(http, base)
                    await third.wait_until(lambda: third.received >= 3, timeout=WAIT_S)
                finally:
                    await third.close()
            finally:
                await first.close()
                await second.close()

    _run(scenario())


def test_offers_wait_for_the_models_with_503_and_retry_after() -> None:
    release = threading.Event()
    engine = FakeEngine(delay_s=0.05)

    def factory() -> EngineLike:
        release.wait(60)  # a slow model load
        return engine

    async def scenario() -> None:
        app = create_app(ServerConfig(limits=ServerLimits(retry_after_s=2)), engine_factory=factory)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 503
                assert (await r.json())["reason"] == "starting: loading models"
            client = Client()
            try:
                status, reply, headers = await _post(http, base, await client.offer())
                assert status == 503
                assert reply == {"error": "starting: loading models", "reason": "starting"}
                assert headers["Retry-After"] == "2"
            finally:
                await client.close()
            release.set()
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while (status := await _ready_status(http, base)) != 200:
                assert asyncio.get_running_loop().time() < deadline, status
                await asyncio.sleep(0.05)
            assert engine.started and app[ENGINE_KEY].engine is engine
        assert engine.stopped

    _run(scenario())


def test_a_failed_model_load_is_reported_and_fatal() -> None:
    fatal: list[str] = []

    def factory() -> EngineLike:
        raise FileNotFoundError(
            "weights/mobile_sam.pt is missing; run `visionanything weights fetch`"
        )

    async def scenario() -> None:
        app = create_app(ServerConfig(), engine_factory=factory, on_fatal=fatal.append)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            await _eventually(lambda: bool(fatal))
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 503
                assert "weights fetch" in (await r.json())["reason"]

    _run(scenario())
    assert fatal and "mobile_sam.pt" in fatal[0]


def test_signalling_is_rate_limited_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    # the offer limiter reads a clock only the test moves: a slow machine cannot let the
    # window slide between the offers
    clock = [1000.0]

    class StoppedClockLimiter(RateLimiter):
        def allow(self, key: str, now: float | None = None) -> bool:
            return super().allow(key, clock[0] if now is None else now)

    monkeypatch.setattr(signalling, "RateLimiter", StoppedClockLimiter)

    async def scenario() -> None:
        app = create_app(
            ServerConfig(limits=ServerLimits(offers_per_minute=3)), engine=FakeEngine()
        )
        async with serving(app) as base, aiohttp.ClientSession() as http:
            statuses = [(await _post(http, base, b"{}"))[0] for _ in range(3)]
            assert statuses == [400, 400, 400]
            status, reply, headers = await _post(http, base, b"{}")
            assert status == 429 and "too many" in reply["error"]
            assert int(headers["Retry-After"]) > 0
            clock[0] += 61.0  # the three offers leave the window
            assert (await _post(http, base, b"{}"))[0] == 400

    _run(scenario())


@pytest.mark.parametrize("limit", [0])
def test_rate_limit_zero_means_unlimited(limit: int) -> None:
    from stream.signalling import RateLimiter

    limiter = RateLimiter(limit)
    assert all(limiter.allow("1.2.3.4", now=0.0) for _ in range(1000))
    bounded = RateLimiter(2, window_s=10, max_keys=3)
    assert bounded.allow("a", 0.0) and bounded.allow("a", 1.0) and not bounded.allow("a", 2.0)
    assert bounded.allow("a", 11.5), "the window slides"
    for key in "bcdefg":
        bounded.allow(key, 100.0)
    assert len(bounded._events) <= 3, "memory stays bounded under many addresses"
