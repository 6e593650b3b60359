"""Abuse limits: token buckets on the data channel (a flood is dropped, answered `rate_limited`
at most once a second, the session goes on serving), and a cap on the processed resolution (a
large camera frame is scaled down before the engine and the painter see it)."""

from __future__ import annotations

import asyncio
import fractions
import functools
import json

import aiohttp
import av
import numpy as np
import pytest

from stream.app import ServerConfig, create_app
from stream.edge.health import METRICS_KEY
from stream.edge.rate_limits import MessageLimits, TokenBucket
from stream.loadtest.churn import process_sample
from stream.webrtc import sessions
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.tracks import OverlayPainter, SharedFrame, capped_size
from tests.support.clocks import FakeClock
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, photo, serving

FLOOD = 10_000


# -- token buckets ---------------------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    clock = FakeClock(100.0)
    bucket = TokenBucket(rate=20, burst=40, clock=clock)
    assert sum(bucket.take() for _ in range(100)) == 40
    assert bucket.wait_s() == pytest.approx(0.05)
    clock.now += 0.5
    assert sum(bucket.take() for _ in range(100)) == 10
    clock.now += 1000  # never more than the burst
    assert bucket.tokens == 40
    clock.now -= 50  # a clock going back gives nothing and breaks nothing
    assert bucket.tokens == 40


def test_token_bucket_and_limits_refuse_bad_settings() -> None:
    for rate, burst in ((0, 1), (-1, 5), (float("nan"), 5), (1, 0.5), (1, float("inf"))):
        with pytest.raises(ValueError):
            TokenBucket(rate, burst)
    with pytest.raises(ValueError):
        MessageLimits(messages_per_s=0)
    with pytest.raises(ValueError):
        MessageLimits(vocabulary_burst=0)
    with pytest.raises(ValueError):
        SessionSettings(max_frame_size=(1280, 4))


# -- the resolution cap ----------------------------------------------------------------------------


def test_capped_size_keeps_aspect_in_either_orientation() -> None:
    cap = (1280, 720)
    assert capped_size(1080, 1920, cap) == (720, 1280)
    assert capped_size(1920, 1080, cap) == (1280, 720)  # portrait phone
    assert capped_size(2160, 3840, cap) == (720, 1280)
    assert capped_size(480, 640, cap) == (480, 640)  # small: untouched
    assert capped_size(720, 1280, cap) == (720, 1280)
    assert capped_size(1000, 1000, cap) == (720, 720)
    assert capped_size(1080, 1920, None) == (1080, 1920)


@pytest.mark.parametrize("fmt", ["yuv420p", "rgb24"])
def test_a_large_frame_is_converted_and_painted_at_the_cap(fmt: str) -> None:
    rgb = photo(width=1920, height=1080)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=fmt)
    frame.pts, frame.time_base = 3000, fractions.Fraction(1, 90_000)
    shared = SharedFrame(frame, (1280, 720))
    assert shared.rgb().shape == (720, 1280, 3)
    assert shared.luma().shape == (720, 1280)
    gray = shared.rgb().astype(np.float32).mean(axis=2)
    assert float(np.abs(shared.luma().astype(np.float32) - gray).mean()) < 12
    out = OverlayPainter(None).paint(shared, None)
    assert (out.width, out.height) == (1280, 720)
    assert out.pts == 3000
    smaller = OverlayPainter(360).paint(shared, None)
    assert (smaller.width, smaller.height) == (640, 360)
    untouched = SharedFrame(frame, None)
    assert untouched.rgb().shape == (1080, 1920, 3)


def test_the_engine_and_the_phone_get_at_most_the_cap() -> None:
    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        settings = SessionSettings(max_frame_size=(640, 360))  # small, to keep the test light
        app = create_app(ServerConfig(session=settings), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client(photo(width=960, height=540), fps=10)
            try:
                await client.connect(http, base)
                await client.wait_until(lambda: client.received >= 5, timeout=30)
                await client.wait_for("objects", timeout=30)
                shapes = {s for session in engine._sessions.values() for s in session.frame_shapes}
                assert shapes == {(360, 640, 3)}
                frame = client.last_frame
                assert frame is not None and (frame.width, frame.height) == (640, 360)
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))


# -- a data-channel flood --------------------------------------------------------------------------


def test_a_flood_is_dropped_and_the_session_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    # the session's buckets run on a clock only the test moves: no token can refill while the
    # flood is on its way, however slow or busy this machine is
    clock = FakeClock(100.0)
    monkeypatch.setattr(sessions, "TokenBucket", functools.partial(TokenBucket, clock=clock))

    async def scenario() -> None:
        engine = FakeEngine(delay_s=0.05)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client(fps=10)
            try:
                await client.connect(http, base)
                await client.wait_for("hello", timeout=30)
                await client.wait_until(lambda: client.received >= 3, timeout=30)
                session = app[SESSIONS_KEY].get(client.session or "")
                assert session is not None
                rss_before = process_sample().rss_bytes
                loop = asyncio.get_running_loop()
                started = loop.time()
                tap = json.dumps({"type": "tap", "x": 0.5, "y": 0.5})
                for n in range(FLOOD):
                    client.send(tap)
                    if n % 500 == 0:
                        await asyncio.sleep(0)  # let the SCTP sender move

                def taps() -> int:
                    return sum(1 for call in engine.calls if call[0] == "tap")

                # every message of the flood is either applied or dropped and counted (aiortc's
                # SCTP in Python takes seconds for 10 000 messages, a minute on a busy machine)
                await client.wait_until(lambda: taps() + session.rate_limited >= FLOOD, 240)
                flood_s = loop.time() - started  # reported, not asserted
                accepted = taps()
                assert accepted == 40, accepted  # the burst, and with the clock still, no more
                assert session.rate_limited == FLOOD - accepted
                rate_limited_metric = app[METRICS_KEY].errors.labels(kind="rate_limited")
                assert rate_limited_metric._value.get() == session.rate_limited
                await client.wait_for("error", lambda m: m["code"] == "rate_limited", timeout=30)
                growth_mb = (process_sample().rss_bytes - rss_before) / 2**20
                assert growth_mb < 50, growth_mb

                # still served: video keeps coming back, stats too
                frames, stats = client.received, len(client.of_type("stats"))
                await client.wait_until(
                    lambda: client.received >= frames + 10 and len(client.of_type("stats")) > stats,
                    timeout=30,
                )
                assert len(app[SESSIONS_KEY]) == 1 and not session.closed

                # once the buckets have refilled, vocabulary changes: 3 at once, then 1 a second,
                # a change overtaken while waiting is dropped and the newest one applied
                clock.now += 10.0
                before = [c for c in engine.calls if c[0] == "vocabulary"]
                dropped = session.rate_limited

                def applied() -> list[tuple[str, ...]]:
                    calls = [c for c in engine.calls if c[0] == "vocabulary"][len(before) :]
                    return [tuple(c[2]) for c in calls]

                for words in ("apple", "ball", "cat", "dog", "egg"):
                    client.send({"type": "vocabulary", "words": words})
                # "egg" has overtaken "dog" (counted) and waits for a token
                await client.wait_until(lambda: session.rate_limited == dropped + 1, timeout=30)
                assert applied() == [("apple",), ("ball",), ("cat",)]
                clock.now += 1.0  # one vocabulary token
                await client.wait_for("stats", lambda m: m["vocabulary"] == ["egg"], timeout=30)
                assert applied() == [("apple",), ("ball",), ("cat",), ("egg",)]
                assert session.rate_limited == dropped + 1
                # replies to the flood: one, as the reply bucket never refilled during it; the
                # stats above were sent after any reply, on the same ordered channel
                limited = [m for m in client.of_type("error") if m["code"] == "rate_limited"]
                assert len(limited) == 1, limited
                assert len(client.of_type("error")) == len(limited)
                print(
                    f"flood of {FLOOD}: {flood_s:.2f} s, {accepted} accepted, "
                    f"{session.rate_limited} dropped, "
                    f"{len(limited)} rate_limited replies, RSS +{growth_mb:.1f} MiB"
                )
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 420))
