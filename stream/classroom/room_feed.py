"""The video a room's viewers receive: the presenting phone's annotated frames, restamped.

    presenter track ─▶ its MediaRelay ─▶ RoomFeed ─▶ the room's MediaRelay ─▶ viewers

`RoomFeed` reads a relay proxy of whichever phone presents and hands each frame on as a copy
with the room's own timestamps: every phone's frames carry its own RTP clock (a switch would
make the viewers' timestamps jump back), and the presenter's encoder reads the original frame in
another thread, so it cannot be restamped in place. One copy per presenter frame, shared by
every viewer through the room's relay (newest frame wins, no queue). With no presenter it sends
a dark frame twice a second so viewers' video stays alive (the page shows "waiting for a
phone" from the data channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from fractions import Fraction

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

CLOCK = Fraction(1, 90_000)  # the RTP video clock
WAITING_FRAME_S = 0.5
WAITING_SIZE = (240, 320)  # (H, W) of the dark frame


class RoomFeed(MediaStreamTrack):
    """The room's screen; `switch(track)` changes the source (None: waiting)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._source: MediaStreamTrack | None = None
        self._changed = asyncio.Event()
        self._started = time.monotonic()
        self._last_pts = -1
        self.frames = 0  # presenter frames handed on
        self.waiting_frames = 0

    @property
    def source(self) -> MediaStreamTrack | None:
        return self._source

    def switch(self, source: MediaStreamTrack | None) -> None:
        """Show `source` from its next frame on; the previous source is stopped."""
        previous, self._source = self._source, source
        if previous is not None and previous is not source:
            previous.stop()
        self._changed.set()

    async def recv(self) -> av.VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError("room feed ended")
            self._changed.clear()
            source = self._source
            if source is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(WAITING_FRAME_S):
                        await self._changed.wait()
                if self._source is None and self.readyState == "live":
                    self.waiting_frames += 1
                    return self._stamp(_dark_frame())
                continue
            frame = await self._next_from(source)
            if frame is not None:
                self.frames += 1
                return self._stamp(await asyncio.to_thread(_copy, frame))

    async def _next_from(self, source: MediaStreamTrack) -> av.VideoFrame | None:
        """The source's next frame, or None when it ended or another source took over."""
        receiving = asyncio.ensure_future(source.recv())
        switched = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({receiving, switched}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            switched.cancel()
            if not receiving.done():
                receiving.cancel()
        if not receiving.done() or receiving.cancelled():
            return None
        error = receiving.exception()
        if error is not None:
            if isinstance(error, MediaStreamError) and self._source is source:
                self._source = None  # the presenter left: wait for the next one
            return None
        frame = receiving.result()
        return frame if isinstance(frame, av.VideoFrame) else None

    def _stamp(self, frame: av.VideoFrame) -> av.VideoFrame:
        pts = int((time.monotonic() - self._started) / CLOCK)
        self._last_pts = max(pts, self._last_pts + 1)
        frame.pts = self._last_pts
        frame.time_base = CLOCK
        return frame

    def stop(self) -> None:
        super().stop()
        source, self._source = self._source, None
        if source is not None:
            source.stop()
        self._changed.set()


def _copy(frame: av.VideoFrame) -> av.VideoFrame:
    """A yuv420p copy of `frame`, made without the frame's own reformatter.

    Every viewer's encoder would convert an RGB frame itself (`frame.reformat`), and PyAV keeps
    one swscale context per frame: several encoder threads converting the same shared frame
    crash the process. The presenter's encoder may be converting `frame` right now too, so its
    pixels are read as they are (`to_ndarray()` converts nothing) and converted on a new frame.
    """
    pixels = frame.to_ndarray()
    if frame.format.name == "yuv420p":
        return av.VideoFrame.from_ndarray(pixels.copy(), format="yuv420p")
    fresh = av.VideoFrame.from_ndarray(pixels, format=frame.format.name)
    return fresh.reformat(format="yuv420p")


def _dark_frame() -> av.VideoFrame:
    pixels = np.full((*WAITING_SIZE, 3), 24, np.uint8)
    return av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
