"""While the models load, `GET /api/status` and `/readyz` say how far the load has got
("Getting ready… 2 of 4" on the pages) and, once ready, which faster runtimes are still built
in the background. The factory reports to a `LoadProgress` it shares with the app; a slow
factory is held between steps by events, so no test sleeps or depends on the machine."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import aiohttp
import pytest

from inference.graphs import background_builds
from stream.app import ServerConfig, create_app
from stream.edge.loading import STARTING, LoadingStep, LoadProgress
from stream.webrtc.engine_seam import EngineLike
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from visionanything.commands import serve_loading

STEPS = ("importing", "models", "warming up", "engine")
WAIT_S = 60.0


def test_steps_count_from_one_and_may_skip_but_never_go_back() -> None:
    clock = [100.0]
    progress = LoadProgress(STEPS, clock=lambda: clock[0])
    assert progress.current() == LoadingStep(0, 4, STARTING)
    clock[0] = 103.5
    assert progress.begin("models") == LoadingStep(2, 4, "models")
    assert progress.elapsed_s() == 3.5
    assert progress.current().as_json() == {"step": 2, "steps": 4, "doing": "models"}
    assert progress.current().describe() == "2 of 4: models"
    assert progress.begin("engine").step == 4  # "warming up" not needed: skipped
    with pytest.raises(ValueError, match="comes before"):
        progress.begin("importing")
    with pytest.raises(ValueError, match="no step"):
        progress.begin("dancing")
    with pytest.raises(ValueError):
        LoadProgress(())
    with pytest.raises(ValueError):
        LoadProgress(("a", "a"))


def test_the_running_builds_are_listed_and_a_broken_list_is_empty() -> None:
    assert LoadProgress(STEPS, building=lambda: ["segmenter encoder"]).building() == [
        "segmenter encoder"
    ]
    assert LoadProgress(STEPS).building() == []

    def broken() -> list[str]:
        raise RuntimeError("no thread list")

    assert LoadProgress(STEPS, building=broken).building() == []


def test_serve_names_its_steps_and_the_builds_running() -> None:
    assert serve_loading.LOAD_STEPS == STEPS
    assert serve_loading.build_label("encoder-build-auto") == "segmenter encoder"
    assert serve_loading.build_label("openvino-build-512x683") == "detector 683x512"  # (H, W) → W×H
    assert serve_loading.build_label("photo-build") == "photo-build"
    progress = serve_loading.load_progress()
    assert progress.steps == STEPS and progress.current().step == 0
    release = threading.Event()

    def hold() -> None:
        assert release.wait(WAIT_S)

    build = background_builds.start_build("openvino-build-96x128", hold)
    try:
        assert "detector 128x96" in progress.building()
    finally:
        release.set()
        build.join(WAIT_S)
    assert "detector 128x96" not in progress.building()


class GatedFactory:
    """An engine factory that reports each step, then waits for the test to let it go on."""

    def __init__(self, progress: LoadProgress) -> None:
        self.progress = progress
        self.reached = {step: threading.Event() for step in STEPS}
        self.go_on = {step: threading.Event() for step in STEPS}
        self.engine = FakeEngine(delay_s=0.05)

    def __call__(self) -> EngineLike:
        for step in STEPS:
            if step == "warming up":
                continue  # not needed here: the count jumps from 2 to 4
            self.progress.begin(step)
            self.reached[step].set()
            assert self.go_on[step].wait(WAIT_S), f"the test never let {step!r} end"
        return self.engine

    def release_all(self) -> None:
        for event in self.go_on.values():
            event.set()


async def _json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def _wait_for(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, WAIT_S)


def test_status_and_readyz_follow_the_load_step_by_step() -> None:
    builds = ["segmenter encoder", "detector 683x512"]
    progress = LoadProgress(STEPS, building=lambda: list(builds))
    factory = GatedFactory(progress)

    async def scenario() -> None:
        app = create_app(ServerConfig(), engine_factory=factory, progress=progress)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            await _wait_for(factory.reached["importing"])
            status, body = await _json(http, f"{base}/api/status")
            assert status == 200 and body["ready"] is False
            assert body["loading"] == {"step": 1, "steps": 4, "doing": "importing"}
            factory.go_on["importing"].set()
            await _wait_for(factory.reached["models"])
            _, body = await _json(http, f"{base}/api/status")
            assert body["loading"] == {"step": 2, "steps": 4, "doing": "models"}
            assert body["building"] == builds  # a build may start while loading
            status, ready = await _json(http, f"{base}/readyz")
            assert status == 503 and ready["reason"] == "starting: loading models (2 of 4: models)"
            factory.go_on["models"].set()
            await _wait_for(factory.reached["engine"])
            _, body = await _json(http, f"{base}/api/status")
            assert body["loading"] == {"step": 4, "steps": 4, "doing": "engine"}
            factory.go_on["engine"].set()
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while not (body := (await _json(http, f"{base}/api/status"))[1])["ready"]:
                assert asyncio.get_running_loop().time() < deadline, body
                await asyncio.sleep(0.05)
            # ready: no more loading; the background builds still show until they end
            assert body["loading"] is None and body["building"] == builds
            builds.clear()
            _, body = await _json(http, f"{base}/api/status")
            assert body == {"demo": None, "ready": True, "loading": None, "building": []}

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        factory.release_all()


def test_without_a_progress_report_the_load_has_no_count() -> None:
    release = threading.Event()

    def factory() -> EngineLike:
        assert release.wait(WAIT_S)
        return FakeEngine(delay_s=0.05)

    async def scenario() -> None:
        app = create_app(ServerConfig(), engine_factory=factory)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            _, body = await _json(http, f"{base}/api/status")
            assert body["loading"] == {"step": 0, "steps": 0, "doing": "loading models"}
            assert body["building"] == []
            _, ready = await _json(http, f"{base}/readyz")
            assert ready["reason"] == "starting: loading models"

    try:
        asyncio.run(asyncio.wait_for(scenario(), 120))
    finally:
        release.set()


def test_a_failed_load_is_not_loading_any_more() -> None:
    progress = LoadProgress(STEPS)
    failed: list[str] = []

    def factory() -> EngineLike:
        progress.begin("models")
        raise RuntimeError("weights/mobile_sam.pt is missing")

    async def scenario() -> None:
        app = create_app(
            ServerConfig(), engine_factory=factory, on_fatal=failed.append, progress=progress
        )
        async with serving(app) as base, aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while not failed:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
            _, body = await _json(http, f"{base}/api/status")
            assert body["ready"] is False and body["loading"] is None
            _, ready = await _json(http, f"{base}/readyz")
            assert ready["reason"].startswith("failed:")

    asyncio.run(asyncio.wait_for(scenario(), 120))
