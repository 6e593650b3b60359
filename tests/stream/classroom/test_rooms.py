"""Rooms over real WebRTC on loopback: one presenting phone, five viewers (projectors).

The phone's camera stamps each frame with its counter (the load-test code strip); every viewer
must decode frames of that phone from the room's screen, while the engine serves one session,
the phone's: the models run once per presenter frame, whatever the number of viewers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import av
import cv2
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from stream.app import ROOMS_KEY, ServerConfig, create_app
from stream.classroom.viewers import VIEWERS_KEY
from stream.edge.limits import ServerLimits
from stream.loadtest.frame_code import check_code_fits, frame_luma, read_code, stamp_code
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, PhotoTrack, photo, serving

SIZE = (320, 240)  # (width, height)


class CodedTrack(PhotoTrack):
    """A camera filming a photo, each frame carrying its counter in the code strip."""

    async def recv(self) -> av.VideoFrame:
        frame = await super().recv()
        i420 = np.asarray(cv2.cvtColor(self.image, cv2.COLOR_RGB2YUV_I420), np.uint8)
        stamp_code(i420, SIZE, self.sent - 1)
        coded = av.VideoFrame.from_ndarray(i420, format="yuv420p")
        coded.pts, coded.time_base = frame.pts, frame.time_base
        return coded


class CodedPhone(Client):
    def __init__(self, image: np.ndarray) -> None:
        super().__init__(image)
        self.pc.getSenders()[0].replaceTrack(None)  # swapped for the coded camera below
        self.track = CodedTrack(image, 15)
        self.pc.getSenders()[0].replaceTrack(self.track)


class Viewer:
    """A projector: receives video only, opens the data channel, records codes and messages."""

    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTransceiver("video", direction="recvonly")
        self.channel = self.pc.createDataChannel("events")
        self.messages: list[dict[str, Any]] = []
        self.codes: list[int] = []
        self.frames = 0
        self.sizes: set[tuple[int, int]] = set()
        self._reader: asyncio.Task[None] | None = None
        self.channel.on("message", lambda raw: self.messages.append(json.loads(raw)))
        self.pc.on("track", self._on_track)

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.VideoFrame)
            self.frames += 1
            self.sizes.add((frame.width, frame.height))
            if (frame.width, frame.height) == SIZE:
                code = read_code(frame_luma(frame), SIZE)
                if code is not None:
                    self.codes.append(code)

    async def connect(
        self, http: aiohttp.ClientSession, base: str, room: str, screen: str
    ) -> dict[str, Any]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = {"sdp": self.pc.localDescription.sdp, "type": "offer", "room": room}
        offer["screen"] = screen  # the teacher's screen token
        async with http.post(f"{base}/api/offer", json={**offer, "role": "viewer"}) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == 200, body
        await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        return body

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        await self.pc.close()


async def _until(condition: Any, timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def test_five_viewers_watch_the_presenter_and_the_models_run_once() -> None:
    check_code_fits(SIZE)
    asyncio.run(asyncio.wait_for(_classroom(), 120))


async def _classroom() -> None:
    engine = FakeEngine(delay_s=0.1)
    app = create_app(ServerConfig(limits=ServerLimits(max_sessions=2)), engine=engine)
    async with serving(app) as base, aiohttp.ClientSession() as http:
        room = await app[ROOMS_KEY].store.create("teacher")
        # the demo switch: the first phone presents without the teacher picking it
        await app[ROOMS_KEY].set_settings(room.code, first_phone_presents=True)
        _, token = await app[ROOMS_KEY].mint_screen(room.code)
        phone = CodedPhone(photo("coffee", *SIZE))
        viewers = [Viewer() for _ in range(5)]
        try:
            await phone.connect(http, base, room=room.code.lower())  # codes are case-blind
            joined = await phone.wait_for("room", lambda m: m["presenting"] == phone.session)
            assert joined["code"] == room.code
            for viewer in viewers:
                body = await viewer.connect(http, base, room.code, token)
                assert body["session"].startswith("v")
            assert len(app[VIEWERS_KEY]) == 5 and len(app[SESSIONS_KEY]) == 1  # viewers: no cap
            await _until(lambda: all(len(v.codes) >= 30 for v in viewers), 60, "30 coded frames")

            sent = phone.track.sent
            for viewer in viewers:
                # the presenter's frames, in order, nearly all of them (newest frame wins)
                assert all(0 <= code < sent for code in viewer.codes), viewer.codes
                assert viewer.codes == sorted(viewer.codes)
                span = viewer.codes[-1] - viewer.codes[0] + 1
                assert len(set(viewer.codes)) >= 0.6 * span, (len(viewer.codes), span)
                assert viewer.sizes == {SIZE}
            # one engine session, the phone's: every camera frame submitted once
            assert engine.open_sessions == [phone.session]
            assert phone.session is not None
            session = app[SESSIONS_KEY].get(phone.session)
            assert session is not None
            stats = engine.session_stats(phone.session)
            assert stats.frames_submitted == session.frames_in
            assert engine.stats()["processed"] <= session.frames_in

            # the presenter's objects reach the viewers; the room's state too
            await _until(lambda: all(v.of_type("objects") for v in viewers), 10, "objects")
            for viewer in viewers:
                state = viewer.of_type("room")[-1]
                assert state["presenting"] == phone.session and state["code"] == room.code
                assert viewer.of_type("objects")[-1]["objects"][0]["label"] == "cat"

            # a viewer cannot change anything: its commands are refused, the phone's words stay
            before = engine.session_stats(phone.session).vocabulary
            viewers[0].channel.send(json.dumps({"type": "vocabulary", "words": "dinosaur"}))
            await _until(lambda: viewers[0].of_type("error"), 10, "read_only error")
            assert viewers[0].of_type("error")[0]["code"] == "read_only"
            assert engine.session_stats(phone.session).vocabulary == before
            assert not [c for c in engine.calls if c[0] == "vocabulary"]
        finally:
            for viewer in viewers:
                await viewer.close()
            await phone.close()


@pytest.mark.parametrize(
    ("fields", "status", "error"),
    [
        ({"room": "ZZZZZZ"}, 404, "no room with code ZZZZZZ"),
        ({"room": "nope"}, 404, "no room with code"),
        ({"role": "viewer"}, 400, "a viewer needs a 'room' code"),
        ({"room": "ZZZZZZ", "role": "teacher"}, 400, "'role' must be"),
    ],
)
def test_wrong_room_offers_get_clear_refusals(
    fields: dict[str, str], status: int, error: str
) -> None:
    async def run() -> None:
        engine = FakeEngine(delay_s=0.1)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client(photo("coffee", *SIZE))
            try:
                payload = {**await client.offer(), **fields}
                async with http.post(f"{base}/api/offer", json=payload) as response:
                    body = await response.json()
                assert response.status == status and error in body["error"], body
                assert len(app[SESSIONS_KEY]) == 0 and len(app[VIEWERS_KEY]) == 0
                assert engine.open_sessions == []
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(run(), 60))


def test_a_viewer_that_sends_a_camera_is_never_shown_nor_modelled() -> None:
    """A "viewer" offering its own camera gets the room's screen (dark while nobody presents);
    its video is read and thrown away: no engine session, no presenter."""

    async def run() -> None:
        engine = FakeEngine(delay_s=0.1)
        app = create_app(ServerConfig(), engine=engine)
        async with serving(app) as base, aiohttp.ClientSession() as http:
            room = await app[ROOMS_KEY].store.create("teacher")
            _, token = await app[ROOMS_KEY].mint_screen(room.code)
            sneaky = Client(photo("chelsea", *SIZE))
            try:
                body = await sneaky.connect(http, base, room=room.code, role="viewer", screen=token)
                assert body["session"].startswith("v")
                await sneaky.wait_until(lambda: sneaky.received >= 2, timeout=10)
                assert sneaky.last_frame is not None
                assert float(frame_luma(sneaky.last_frame).mean()) < 40  # the waiting screen
                assert engine.open_sessions == [] and len(app[SESSIONS_KEY]) == 0
                phones, viewers = app[ROOMS_KEY].members(room.code)
                assert phones == [] and len(viewers) == 1
                state = await sneaky.wait_for("room")
                assert state["presenting"] is None
                assert sneaky.track.sent > 10  # it did send video, which went nowhere
            finally:
                await sneaky.close()

    asyncio.run(asyncio.wait_for(run(), 60))
