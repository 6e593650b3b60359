"""`stream.webrtc.video_codecs`: the codec the server answers with (real aiortc offer → answer), the
returned video's bitrate bounds on aiortc's real encoders, and the two aiortc internals the
module relies on (codecs are fixed while the offer is applied; encoders come from
`aiortc.rtcrtpsender.get_encoder`): these tests fail first if an aiortc upgrade changes them."""

from __future__ import annotations

import argparse
import asyncio
import fractions
import re
from collections.abc import Iterator
from typing import Any

import aiohttp
import aiortc.rtcrtpsender
import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, VideoStreamTrack
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, pack_remb_fci

from stream.app import ServerConfig, create_app
from stream.webrtc import video_codecs
from stream.webrtc.registry import SESSIONS_KEY, SessionRegistry
from stream.webrtc.session_settings import SessionSettings
from stream.webrtc.video_codecs import (
    DEFAULT_MAX_KBPS,
    DEFAULT_START_KBPS,
    BoundedEncoder,
    VideoSettings,
    bounded_get_encoder,
    install_bitrate,
    preferred_codecs,
    prepare,
)
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import Client, serving
from visionanything.cli import build_parser
from visionanything.commands.serve_options import with_video_options

DEADLINE_S = 60.0


@pytest.fixture(autouse=True)
def _default_bitrate() -> Iterator[None]:
    """Each test leaves the process's encoder bounds as the server's defaults."""
    yield
    install_bitrate(VideoSettings())


def _caps() -> list[RTCRtpCodecCapability]:
    return RTCRtpSender.getCapabilities("video").codecs


def _describe(codecs: list[RTCRtpCodecCapability]) -> list[str]:
    return [f"{c.mimeType} {c.parameters.get('profile-level-id', '')}".strip() for c in codecs]


# -- codec ordering with aiortc's capabilities ---------------------------------------------------


def test_forced_codecs_keep_only_that_codec_and_rtx() -> None:
    assert _describe(preferred_codecs("h264", _caps())) == [
        "video/H264 42e01f",  # what iOS encodes in hardware, first
        "video/H264 42001f",
        "video/rtx",
    ]
    assert _describe(preferred_codecs("vp8", _caps())) == ["video/VP8", "video/rtx"]
    assert preferred_codecs("auto", _caps()) == []  # the phone's own order
    with pytest.raises(ValueError, match="must be one of auto, h264, vp8"):
        preferred_codecs("av1", _caps())


def test_aiortc_accepts_the_preferences() -> None:
    async def check() -> None:  # aiortc's senders want a running loop (whatever ran before)
        pc = RTCPeerConnection()
        try:
            for choice in ("h264", "vp8"):
                transceiver = pc.addTransceiver("video")
                transceiver.setCodecPreferences(preferred_codecs(choice, _caps()))  # no error
            assert prepare(pc, VideoSettings(codec="auto")) is None
            assert len(pc.getTransceivers()) == 2  # auto adds nothing
        finally:
            await pc.close()

    asyncio.run(check())


@pytest.mark.parametrize(
    ("start", "cap", "message"),
    [(800, 700, "above the maximum"), (50, 800, "must lie in"), (800, 50_000, "must lie in")],
)
def test_bad_video_settings_are_refused(start: int, cap: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VideoSettings(start_kbps=start, max_kbps=cap)
    with pytest.raises(ValueError, match="must be one of"):
        VideoSettings(codec="h265")


def test_serve_flags_default_from_the_module_constants() -> None:
    parser = build_parser()
    args = parser.parse_args(["serve"])
    config = with_video_options(ServerConfig(), args)
    assert config.session.video == VideoSettings()
    assert (args.video_bitrate, args.max_video_bitrate) == (DEFAULT_START_KBPS, DEFAULT_MAX_KBPS)
    args = parser.parse_args(
        ["serve", "--video-codec", "vp8", "--video-bitrate", "600", "--max-video-bitrate", "900"]
    )
    video = with_video_options(ServerConfig(), args).session.video
    assert video == VideoSettings(codec="vp8", start_kbps=600, max_kbps=900)
    with pytest.raises(ValueError, match="above the maximum"):
        with_video_options(
            ServerConfig(), argparse.Namespace(video_codec="auto", video_bitrate=2000,
                                               max_video_bitrate=1000)
        )  # fmt: skip


# -- offer → answer between two real aiortc peer connections -------------------------------------


def _codec_order(sdp: str) -> list[str]:
    """The video m-line's codecs in order, as "H264 42e01f" / "VP8" / "rtx->H264"; asserts
    every rtx entry points at a codec of the same m-line."""
    section = sdp.split("m=video", 1)[1].split("\nm=", 1)[0]
    payloads = section.splitlines()[0].split()[2:]  # after the port and the profile
    names = dict(re.findall(r"a=rtpmap:(\d+) ([\w-]+)/", section))
    fmtp = dict(re.findall(r"a=fmtp:(\d+) (.*)", section))
    order = []
    for pt in payloads:
        name = names[pt]
        if name == "rtx":
            apt = re.search(r"apt=(\d+)", fmtp[pt])
            assert apt is not None and apt[1] in payloads, f"rtx {pt} points nowhere: {section}"
            order.append(f"rtx->{names[apt[1]]}")
        elif name == "H264":
            profile = re.search(r"profile-level-id=(\w+)", fmtp.get(pt, ""))
            order.append(f"H264 {profile[1] if profile else '?'}")
        else:
            order.append(name)
    return order


async def _answer(choice: str, phone_offers: list[str] | None) -> tuple[str, int]:
    """The server's answer SDP (as stream.signalling makes it: prepare, apply the offer, the
    session adds its track on the camera's transceiver, answer) and its transceiver count.
    `phone_offers`: the phone's codec preference by mime type (None: aiortc's order)."""
    phone, server = RTCPeerConnection(), RTCPeerConnection()
    try:
        transceiver = phone.addTransceiver(VideoStreamTrack(), direction="sendrecv")
        if phone_offers is not None:
            wanted = [c for m in phone_offers for c in _caps() if c.mimeType == m]
            transceiver.setCodecPreferences(wanted)
        await phone.setLocalDescription(await phone.createOffer())
        prepare(server, VideoSettings(codec=choice))
        server.on("track", lambda track: server.addTrack(VideoStreamTrack()))
        await server.setRemoteDescription(phone.localDescription)
        await server.setLocalDescription(await server.createAnswer())
        await phone.setRemoteDescription(server.localDescription)  # the phone accepts it
        return server.localDescription.sdp, len(server.getTransceivers())
    finally:
        await phone.close()
        await server.close()


H264_FIRST = ["video/H264", "video/VP8", "video/rtx"]
VP8_FIRST = None  # aiortc offers VP8 first, like Chrome and Firefox by default


@pytest.mark.parametrize(
    ("choice", "offer", "first"),
    [
        ("auto", VP8_FIRST, "VP8"),  # the phone's order is kept
        ("auto", H264_FIRST, "H264 42001f"),  # ... in the phone's own H.264 order
        ("h264", VP8_FIRST, "H264 42e01f"),
        ("h264", H264_FIRST, "H264 42e01f"),
        ("vp8", H264_FIRST, "VP8"),
        ("vp8", VP8_FIRST, "VP8"),
    ],
)
def test_the_answer_names_the_chosen_codec_first(
    choice: str, offer: list[str] | None, first: str
) -> None:
    sdp, transceivers = asyncio.run(_answer(choice, offer))
    order = _codec_order(sdp)  # also checks every rtx entry
    assert order[0] == first, order
    assert transceivers == 1, "the returned video rides the camera's transceiver"
    assert "a=sendrecv" in sdp
    if choice == "h264":
        assert order == ["H264 42e01f", "rtx->H264", "H264 42001f", "rtx->H264"]
    if choice == "vp8":
        assert order == ["VP8", "rtx->VP8"]
    if choice == "auto" and offer is VP8_FIRST:  # nothing reordered or dropped
        assert order == ["VP8", "rtx->VP8", "H264 42001f", "rtx->H264", "H264 42e01f", "rtx->H264"]


def test_a_forced_codec_the_phone_lacks_is_refused() -> None:
    with pytest.raises(Exception, match="Failed to set remote video description"):
        asyncio.run(_answer("h264", ["video/VP8", "video/rtx"]))


def test_aiortc_fixes_the_codecs_while_the_offer_is_applied() -> None:
    """Why `prepare` runs before the offer: preferences set after setRemoteDescription do not
    change aiortc's answer. If this fails, aiortc changed; `prepare` may then move later."""

    async def late() -> list[str]:
        phone, server = RTCPeerConnection(), RTCPeerConnection()
        try:
            phone.addTransceiver(VideoStreamTrack(), direction="sendrecv")
            await phone.setLocalDescription(await phone.createOffer())
            await server.setRemoteDescription(phone.localDescription)
            server.getTransceivers()[0].setCodecPreferences(preferred_codecs("h264", _caps()))
            await server.setLocalDescription(await server.createAnswer())
            return _codec_order(server.localDescription.sdp)
        finally:
            await phone.close()
            await server.close()

    assert asyncio.run(late())[0] == "VP8"


def test_the_server_answers_with_its_forced_codec_and_video_flows_both_ways() -> None:
    """Through the real app: `serve --video-codec h264` against a client offering VP8 first;
    the returned video decodes, and the server's encoder is ours (start and REMB cap)."""

    async def scenario() -> None:
        video = VideoSettings(codec="h264", start_kbps=700, max_kbps=1200)
        config = ServerConfig(session=SessionSettings(video=video))
        app = create_app(config, engine=FakeEngine(delay_s=0.05))
        async with serving(app) as base, aiohttp.ClientSession() as http:
            async with http.get(f"{base}/api/ice") as response:
                assert (await response.json())["videoCodec"] == "h264"
            client = Client()
            try:
                answer = await client.connect(http, base)
                assert _codec_order(answer["sdp"])[0] == "H264 42e01f"
                await client.wait_until(lambda: client.received >= 5, timeout=DEADLINE_S)
                registry: SessionRegistry = app[SESSIONS_KEY]
                [session] = list(registry)
                [sender] = [s for s in session.pc.getSenders() if s.track is not None]
                encoder = sender._RTCRtpSender__encoder  # type: ignore[attr-defined]
                assert isinstance(encoder, BoundedEncoder), "aiortc no longer uses get_encoder"
                assert isinstance(encoder.inner, H264Encoder)
                assert encoder.target_bitrate == 700_000
                remb = RtcpPsfbPacket(
                    fmt=RTCP_PSFB_APP,
                    ssrc=0,
                    media_ssrc=0,
                    fci=pack_remb_fci(9_000_000, [sender._ssrc]),
                )
                await sender._handle_rtcp_packet(remb)  # the browser says: plenty of room
                assert encoder.target_bitrate == 1_200_000, "REMB is capped at our maximum"
            finally:
                await client.close()

    asyncio.run(scenario())


# -- bitrate bounds on aiortc's real encoders ----------------------------------------------------


def _frames(count: int) -> Iterator[av.VideoFrame]:
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    for i in range(count):
        frame = av.VideoFrame.from_ndarray(np.roll(base, i * 3, axis=1), format="rgb24")
        frame.pts, frame.time_base = i * 6000, fractions.Fraction(1, 90_000)
        yield frame


@pytest.mark.parametrize(
    ("encoder", "floor", "ceiling"),
    [(Vp8Encoder, 250_000, 1_500_000), (H264Encoder, 500_000, 3_000_000)],
)
def test_bounded_encoder_starts_at_ours_and_caps_remb(
    encoder: type[Vp8Encoder] | type[H264Encoder], floor: int, ceiling: int
) -> None:
    bounded = BoundedEncoder(encoder(), 900_000, 1_200_000)
    assert bounded.target_bitrate == 900_000
    for frame in _frames(3):
        payloads, _ = bounded.encode(frame)
        assert payloads
    inner: Any = bounded.inner  # aiortc's encoder: its codec context once it has encoded
    assert inner.codec is not None and inner.codec.bit_rate == 900_000
    bounded.target_bitrate = 20_000_000  # what a generous REMB would ask for
    assert bounded.target_bitrate == 1_200_000
    bounded.target_bitrate = 10_000  # aiortc's own floor still holds
    assert bounded.target_bitrate == floor
    generous = BoundedEncoder(encoder(), 900_000, 50_000_000)
    generous.target_bitrate = 50_000_000
    assert generous.target_bitrate == ceiling  # and aiortc's ceiling


def test_install_replaces_aiortcs_factory_once_and_leaves_audio_alone() -> None:
    assert install_bitrate(VideoSettings(start_kbps=600, max_kbps=1000))
    assert aiortc.rtcrtpsender.get_encoder is bounded_get_encoder
    assert install_bitrate(VideoSettings(start_kbps=700, max_kbps=1000))  # replaces the bounds
    vp8 = bounded_get_encoder(_caps_param("video/VP8"))
    assert isinstance(vp8, BoundedEncoder) and vp8.target_bitrate == 700_000
    opus = bounded_get_encoder(_caps_param("audio/opus", 48_000, channels=2))
    assert not isinstance(opus, BoundedEncoder)
    assert video_codecs._installed["original"] is aiortc.codecs.get_encoder


def _caps_param(
    mime: str, clock: int = 90_000, channels: int | None = None
) -> aiortc.RTCRtpCodecParameters:
    return aiortc.RTCRtpCodecParameters(
        mimeType=mime, clockRate=clock, channels=channels, payloadType=96
    )
