"""A lost video packet costs a stutter and a keyframe request, not seconds of frozen video."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import aiortc.rtcrtpreceiver
import pytest
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket

from stream.app import ServerConfig, create_app
from stream.webrtc import loss_recovery
from stream.webrtc.loss_recovery import GIVE_UP_S, RecoveringJitterBuffer
from stream.webrtc.registry import SESSIONS_KEY
from tests.support.clocks import FakeClock
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving

PACKETS_PER_FRAME = 3
FRAME_TICKS = 3000  # 90 kHz clock, 30 fps


def frame_packets(frame: int, first_sequence: int = 0) -> list[RtpPacket]:
    """The packets of video frame `frame`; their data names frame and part."""
    packets = []
    for part in range(PACKETS_PER_FRAME):
        sequence = (first_sequence + frame * PACKETS_PER_FRAME + part) % 65536
        packet = RtpPacket(
            sequence_number=sequence,
            timestamp=frame * FRAME_TICKS,
            marker=int(part == PACKETS_PER_FRAME - 1),
        )
        packet._data = f"f{frame}p{part};".encode()  # type: ignore[attr-defined]
        packets.append(packet)
    return packets


def feed(
    buffer: JitterBuffer,
    frames: range,
    *,
    lose: set[int] = frozenset(),  # type: ignore[assignment]
    clock: FakeClock | None = None,
    first_sequence: int = 0,
) -> tuple[list[int], int]:
    """Feed frames 33 ms apart, dropping the packets with sequence numbers in `lose`; return the
    frames that come out whole (by number) and how many keyframe requests were raised."""
    out: list[int] = []
    keyframe_requests = 0
    for frame in frames:
        if clock is not None:
            clock.now += 1 / 30
        for packet in frame_packets(frame, first_sequence):
            if packet.sequence_number in lose:
                continue
            pli, assembled = buffer.add(packet)
            keyframe_requests += pli
            if assembled is not None:
                out.append(whole_frame(assembled))
    return out, keyframe_requests


def whole_frame(assembled: JitterFrame) -> int:
    parts = assembled.data.decode().rstrip(";").split(";")
    numbers = {int(part[1:].split("p")[0]) for part in parts}
    assert len(numbers) == 1, parts  # never two frames glued together
    assert len(parts) == PACKETS_PER_FRAME, parts  # never a frame with a part missing
    return numbers.pop()


def test_aiortc_alone_freezes_behind_one_lost_packet() -> None:
    """What this module is for: the stock buffer waits for a lost packet indefinitely."""
    out, keyframe_requests = feed(JitterBuffer(capacity=512, is_video=True), range(60), lose={31})

    assert out == list(range(10))  # frame 10 lost its middle packet; nothing after it came out
    assert keyframe_requests == 0


@pytest.mark.parametrize(
    ("lost", "first_sequence", "broken_frame"),
    [
        ({31}, 0, 10),  # the middle packet of frame 10
        ({30}, 0, 10),  # its first packet
        ({32}, 0, 10),  # its last (marker) packet: frame 11 may be dropped too
        ({30, 31, 32, 33}, 0, 10),  # all of frame 10 and the first packet of frame 11
        ({65535}, 65536 - 31, 10),  # across the 16-bit sequence wrap
    ],
)
def test_a_hole_is_skipped_after_give_up_time_and_a_keyframe_requested(
    lost: set[int], first_sequence: int, broken_frame: int
) -> None:
    clock = FakeClock(100.0)
    buffer = RecoveringJitterBuffer(capacity=512, is_video=True, clock=clock)

    out, keyframe_requests = feed(
        buffer, range(60), lose=lost, clock=clock, first_sequence=first_sequence
    )

    assert out[:broken_frame] == list(range(broken_frame))
    assert broken_frame not in out
    blocked_frames = int(GIVE_UP_S * 30) + 3
    resumed = out[broken_frame]
    assert resumed <= broken_frame + blocked_frames, out
    assert out[broken_frame:] == list(range(resumed, 60))[: len(out) - broken_frame]
    assert out[-1] >= 58  # and it keeps up afterwards
    assert keyframe_requests == 1
    assert buffer.skipped_holes == 1


def test_two_holes_in_a_row_each_cost_their_own_frame_only() -> None:
    clock = FakeClock(100.0)
    buffer = RecoveringJitterBuffer(capacity=512, is_video=True, clock=clock)

    # the middle packet of frame 10 and the first packet of frame 12
    out, keyframe_requests = feed(buffer, range(40), lose={31, 36}, clock=clock)

    assert out == [*range(10), 11, *range(13, 39)]  # frame 11, whole between them, is kept
    assert keyframe_requests == 2 and buffer.skipped_holes == 2


def test_a_late_packet_within_give_up_time_loses_nothing() -> None:
    clock = FakeClock(100.0)
    buffer = RecoveringJitterBuffer(capacity=512, is_video=True, clock=clock)
    late = frame_packets(10)[1]

    out, _ = feed(buffer, range(11), lose={late.sequence_number}, clock=clock)
    clock.now += GIVE_UP_S / 2  # the retransmission arrives in time
    buffer.add(late)  # frame 10 is whole now; it comes out when frame 11 starts
    rest, keyframe_requests = feed(buffer, range(11, 20), clock=clock)

    assert [*out, *rest] == list(range(19))
    assert keyframe_requests == 0 and buffer.skipped_holes == 0


def test_audio_buffers_are_left_as_aiortc_made_them() -> None:
    clock = FakeClock(100.0)
    buffer = RecoveringJitterBuffer(capacity=16, prefetch=4, clock=clock)

    feed(buffer, range(10), lose={4}, clock=clock)

    assert buffer.skipped_holes == 0


@pytest.fixture
def stock_jitter_buffer() -> Iterator[None]:
    saved = aiortc.rtcrtpreceiver.JitterBuffer
    yield
    aiortc.rtcrtpreceiver.JitterBuffer = saved  # type: ignore[misc]


def test_the_server_installs_it_into_aiortc(stock_jitter_buffer: None) -> None:
    aiortc.rtcrtpreceiver.JitterBuffer = JitterBuffer  # type: ignore[misc]

    create_app(ServerConfig(), engine=FakeEngine())

    assert aiortc.rtcrtpreceiver.JitterBuffer is RecoveringJitterBuffer
    receiver = RTCRtpReceiver("video", transport=_NoTransport())  # type: ignore[arg-type]
    assert isinstance(receiver._RTCRtpReceiver__jitter_buffer, RecoveringJitterBuffer)  # type: ignore[attr-defined]


class _RewrittenJitterBuffer:
    """What a future aiortc's buffer might look like: same constructor, other internals."""

    def __init__(self, capacity: int, prefetch: int = 0, is_video: bool = False) -> None:
        self.reorder: list[RtpPacket] = []

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        return False, None


def test_an_aiortc_with_another_jitter_buffer_keeps_its_own(
    stock_jitter_buffer: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(loss_recovery, "_checked", None)
    aiortc.rtcrtpreceiver.JitterBuffer = _RewrittenJitterBuffer  # type: ignore[misc, assignment]

    assert loss_recovery.install() is False

    assert aiortc.rtcrtpreceiver.JitterBuffer is _RewrittenJitterBuffer
    assert "keeping aiortc's own" in caplog.text


class _NoTransport:
    state = "new"

    def _register_rtp_receiver(self, *args: object) -> None:
        pass


def test_live_video_comes_back_after_a_packet_and_its_retransmissions_are_lost() -> None:
    """A real aiortc phone: the server loses one video packet and every retransmission. The
    hole must be skipped and a keyframe asked for (PLI), and the video must go on; aiortc alone
    would hold every frame behind the hole until 512 more packets came in (tens of seconds at
    10 fps), with no keyframe request and no skipped hole."""
    loss_recovery.install()

    async def scenario() -> None:
        app = create_app(ServerConfig(), engine=FakeEngine(delay_s=0.01))
        async with serving(app) as base, aiohttp.ClientSession() as http:
            client = Client(fps=10)
            try:
                await client.connect(http, base)
                await client.wait_until(lambda: client.received >= 5, timeout=30)
                session = app[SESSIONS_KEY].get(client.session or "")
                assert session is not None
                [receiver] = [r for r in session.pc.getReceivers() if r.track.kind == "video"]
                dropped: list[int] = []
                forward = receiver._handle_rtp_packet

                async def lossy(packet: RtpPacket, arrival_time_ms: int) -> None:
                    codec = receiver._RTCRtpReceiver__codecs.get(packet.payload_type)  # type: ignore[attr-defined]
                    retransmission = codec is not None and codec.name == "rtx"
                    if retransmission or not dropped:
                        if not retransmission:
                            dropped.append(packet.sequence_number)
                        return
                    await forward(packet, arrival_time_ms)

                keyframe_requests: list[int] = []
                send_pli = receiver._send_rtcp_pli

                async def recorded_pli(media_ssrc: int) -> None:
                    keyframe_requests.append(media_ssrc)
                    await send_pli(media_ssrc)

                receiver._handle_rtp_packet = lossy  # type: ignore[method-assign]
                receiver._send_rtcp_pli = recorded_pli  # type: ignore[method-assign]
                await client.wait_until(lambda: bool(dropped), timeout=30)
                buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
                assert isinstance(buffer, RecoveringJitterBuffer)
                frames_in = session.frames_in
                loop = asyncio.get_running_loop()
                started = loop.time()
                # the hole is given up on (after GIVE_UP_S of newer packets) and a keyframe asked
                # for; the deadline only bounds a broken run
                await client.wait_until(lambda: buffer.skipped_holes >= 1, timeout=30)
                skipped_at = session.frames_in
                await client.wait_until(lambda: bool(keyframe_requests), timeout=30)
                # and the video goes on after it
                await client.wait_until(lambda: session.frames_in >= skipped_at + 10, timeout=30)
                print(
                    f"lost packet {dropped[0]}: {session.frames_in - frames_in} frames in after "
                    f"{loop.time() - started:.2f} s, holes skipped {buffer.skipped_holes}, "
                    f"keyframe requests {len(keyframe_requests)}"
                )
            finally:
                await client.close()

    asyncio.run(asyncio.wait_for(scenario(), 150))
