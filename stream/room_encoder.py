"""One VP8 encode per room, however many screens watch it.

aiortc encodes a track once per peer connection: thirty class screens meant thirty VP8 encodes
of the same picture, which saturated two cores (BENCHMARKS.md, "Classroom"). aiortc also sends
pre-encoded video: a track whose `recv()` returns an `av.Packet` is packetised (`pack`) instead of
encoded. `RoomEncoder` reads the room's feed, encodes each frame once with libvpx, and hands the
same packets to every `EncodedScreenTrack`, one per screen.

Packets depend on the ones before them, so a screen cannot just skip to the newest one: each
screen keeps a short queue; one that falls behind (or has just joined) drops what it holds and
waits for the next keyframe, which it requests. Keyframes also come every `keyframe_interval_s`,
and a screen's own keyframe request (an RTCP PLI, which aiortc's sender only notes for its own
encoder) is passed on to the shared encoder. Bitrate is fixed (a classroom LAN), not adapted per
screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription
from av.video.codeccontext import VideoCodecContext

log = logging.getLogger(__name__)

CLOCK = Fraction(1, 90_000)  # the RTP video clock; the feed's frames carry it
BITRATE = 1_500_000  # bits per second, aiortc's own VP8 ceiling
KEYFRAME_INTERVAL_S = 2.0
MIN_KEYFRAME_GAP_S = 0.5  # requests closer together than this share one keyframe
SCREEN_QUEUE = 8  # packets a screen may fall behind before it resynchronises

# aiortc's sender sets this on an RTCP PLI/FIR (name-mangled private attribute); read it to pass
# a screen's request on. Without it (another aiortc), the periodic keyframes still resync.
_SENDER_KEYFRAME_FLAG = "_RTCRtpSender__force_keyframe"


class Vp8Encoder:
    """libvpx in real-time mode for one picture size; `encode` runs in a worker thread."""

    def __init__(self, bitrate: int = BITRATE) -> None:
        self.bitrate = bitrate
        self._codec: VideoCodecContext | None = None

    def encode(self, frame: av.VideoFrame, keyframe: bool) -> list[av.Packet]:
        codec = self._codec
        if codec is None or (codec.width, codec.height) != (frame.width, frame.height):
            codec = self._codec = self._open(frame.width, frame.height)
            keyframe = True
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        picture = av.video.frame.PictureType
        frame.pict_type = picture.I if keyframe else picture.NONE
        packets = list(codec.encode(frame))
        for packet in packets:
            packet.time_base = CLOCK  # aiortc's pack() converts pts with it
        return packets

    def _open(self, width: int, height: int) -> VideoCodecContext:
        codec = av.CodecContext.create("libvpx", "w")
        codec.width, codec.height = width, height
        codec.pix_fmt = "yuv420p"
        codec.time_base = CLOCK
        codec.bit_rate = self.bitrate
        codec.gop_size = 100_000  # keyframes only when asked (periodic or requested)
        codec.options = {
            "deadline": "realtime",
            "cpu-used": "8",
            "lag-in-frames": "0",  # a packet out for every frame in
            "minrate": str(self.bitrate),
            "maxrate": str(self.bitrate),
            "bufsize": str(self.bitrate),
            "undershoot-pct": "100",
            "overshoot-pct": "15",
            "static-thresh": "1",
        }
        codec.thread_count = 2
        codec.open()
        return codec


class EncodedScreenTrack(MediaStreamTrack):
    """One screen's video: the room's shared VP8 packets, in order, from a keyframe on."""

    kind = "video"

    def __init__(self, encoder: RoomEncoder) -> None:
        super().__init__()
        self.sender: RTCRtpSender | None = None  # set once added to a peer connection
        self.resyncs = 0
        self._encoder = encoder
        self._queue: deque[av.Packet] = deque()
        self._arrived = asyncio.Event()
        self._waiting_for_keyframe = True

    def push(self, packet: av.Packet) -> None:
        if self._waiting_for_keyframe:
            if not packet.is_keyframe:
                return
            self._waiting_for_keyframe = False
        elif len(self._queue) >= SCREEN_QUEUE:
            self._queue.clear()  # fell behind: start again at the next keyframe
            self.resyncs += 1
            self._waiting_for_keyframe = not packet.is_keyframe
            if self._waiting_for_keyframe:
                self._encoder.request_keyframe()
                return
        self._queue.append(packet)
        self._arrived.set()

    async def recv(self) -> av.Packet:
        while not self._queue:
            if self.readyState != "live":
                raise MediaStreamError("the room's screen ended")
            self._arrived.clear()
            await self._arrived.wait()
        self._pass_on_keyframe_request()
        return self._queue.popleft()

    def _pass_on_keyframe_request(self) -> None:
        if self.sender is not None and getattr(self.sender, _SENDER_KEYFRAME_FLAG, False):
            setattr(self.sender, _SENDER_KEYFRAME_FLAG, False)
            self._encoder.request_keyframe()

    def end(self) -> None:
        """The encoder stopped: wake `recv` so it raises."""
        super().stop()
        self._arrived.set()

    def stop(self) -> None:
        super().stop()
        self._arrived.set()
        self._encoder.unsubscribe(self)


class RoomEncoder:
    """Encodes `source` (the room's feed, restamped on the RTP clock) for every screen.

    Runs while at least one screen is subscribed; `open_source()` gives it a fresh reader of
    the feed each time it starts.
    """

    def __init__(
        self,
        open_source: Callable[[], MediaStreamTrack],
        *,
        encoder: Vp8Encoder | None = None,
        keyframe_interval_s: float = KEYFRAME_INTERVAL_S,
    ) -> None:
        self._open_source = open_source
        self._vp8 = encoder or Vp8Encoder()
        self.keyframe_interval_s = keyframe_interval_s
        self._screens: set[EncodedScreenTrack] = set()
        self._task: asyncio.Task[None] | None = None
        self._source: MediaStreamTrack | None = None
        self._keyframe_wanted = True
        self._last_keyframe = float("-inf")
        self.frames_encoded = 0
        self.keyframes = 0

    @property
    def screens(self) -> int:
        return len(self._screens)

    def subscribe(self) -> EncodedScreenTrack:
        screen = EncodedScreenTrack(self)
        self._screens.add(screen)
        self.request_keyframe()  # the new screen starts at a keyframe
        if self._task is None or self._task.done():
            self._source = self._open_source()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="room-encoder")
        return screen

    def unsubscribe(self, screen: EncodedScreenTrack) -> None:
        self._screens.discard(screen)
        if not self._screens:
            self._stop_running()

    def request_keyframe(self) -> None:
        self._keyframe_wanted = True

    def stop(self) -> None:
        """End every screen's track and stop encoding (the room ended)."""
        for screen in list(self._screens):
            screen.end()
        self._screens.clear()
        self._stop_running()

    def _stop_running(self) -> None:
        if self._source is not None:
            self._source.stop()
            self._source = None
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _keyframe_now(self) -> bool:
        now = time.monotonic()
        due = now - self._last_keyframe >= self.keyframe_interval_s
        asked = self._keyframe_wanted and now - self._last_keyframe >= MIN_KEYFRAME_GAP_S
        if due or asked:
            self._keyframe_wanted = False
            self._last_keyframe = now
            return True
        return False

    async def _run(self) -> None:
        source = self._source
        assert source is not None
        try:
            while self._screens:
                frame = await source.recv()
                if not isinstance(frame, av.VideoFrame):
                    continue
                keyframe = self._keyframe_now()
                packets = await asyncio.to_thread(self._vp8.encode, frame, keyframe)
                self.frames_encoded += 1
                for packet in packets:
                    self.keyframes += packet.is_keyframe
                    for screen in list(self._screens):
                        screen.push(packet)
        except MediaStreamError:
            pass  # the feed ended
        except Exception:
            log.exception("the room's shared encoder failed; its screens end")
        finally:
            if self._source is source:  # not restarted meanwhile
                for screen in list(self._screens):
                    screen.end()
                self._screens.clear()
                with contextlib.suppress(Exception):
                    source.stop()
                self._source = None


def offer_sends_vp8(sdp: str) -> bool:
    """Whether aiortc will answer `sdp`'s video with VP8: it takes the first codec of the
    offer's video section that it supports (VP8 or H.264), in the offer's order."""
    try:
        description = SessionDescription.parse(sdp)
    except Exception:  # the answer path reports bad SDP; here it only means "not VP8"
        return False
    for media in description.media:
        if media.kind != "video":
            continue
        for codec in media.rtp.codecs:
            name = codec.mimeType.lower()
            if name in ("video/vp8", "video/h264"):
                return name == "video/vp8"
    return False
