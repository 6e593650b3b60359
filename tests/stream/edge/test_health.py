"""/healthz, /readyz and /metrics: readiness follows the engine, metrics live in a registry of
their own per app and count what happened (parsed from the exposition text, not just named)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream.app import ServerConfig, create_app
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.sessions import Session
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving

P = "visionanything_"
DEADLINE_S = 60.0  # generous: only a broken server waits this long

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(http: aiohttp.ClientSession, base: str) -> Samples:
    async with http.get(f"{base}/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value; 0 for a labelled counter never incremented (no sample yet)."""
    return samples.get((P + name, frozenset(labels.items())), 0.0)


def _total(samples: Samples, name: str) -> float:
    """A labelled counter summed over its labels."""
    return sum(v for (n, _), v in samples.items() if n == P + name)


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_health_readiness_and_metrics() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.1)
        app = create_app(ServerConfig(), engine=engine)
        # a second app in the same process: its own registry, no clash over metric names
        create_app(ServerConfig(), engine=FakeEngine())
        async with serving(app) as base, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200 and (await r.json()) == {"status": "ok"}
            async with http.get(f"{base}/readyz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ready"

            # before any phone: nothing counted, the engine's own numbers read through
            before = await _scrape(http, base)
            assert _value(before, "sessions") == 0
            assert _value(before, "sessions_opened_total") == 0
            assert _value(before, "frames_in_total") == 0
            assert _value(before, "ready") == 1
            assert _value(before, "engine_errors_total") == 0
            assert _value(before, "engine_detect_seconds") == pytest.approx(0.001)  # 1.0 ms
            assert _value(before, "engine_stage_seconds", stage="segment") == pytest.approx(0.1)

            # one refused offer, one phone that sends one bad message
            async with http.post(f"{base}/api/offer", json={"type": "answer", "sdp": "x"}) as r:
                assert r.status == 400
            client = Client()
            try:
                await client.connect(http, base)
                session = app[SESSIONS_KEY].get(client.session or "")
                assert session is not None
                await client.wait_for("stats", lambda m: m["frames_out"] > 0, timeout=DEADLINE_S)
                client.send("not json")
                await client.wait_for("error", timeout=DEADLINE_S)
                live, rates, frames_in = await _scrape_steady(http, base, session)
            finally:
                await client.close()

            assert _value(live, "sessions") == 1
            assert _value(live, "sessions_opened_total") == 1
            assert _value(live, "offers_rejected_total", reason="bad_request") == 1
            assert _total(live, "offers_rejected_total") == 1
            # the rates are the session's own, read at scrape time
            fps_in, fps_out, overlay_fps = rates
            assert _value(live, "fps_in") == fps_in
            assert _value(live, "fps_out") == fps_out > 0
            assert _value(live, "overlay_fps") == overlay_fps
            low, high = frames_in
            assert 0 < low <= _value(live, "frames_in_total") <= high
            assert _value(live, "errors_total", kind="protocol") == 1
            assert _value(live, "datachannel_messages_total", direction="in", type="invalid") == 1
            assert _value(live, "datachannel_messages_total", direction="out", type="hello") == 1
            assert _value(live, "datachannel_messages_total", direction="out", type="error") == 1

            # the phone is gone: its counts are final, so they must match exactly
            await _until(lambda: len(app[SESSIONS_KEY]) == 0, "the session to close")
            done = await _scrape(http, base)
            assert _value(done, "sessions") == 0
            assert _value(done, "fps_in") == _value(done, "fps_out") == 0
            assert _value(done, "sessions_opened_total") == 1
            assert _value(done, "sessions_closed_total", reason="connection_closed") == 1
            assert _total(done, "sessions_closed_total") == 1
            assert 0 < session.frames_in <= client.track.sent
            assert _value(done, "frames_in_total") == session.frames_in
            assert session.out_track is not None
            frames_out = session.out_track.frames_out
            assert frames_out > 0
            assert _value(done, "frames_out_total") == frames_out
            assert _value(done, "server_delay_seconds_count") == frames_out
            assert _value(done, "frames_dropped_total", stage="outgoing") == session.mailbox.dropped
            assert session.results > 0
            assert _value(done, "overlay_updates_total") == session.results
            # every result times its "segment" stage, at 300 ms in the fake's results
            assert _value(done, "stage_seconds_count", stage="segment") == session.results
            assert _value(done, "stage_seconds_sum", stage="segment") == pytest.approx(
                0.3 * session.results
            )
            stats_sent = _value(done, "datachannel_messages_total", direction="out", type="stats")
            assert stats_sent >= len(client.of_type("stats")) >= 1

            engine.healthy = False  # e.g. the broker became unreachable
            async with http.get(f"{base}/readyz") as r:
                body = await r.json()
                assert r.status == 503 and body["status"] == "not ready"
                assert body["reason"] == "detection broker unreachable"
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200, "alive even when not ready"
            assert _value(await _scrape(http, base), "ready") == 0

    asyncio.run(asyncio.wait_for(scenario(), 120))


async def _scrape_steady(
    http: aiohttp.ClientSession, base: str, session: Session
) -> tuple[Samples, tuple[float, float, float], tuple[int, int]]:
    """A scrape during which the session's measured rates (fps in, out, overlay) did not
    change (they change once a second), taken once it has sent video; also those rates and its
    frame count before and after the scrape."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        rates = (session.fps_in, session.fps_out, session.overlay_fps)
        first = session.frames_in
        samples = await _scrape(http, base)
        if rates == (session.fps_in, session.fps_out, session.overlay_fps) and rates[1] > 0:
            return samples, rates, (first, session.frames_in)
        assert time.monotonic() < deadline, "the session never reported outgoing video"
        await asyncio.sleep(0.05)
