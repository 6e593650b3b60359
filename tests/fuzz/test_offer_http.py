"""Fuzzing `POST /api/offer` end to end: a real aiortc offer, mutated line by line (and byte
by byte as a whole body), through the HTTP endpoint of an in-process server with the fake
engine. Every answer is JSON with a documented status, never a 500, and `/healthz` answers
after every batch (when the batch's sessions are also closed, so the server never fills up).

One server per module, on its own event-loop thread; the cases are plain blocking requests on
one keep-alive connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
from collections.abc import Awaitable, Iterator
from typing import TypeVar

import pytest
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, VideoStreamTrack
from hypothesis import given
from hypothesis import strategies as st

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.edge.limits import ServerLimits
from stream.photos.library_settings import PhotoLibrarySettings
from stream.webrtc.registry import SESSIONS_KEY
from tests.fuzz.fuzzing import count, examples, fuzz_settings
from tests.fuzz.strategies import mutated_bytes, mutated_lines
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving

pytestmark = pytest.mark.timeout(max(600, examples() // 5))

T = TypeVar("T")
ALLOWED = {200, 400, 413, 415, 429, 503}
BATCH = 25  # cases between health checks (and closing the sessions they opened)


class ThreadedServer:
    """`create_app` served on 127.0.0.1 by an event loop on a thread of its own."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._serving: contextlib.AbstractAsyncContextManager[str] | None = None
        self.port = 0
        self._connection: http.client.HTTPConnection | None = None
        self.since_check = 0
        self.checks = 0

    def call(self, awaitable: Awaitable[T], timeout: float = 60.0) -> T:
        async def wrapped() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def start(self) -> None:
        self._thread.start()
        self._serving = serving(self.app)
        base = self.call(self._serving.__aenter__())
        self.port = int(base.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._serving is not None:
            self.call(self._serving.__aexit__(None, None, None))
        self.call(self._cancel_leftovers())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()

    @staticmethod
    async def _cancel_leftovers() -> None:
        """Tasks aiortc left behind for connections that never connected."""
        current = asyncio.current_task()
        leftovers = [task for task in asyncio.all_tasks() if task is not current]
        for task in leftovers:
            task.cancel()
        if leftovers:
            await asyncio.wait(leftovers, timeout=5)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, str, bytes]:
        """(status, content type, body); one reconnect when the server closed the connection."""
        for attempt in (0, 1):
            connection = self._connection
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self._connection = connection
            try:
                headers = {"Content-Type": "application/json"} if body is not None else {}
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    connection.close()
                    self._connection = None
                return response.status, response.getheader("Content-Type") or "", data
            except (http.client.RemoteDisconnected, ConnectionError):
                connection.close()
                self._connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def check_health(self) -> None:
        """`/healthz` answers; the sessions the last batch opened are closed."""
        status, _, body = self.request("GET", "/healthz")
        assert status == 200, (status, body[:200])
        self.call(self.app[SESSIONS_KEY].close_all("fuzz batch done"))
        self.since_check = 0
        self.checks += 1

    def offer(self, body: bytes) -> int:
        status, content_type, data = self.request("POST", "/api/offer", body)
        assert status in ALLOWED, (status, data[:500])
        assert content_type.startswith("application/json"), (status, content_type, data[:200])
        reply = json.loads(data)
        if status == 200:
            assert reply["type"] == "answer" and reply["sdp"].startswith("v=0"), reply
        else:
            assert isinstance(reply.get("error"), str) and reply["error"], reply
        self.since_check += 1
        if self.since_check >= BATCH:
            self.check_health()
        return status


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    limits = ServerLimits(
        max_sessions=BATCH + 1,  # the sessions of one batch all fit
        offers_per_minute=0,  # no 429s: every case reaches the SDP parser
        sessions_per_address=0,  # every case is from 127.0.0.1
        viewers_per_address=0,
    )
    config = ServerConfig(
        limits=limits,
        classroom=ClassroomSettings(
            teachers_file=tmp_path_factory.mktemp("teachers") / "teachers.json"
        ),
        photo_library=PhotoLibrarySettings(directory=tmp_path_factory.mktemp("snapshots")),
    )
    threaded = ThreadedServer(create_app(config, engine=FakeEngine(delay_s=0.0)))
    threaded.start()
    try:
        yield threaded
    finally:
        threaded.stop()


@pytest.fixture(scope="module")
def real_offer() -> str:
    """The SDP of a real aiortc offer: camera video out, the "events" data channel."""

    async def make() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTrack(VideoStreamTrack())
            pc.createDataChannel("events")
            await pc.setLocalDescription(await pc.createOffer())
            return str(pc.localDescription.sdp)
        finally:
            await pc.close()

    return asyncio.run(make())


def test_the_real_offer_is_answered(server: ThreadedServer, real_offer: str) -> None:
    assert server.offer(json.dumps({"sdp": real_offer, "type": "offer"}).encode()) == 200
    server.check_health()


def test_mutated_offers_over_http(server: ThreadedServer, real_offer: str) -> None:
    statuses: dict[int, int] = {}
    envelope = json.dumps({"sdp": real_offer, "type": "offer"}).encode()
    sdp_bodies = mutated_lines(real_offer).map(
        lambda sdp: json.dumps({"sdp": sdp, "type": "offer"}).encode()
    )

    @fuzz_settings()
    @given(st.one_of(sdp_bodies, sdp_bodies, sdp_bodies, mutated_bytes(envelope)))
    def run(body: bytes) -> None:
        count("POST /api/offer: mutated SDP")
        status = server.offer(body)
        statuses[status] = statuses.get(status, 0) + 1

    run()
    server.check_health()
    print(f"POST /api/offer statuses: {dict(sorted(statuses.items()))}; {server.checks} checks")
    assert sum(statuses.values()) >= 1
    assert server.request("GET", "/healthz")[0] == 200


def test_oversized_body_is_413(server: ThreadedServer) -> None:
    body = json.dumps({"sdp": "v=0\r\n" + "a=x\r\n" * 20_000, "type": "offer"}).encode()
    status, _, data = server.request("POST", "/api/offer", body)
    assert status == 413, data[:200]
    server.check_health()


@pytest.mark.parametrize("body", [b"[" * 20_000, b'{"type":"offer","sdp":' + b"1" * 5000 + b"}"])
def test_json_that_breaks_json_loads_is_400(server: ThreadedServer, body: bytes) -> None:
    try:
        status, _, data = server.request("POST", "/api/offer", body)
    finally:
        server.check_health()
    assert status == 400, (status, data[:200])


def test_offer_aiortc_cannot_answer_is_400(server: ThreadedServer, real_offer: str) -> None:
    """Found by the fuzzer: aiortc accepts the offer, then fails inside createAnswer."""
    lines = real_offer.split("\r\n")
    sdp = "\r\n".join(line for line in lines if not line.startswith("m=application"))
    try:
        status, _, data = server.request(
            "POST", "/api/offer", json.dumps({"sdp": sdp, "type": "offer"}).encode()
        )
    finally:
        server.check_health()
    assert status == 400, (status, data[:200])
