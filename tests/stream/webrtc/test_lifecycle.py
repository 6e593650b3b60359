"""Sessions end cleanly whatever the phone does: closes, stops sending, vanishes, never
connects; the server's shutdown closes every connection; the output resolution setting holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import aiohttp

from stream.app import ServerConfig, create_app
from stream.edge.health import METRICS_KEY
from stream.edge.limits import ServerLimits
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, photo, serving

IDLE_S = 3.0  # short to keep the test quick, yet far beyond a frame gap on a busy machine
DEADLINE_S = 60.0  # generous: only a broken server waits this long


def _config(idle_timeout_s: float = IDLE_S, **session: object) -> ServerConfig:
    return ServerConfig(session=SessionSettings(idle_timeout_s=idle_timeout_s, **session))  # type: ignore[arg-type]


def _closed(app: object, reason: str) -> float:
    metrics = app[METRICS_KEY]  # type: ignore[index]
    value = metrics.registry.get_sample_value(
        "visionanything_sessions_closed_total", {"reason": reason}
    )
    return float(value or 0.0)


def test_a_closed_connection_is_forgotten_at_once() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        # an idle timeout far beyond the wait below, so only the close can end the session
        app = create_app(_config(idle_timeout_s=600), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client()
            await client.connect(http, base)
            await client.wait_until(lambda: client.received >= 3, timeout=DEADLINE_S)
            started = time.monotonic()
            await client.close()
            await client.wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=DEADLINE_S)
            print(f"forgotten {time.monotonic() - started:.2f} s after the close")
            assert engine.open_sessions == []
            assert _closed(app, "connection_closed") == 1

    asyncio.run(asyncio.wait_for(scenario(), 180))


def test_silent_vanished_and_never_connected_phones_are_reaped_after_the_idle_timeout() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        # three phones from 127.0.0.1: past the default per-address cap of 2
        app = create_app(
            replace(_config(), limits=ServerLimits(sessions_per_address=3)), engine=engine
        )
        async with serving(app) as base, aiohttp.ClientSession() as http:
            silent, vanished, never = Client(), Client(), Client()
            try:
                for client in (silent, vanished):
                    await client.connect(http, base)
                    await client.wait_until(_receiving(client), timeout=DEADLINE_S)
                # never: posts its offer but never applies the answer (no ICE, no DTLS)
                async with http.post(f"{base}/api/offer", json=await never.offer()) as r:
                    assert r.status == 200
                registry = app[SESSIONS_KEY]
                sessions = list(registry)
                assert len(sessions) == 3
                # when each one closed, against its last video (the reaper's own measure)
                closed_after: dict[str, float] = {}
                for session in sessions:
                    session.when_closed(
                        lambda s: closed_after.setdefault(s.id, time.monotonic() - s.last_frame_at)
                    )

                silent.track.frozen = True  # stops sending, connection stays up
                # vanishes: its ICE transport goes away without a DTLS close (no goodbye)
                transport = vanished.pc.getTransceivers()[0].sender.transport
                assert transport is not None
                await transport.transport.stop()
                await silent.wait_until(lambda: len(app[SESSIONS_KEY]) == 0, timeout=DEADLINE_S)
                # none went before its idle timeout was up
                assert len(closed_after) == 3 and min(closed_after.values()) >= IDLE_S, closed_after
                print("closed after", {k: round(v, 2) for k, v in closed_after.items()})
                assert engine.open_sessions == []
                assert _closed(app, "idle") == 2
                assert _closed(app, "never_connected") == 1
            finally:
                for client in (silent, vanished, never):
                    await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))


def test_shutdown_closes_every_connection_and_stops_the_engine() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        app = create_app(_config(idle_timeout_s=60), engine=engine)
        clients = [Client(photo("astronaut")), Client(photo("coffee"))]
        try:
            async with serving(app) as base, aiohttp.ClientSession() as http:
                for client in clients:
                    await client.connect(http, base)
                    await client.wait_until(_receiving(client), timeout=DEADLINE_S)
            # the server is gone: its peers were told
            for client in clients:
                await client.wait_until(_disconnected(client), timeout=DEADLINE_S)
            assert engine.stopped and engine.open_sessions == []
            assert _closed(app, "shutdown") == 2
        finally:
            for client in clients:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))


def test_output_height_sets_the_returned_resolution() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        app = create_app(_config(idle_timeout_s=60, output_height=120), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client(photo("chelsea", 320, 240))
            try:
                await client.connect(http, base)
                await client.wait_for("objects", timeout=DEADLINE_S)
                await client.wait_until(lambda: client.received >= 10, timeout=DEADLINE_S)
                assert client.last_frame is not None
                assert (client.last_frame.height, client.last_frame.width) == (120, 160)
                assert 320 * 240 in {shape[0] * shape[1] for shape in engine_shapes(engine)}
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 180))


def engine_shapes(engine: FakeEngine) -> set[tuple[int, ...]]:
    """Frame shapes the engine was given: the camera's, whatever the output resolution."""
    shapes: set[tuple[int, ...]] = set()
    for session in engine._sessions.values():
        shapes |= session.frame_shapes
    return shapes


def _receiving(client: Client) -> Callable[[], bool]:
    return lambda: client.received >= 3


def _disconnected(client: Client) -> Callable[[], bool]:
    return lambda: client.pc.connectionState in ("closed", "failed")
