"""The room's shared VP8 encoder: decodable packets, keyframes when needed, screens that resync."""

from __future__ import annotations

import asyncio

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from stream.room_encoder import (
    CLOCK,
    SCREEN_QUEUE,
    EncodedScreenTrack,
    RoomEncoder,
    Vp8Encoder,
    offer_sends_vp8,
)

SIZE = (96, 128)  # (H, W)


def frame(n: int, size: tuple[int, int] = SIZE) -> av.VideoFrame:
    pixels = np.full((*size, 3), (n * 7) % 255, np.uint8)
    pixels[:, : (n * 5) % size[1]] = 200  # a moving edge
    video = av.VideoFrame.from_ndarray(pixels, format="rgb24").reformat(format="yuv420p")
    video.pts = n * 3000
    video.time_base = CLOCK
    return video


def decode(packets: list[av.Packet]) -> list[av.VideoFrame]:
    decoder = av.CodecContext.create("libvpx", "r")
    return [out for packet in packets for out in decoder.decode(packet)]


def test_vp8_encoder_starts_with_a_keyframe_and_its_packets_decode() -> None:
    encoder = Vp8Encoder()

    packets = [p for n in range(10) for p in encoder.encode(frame(n), keyframe=n == 6)]

    assert len(packets) == 10  # one packet per frame: no lag
    assert [p.is_keyframe for p in packets] == [n in (0, 6) for n in range(10)]
    assert [p.pts for p in packets] == [n * 3000 for n in range(10)]
    assert all(p.time_base == CLOCK for p in packets)
    decoded = decode(packets)
    assert len(decoded) == 10 and {(f.height, f.width) for f in decoded} == {SIZE}
    # decoding can start at the requested keyframe too
    assert len(decode(packets[6:])) == 4


def test_vp8_encoder_reopens_with_a_keyframe_when_the_size_changes() -> None:
    encoder = Vp8Encoder()
    encoder.encode(frame(0), keyframe=False)

    [packet] = encoder.encode(frame(1, (120, 160)), keyframe=False)

    assert packet.is_keyframe
    [decoded] = decode([packet])
    assert (decoded.height, decoded.width) == (120, 160)


class Packets:
    """Fake encoded packets: `key(n)` and `delta(n)`."""

    def __init__(self) -> None:
        self.encoder = Vp8Encoder()

    def key(self, n: int) -> av.Packet:
        return self.encoder.encode(frame(n), keyframe=True)[0]

    def delta(self, n: int) -> av.Packet:
        [packet] = self.encoder.encode(frame(n), keyframe=False)
        assert not packet.is_keyframe
        return packet


class RecordingEncoder(RoomEncoder):
    def __init__(self) -> None:
        super().__init__(lambda: MediaStreamTrack())
        self.requests = 0

    def request_keyframe(self) -> None:
        self.requests += 1
        super().request_keyframe()


def test_a_screen_starts_at_a_keyframe_and_resyncs_when_it_falls_behind() -> None:
    async def scenario() -> None:
        room = RecordingEncoder()
        screen = EncodedScreenTrack(room)
        packets = Packets()
        screen.push(packets.key(0))
        first = [packets.delta(n) for n in range(1, 3)]
        for packet in first:
            screen.push(packet)
        late = EncodedScreenTrack(room)
        late.push(first[-1])  # joined mid-stream: a delta frame is useless to it

        assert [(await screen.recv()).pts for _ in range(3)] == [0, 3000, 6000]
        assert late._queue == type(late._queue)()  # nothing queued yet

        for n in range(3, 3 + SCREEN_QUEUE + 1):  # nobody reads: the screen falls behind
            screen.push(packets.delta(n))
        assert screen.resyncs == 1 and room.requests == 1
        screen.push(packets.delta(20))  # still waiting for a keyframe
        screen.push(packets.key(21))
        assert (await screen.recv()).pts == 21 * 3000 and screen.resyncs == 1

        screen.stop()
        with pytest.raises(MediaStreamError):
            await screen.recv()

    asyncio.run(scenario())


def test_a_screens_keyframe_request_reaches_the_shared_encoder() -> None:
    async def scenario() -> None:
        room = RecordingEncoder()
        screen = EncodedScreenTrack(room)
        pc = RTCPeerConnection()
        try:
            screen.sender = pc.addTrack(screen)
            assert isinstance(screen.sender, RTCRtpSender)
            screen.push(Packets().key(0))
            screen.sender._RTCRtpSender__force_keyframe = True  # as an RTCP PLI does

            await screen.recv()

            assert room.requests == 1
            assert screen.sender._RTCRtpSender__force_keyframe is False
        finally:
            await pc.close()

    asyncio.run(scenario())


class CountingSource(MediaStreamTrack):
    kind = "video"

    def __init__(self, frames: int) -> None:
        super().__init__()
        self.sent = 0
        self.frames = frames

    async def recv(self) -> av.VideoFrame:
        if self.sent >= self.frames or self.readyState != "live":
            raise MediaStreamError
        await asyncio.sleep(0.01)
        self.sent += 1
        return frame(self.sent)


def test_room_encoder_encodes_once_for_all_screens_and_stops_with_them() -> None:
    async def scenario() -> None:
        sources: list[CountingSource] = []

        def open_source() -> CountingSource:
            sources.append(CountingSource(frames=30))
            return sources[-1]

        room = RoomEncoder(open_source)
        screens = [room.subscribe() for _ in range(3)]
        received: list[list[av.Packet]] = [[] for _ in screens]
        for _ in range(10):
            for screen, got in zip(screens, received, strict=True):
                got.append(await screen.recv())

        assert len(sources) == 1  # one reader of the feed
        assert room.frames_encoded <= sources[0].sent  # one encode per frame, not per screen
        assert [[p.pts for p in got] for got in received] == [[p.pts for p in received[0]]] * 3
        assert len(decode(received[0])) == 10  # decodable from the first packet on

        for screen in screens:
            screen.stop()
        assert room.screens == 0 and sources[0].readyState == "ended"
        again = room.subscribe()  # a new screen restarts it with a fresh reader
        await again.recv()
        assert len(sources) == 2
        room.stop()
        with pytest.raises(MediaStreamError):
            for _ in range(SCREEN_QUEUE + 1):
                await again.recv()

    asyncio.run(asyncio.wait_for(scenario(), 30))


def _sdp_with_video(*codecs: str) -> str:
    payloads = " ".join(str(96 + i) for i in range(len(codecs)))
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"m=video 9 UDP/TLS/RTP/SAVPF {payloads}",
        "c=IN IP4 0.0.0.0",
        *(f"a=rtpmap:{96 + i}/{name}/90000".replace("/", " ", 1) for i, name in enumerate(codecs)),
    ]
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("sdp", "vp8"),
    [
        (_sdp_with_video("VP8", "H264"), True),
        (_sdp_with_video("H264", "VP8"), False),
        (_sdp_with_video("VP9", "VP8", "H264"), True),  # aiortc skips what it cannot send
        (_sdp_with_video("AV1", "H264"), False),
        ("not sdp at all", False),
    ],
)
def test_offer_sends_vp8(sdp: str, vp8: bool) -> None:
    assert offer_sends_vp8(sdp) is vp8


def test_a_real_aiortc_offer_is_vp8() -> None:
    async def scenario() -> str:
        pc = RTCPeerConnection()
        try:
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            return pc.localDescription.sdp
        finally:
            await pc.close()

    assert offer_sends_vp8(asyncio.run(scenario()))
