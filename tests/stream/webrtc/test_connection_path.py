"""stream/webrtc/connection_path.py: the route rules, the codec from SDP, and a real pair of aiortc
peers on loopback, so that a change inside aiortc/aioice (the private `_connection` and
`_nominated` it reads) fails here instead of reporting "pending" forever. The relayed case over
UDP and TCP is checked against a real coturn in tests/stream/webrtc/test_ice.py."""

from __future__ import annotations

import asyncio

import pytest
from aioice.ice import CandidatePair, Connection
from aiortc import RTCConfiguration, RTCPeerConnection, VideoStreamTrack

from stream.webrtc.connection_path import (
    ConnectionPath,
    connection_path,
    nominated_pair,
    path_of,
    video_codec,
)


@pytest.mark.parametrize(
    ("local", "remote", "path"),
    [
        ("host", "host", "host"),
        ("host", "srflx", "srflx"),
        ("prflx", "host", "srflx"),
        ("relay", "host", "relay"),
        ("srflx", "relay", "relay"),
    ],
)
def test_the_path_is_relay_then_reflexive_then_host(local: str, remote: str, path: str) -> None:
    assert path_of(local, remote) == path


def test_the_first_video_codec_names_the_session() -> None:
    sdp = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        "m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendrecv\r\n"
        "a=rtpmap:102 H264/90000\r\na=rtpmap:96 VP8/90000\r\n"
    )
    assert video_codec(sdp) == "H264"
    assert video_codec(sdp.replace("H264/", "AV1/")) == "other"
    assert video_codec("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n") == "pending"


async def _pair() -> tuple[ConnectionPath, ConnectionPath, object]:
    no_servers = RTCConfiguration(iceServers=[])
    offerer, answerer = RTCPeerConnection(no_servers), RTCPeerConnection(no_servers)
    try:
        offerer.addTransceiver(VideoStreamTrack(), direction="sendrecv")
        offerer.createDataChannel("events")
        assert connection_path(offerer) == ConnectionPath()  # nothing negotiated yet
        answerer.on("track", lambda track: answerer.addTrack(VideoStreamTrack()))
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        async with asyncio.timeout(20):
            while answerer.connectionState != "connected":
                await asyncio.sleep(0.05)
        return connection_path(offerer), connection_path(answerer), nominated_pair(answerer)
    finally:
        await offerer.close()
        await answerer.close()


def test_two_aiortc_peers_on_loopback_are_direct_over_udp_with_vp8() -> None:
    mine, theirs, pair = asyncio.run(_pair())
    # the private attributes connection_path reads are still where it reads them
    assert isinstance(pair, CandidatePair)
    assert "_nominated" in vars(Connection(ice_controlling=True))
    assert theirs == ConnectionPath(path="host", transport="udp", codec="VP8")
    assert mine.path == "host" and mine.codec == "VP8"
