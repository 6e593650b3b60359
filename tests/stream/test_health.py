"""/healthz, /readyz and /metrics: readiness follows the engine, metrics live in a registry of
their own per app and name everything an operator watches."""

from __future__ import annotations

import asyncio

import aiohttp

from stream.app import ServerConfig, create_app
from tests.stream.fake_engine import FakeEngine
from tests.stream.rtc_client import Client, serving

METRIC_NAMES = [
    "visionanything_sessions",
    "visionanything_sessions_opened_total",
    "visionanything_sessions_closed_total",
    "visionanything_offers_rejected_total",
    "visionanything_fps_in",
    "visionanything_fps_out",
    "visionanything_overlay_fps",
    "visionanything_frames_in_total",
    "visionanything_frames_out_total",
    "visionanything_server_delay_seconds_bucket",
    "visionanything_frames_dropped_total",
    "visionanything_overlay_updates_total",
    "visionanything_stage_seconds_bucket",
    "visionanything_errors_total",
    "visionanything_datachannel_messages_total",
    "visionanything_ready",
    "visionanything_engine_errors_total",
    "visionanything_engine_stage_seconds",
    "visionanything_engine_detect_seconds",
]


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

            client = Client()
            try:
                await client.connect(http, base)
                await client.wait_for("stats", lambda m: m["fps_out"] > 0, timeout=20)
                client.send("not json")
                await client.wait_for("error")
                async with http.get(f"{base}/metrics") as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("text/plain")
                    text = await r.text()
            finally:
                await client.close()
            for name in METRIC_NAMES:  # labelled ones not used yet appear as HELP/TYPE lines
                assert f"{name} " in text or f"{name}{{" in text, name
            samples = dict(
                line.rsplit(" ", 1) for line in text.splitlines() if line and line[0] != "#"
            )
            assert float(samples["visionanything_sessions"]) == 1
            assert float(samples["visionanything_frames_in_total"]) > 10
            assert float(samples["visionanything_fps_out"]) > 5
            assert float(samples["visionanything_ready"]) == 1
            assert float(samples['visionanything_errors_total{kind="protocol"}']) == 1
            assert float(samples['visionanything_stage_seconds_count{stage="segment"}']) > 0

            engine.healthy = False  # e.g. the broker became unreachable
            async with http.get(f"{base}/readyz") as r:
                body = await r.json()
                assert r.status == 503 and body["status"] == "not ready"
                assert body["reason"] == "detection broker unreachable"
            async with http.get(f"{base}/healthz") as r:
                assert r.status == 200, "alive even when not ready"

    asyncio.run(asyncio.wait_for(scenario(), 40))
