"""Test helpers: a Python aiortc "phone" that streams a real photo over loopback, and a server
runner that serves an app on 127.0.0.1 on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import av
import cv2
import numpy as np
import numpy.typing as npt
from aiohttp import web
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from skimage import data

VIDEO_TIME_BASE = fractions.Fraction(1, 90_000)


def photo(name: str = "chelsea", width: int = 320, height: int = 240) -> npt.NDArray[np.uint8]:
    """A real photograph from scikit-image (chelsea: a cat, coffee: a cup, astronaut) as an
    RGB uint8 frame of the given size."""
    image = np.asarray(getattr(data, name)(), dtype=np.uint8)
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    resized = cv2.resize(image[..., :3], (width, height), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(resized, dtype=np.uint8)


class PhotoTrack(MediaStreamTrack):
    """A camera that films a still photo at `fps`; `frozen` makes it stop sending."""

    kind = "video"

    def __init__(self, image: npt.NDArray[np.uint8], fps: float = 15.0) -> None:
        super().__init__()
        self.image = image
        self.fps = fps
        self.sent = 0
        self.frozen = False
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self.sent / self.fps - time.monotonic()))
        while self.frozen:
            await asyncio.sleep(0.05)
            self._start = time.monotonic() - self.sent / self.fps
        frame = av.VideoFrame.from_ndarray(self.image, format="rgb24")
        frame.pts = round(self.sent * 90_000 / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        self.sent += 1
        return frame


class Client:
    """A phone: sends `image` as video, opens the "events" channel, records what comes back.

    `on_frame`, when set, sees every returned video frame in order; `out_of_order` counts
    returned frames whose timestamp is not after the previous one's (0 when in order).
    """

    def __init__(self, image: npt.NDArray[np.uint8] | None = None, fps: float = 15.0) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = PhotoTrack(image if image is not None else photo(), fps)
        self.pc.addTrack(self.track)
        self.channel = self.pc.createDataChannel("events")
        self.messages: list[dict[str, Any]] = []
        self.received = 0
        self.last_frame: av.VideoFrame | None = None
        self.on_frame: Callable[[av.VideoFrame], None] | None = None
        self.out_of_order = 0
        self.session: str | None = None
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)

    def _on_message(self, raw: str) -> None:
        self.messages.append(json.loads(raw))
        self._changed.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.VideoFrame)
            last = self.last_frame
            # RTP timestamps are 32 bits and may wrap: "after" is less than half the range ahead
            if (
                last is not None
                and frame.pts is not None
                and last.pts is not None
                and not 0 < (frame.pts - last.pts) % 2**32 < 2**31
            ):
                self.out_of_order += 1
            self.received += 1
            self.last_frame = frame
            if self.on_frame is not None:
                self.on_frame(frame)
            self._changed.set()

    async def offer(self) -> dict[str, Any]:
        """Our offer, after ICE gathering (as the page sends it)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    async def connect(
        self, http: aiohttp.ClientSession, base: str, **fields: str
    ) -> dict[str, Any]:
        """Offer, answer; `fields` go into the offer (room, role)."""
        payload = {**await self.offer(), **fields}
        async with http.post(f"{base}/api/offer", json=payload) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == 200, body
        self.session = body["session"]
        await self.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
        return body

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Poll `condition` on every change (and at least every 0.2 s) until it holds;
        TimeoutError past `timeout` s, a deadline generous enough for a slow, busy machine."""
        async with asyncio.timeout(timeout):
            while not condition():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await self._changed.wait()

    async def wait_for(
        self,
        kind: str,
        condition: Callable[[dict[str, Any]], bool] = lambda m: True,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        await self.wait_until(lambda: any(condition(m) for m in self.of_type(kind)), timeout)
        return next(m for m in reversed(self.of_type(kind)) if condition(m))

    def send(self, message: dict[str, Any] | str | bytes) -> None:
        self.channel.send(message if isinstance(message, str | bytes) else json.dumps(message))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
        async with asyncio.timeout(10):
            await self.pc.close()


def black_hole(pc: RTCPeerConnection) -> int:
    """Drop every packet `pc` sends or receives from now on, saying nothing to either end: the
    network under a connected peer went away (a phone leaving the Wi-Fi). Returns how many
    ICE sockets were cut (0 would mean aiortc's internals moved and the test proves nothing)."""
    cut = 0
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        connection = dtls.transport._connection if dtls is not None else None
        for protocol in getattr(connection, "_protocols", []):
            protocol.datagram_received = lambda *args, **kwargs: None
            if protocol.transport is not None:
                protocol.transport.sendto = lambda *args, **kwargs: None
            cut += 1
    return cut


@contextlib.asynccontextmanager
async def serving(app: web.Application, **runner_options: Any) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 on a free port; yields the base URL; cleans up (graceful
    shutdown included) on exit. `runner_options` go to the AppRunner (e.g. serve's
    `stream.edge.access_log.RUNNER_OPTIONS`)."""
    runner = web.AppRunner(app, **runner_options)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        async with asyncio.timeout(30):
            await runner.cleanup()


def mean_abs_diff(a: npt.NDArray[Any], b: npt.NDArray[Any], where: npt.NDArray[Any]) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16))[where].mean())
