"""Connection churn against the real app (fake engine) in this process: phones that close, drop
without a word or never connect leave no session, thread, fd or memory behind. Timeouts are
generous and the settling is polled: a slow or busy machine takes longer, the counts it must
reach are the same."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import io
import json
import logging
import os
import threading
from pathlib import Path

import pytest
from aiohttp import web

from stream.app import ServerConfig, create_app
from stream.edge.health import METRICS_KEY
from stream.edge.limits import ServerLimits
from stream.loadtest.churn import (
    ChurnConfig,
    ProcessSample,
    format_churn,
    process_sample,
    run_churn,
)
from stream.webrtc.registry import SESSIONS_KEY
from stream.webrtc.session_settings import SessionSettings
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from visionanything.cli import main

CYCLES = 100
FD_SLACK = 4  # sockets the HTTP client or the loop may keep for a moment
THREAD_SLACK = 1


def _trimmed_sample() -> ProcessSample:
    """After a full collection and glibc's malloc_trim: RSS without the freed memory the
    allocator keeps for later (which would hide or fake a leak)."""
    gc.collect()
    name = ctypes.util.find_library("c")
    if name:
        trim = getattr(ctypes.CDLL(name), "malloc_trim", None)
        if trim is not None:
            trim(0)
    return process_sample()


async def _fill_default_executor() -> None:
    """Start every worker the loop's default executor may have (it grows lazily up to
    min(32, cores + 4) and keeps them), so its bounded growth is not counted as a leak."""
    workers = min(32, (os.cpu_count() or 1) + 4)
    everyone = threading.Barrier(workers)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(None, everyone.wait, 10.0) for _ in range(workers)))


async def _settle(baseline: int, measure: str, timeout_s: float = 60.0) -> int:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        gc.collect()
        sample = process_sample()
        value = sample.fds if measure == "fds" else sample.threads
        if value <= baseline or asyncio.get_running_loop().time() >= deadline:
            return value
        await asyncio.sleep(0.25)


def _closed_by_reason(app: web.Application) -> dict[str, float]:
    return {
        sample.labels["reason"]: sample.value
        for family in app[METRICS_KEY].sessions_closed.collect()
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def test_churn_config_is_bounded() -> None:
    with pytest.raises(ValueError, match="cycles"):
        ChurnConfig(cycles=1001)
    with pytest.raises(ValueError, match="cycles"):
        ChurnConfig(cycles=0)
    with pytest.raises(ValueError, match="URL"):
        ChurnConfig(url="ftp://x")


def test_a_hundred_churn_cycles_leave_nothing_behind(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)  # a dropped phone's last sends fail on shut sockets

    async def scenario() -> dict[str, object]:
        engine = FakeEngine(delay_s=0.05)
        # the idle timeout must outlast a connected phone's slowest gap between frames on a
        # busy machine (else a "close" phone would be counted idle), yet end dropped phones soon
        config = ServerConfig(
            session=SessionSettings(idle_timeout_s=4.0, close_timeout_s=2.0),
            limits=ServerLimits(
                max_sessions=64,
                offers_per_minute=0,
                sessions_per_address=0,
                negotiation_timeout_s=15.0,
            ),
        )
        app = create_app(config, engine=engine)
        async with serving(app) as base:
            churn = ChurnConfig(
                base, cycles=CYCLES, concurrency=4, cycle_timeout_s=60, settle_s=60, in_process=True
            )
            # warm-up, as loaded as the run: the first connections create thread pools, codec
            # tables, caches and the allocator's arenas
            warm = await run_churn(churn, progress=None)
            assert warm.ok, format_churn(warm)
            await _fill_default_executor()
            before = _trimmed_sample()
            result = await run_churn(churn, progress=io.StringIO())
            report = format_churn(result)
            print(report)
            assert result.ok, report
            assert result.cycles_done == CYCLES
            assert result.sessions_after == 0
            assert len(app[SESSIONS_KEY]) == 0
            assert engine.open_sessions == []
            # each style ends as it should: closed by the phone, idle (the dropped phone went
            # silent; it streamed first), never connected (the answer was never applied)
            closed = _closed_by_reason(app)
            assert closed.get("connection_closed", 0) >= CYCLES // 3, closed
            assert closed.get("idle", 0) >= CYCLES // 3, closed
            assert closed.get("never_connected", 0) >= CYCLES // 3, closed
            fds = await _settle(before.fds + FD_SLACK, "fds")
            threads = await _settle(before.threads + THREAD_SLACK, "threads")
            after = _trimmed_sample()
            measured = {
                "elapsed_s": round(result.elapsed_s, 1),
                "settle_s": round(result.settle_s, 1),
                "fds": (before.fds, fds),
                "threads": (before.threads, threads),
                "rss_mib": (round(before.rss_bytes / 2**20, 1), round(after.rss_bytes / 2**20, 1)),
            }
            print(measured)
            assert fds <= before.fds + FD_SLACK, measured
            assert threads <= before.threads + THREAD_SLACK, measured
            assert after.rss_bytes <= before.rss_bytes * 1.05, measured
            return measured

    asyncio.run(asyncio.wait_for(scenario(), 600))


def test_the_loadtest_command_churns_and_reports(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, dict[str, object]]:
        engine = FakeEngine(delay_s=0.05)
        config = ServerConfig(
            session=SessionSettings(idle_timeout_s=4.0, close_timeout_s=2.0),
            limits=ServerLimits(max_sessions=16, offers_per_minute=0, sessions_per_address=0),
        )
        app = create_app(config, engine=engine)
        out = tmp_path / "churn.json"
        async with serving(app) as base:
            argv = ["loadtest", "--churn", "6", "--clients", "2", "--url", base, "--quiet"]
            # the CLI runs its own event loop: in a thread, while this loop serves
            status = await asyncio.to_thread(main, [*argv, "--json", str(out)])
        return status, json.loads(out.read_text())

    status, report = asyncio.run(asyncio.wait_for(scenario(), 300))
    assert status == 0, report
    assert report["cycles_done"] == 6 and report["leaked_sessions"] == 0
    assert report["done"] == {"close": 2, "drop": 2, "offer_only": 2}


def test_the_loadtest_command_refuses_too_many_churn_cycles() -> None:
    assert main(["loadtest", "--churn", "5000"]) == 2
