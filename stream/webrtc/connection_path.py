"""Which way one session's media actually went: through the TURN relay, via a reflexive
address, or directly, over UDP or TCP, and with which video codec.

Issue 19 ("reachable from any school network"): when a school reports "it is slow" or "it
works in the staff room but not in class", the first question is whether the phones were
relayed (and over TCP, which adds head-of-line blocking) or direct. The answer lives in the
ICE candidate pair that was nominated, which aiortc does not expose publicly: `RTCIceTransport`
keeps aioice's `Connection` as `_connection`, and that keeps the nominated pair per component in
`_nominated`. `connection_path()` reads exactly those two private attributes, in one place, and
tests/stream/webrtc/test_connection_path.py fails if either moves (a renamed attribute would
otherwise silently report "pending" forever). Everything else used here is public:
`RTCPeerConnection.sctp` / `getTransceivers()`, `RTCDtlsTransport.transport`, aioice's
`CandidatePair.local_candidate` / `remote_candidate`, `Candidate.type` / `.transport` and
`Connection.turn_transport` / `turn_ssl`.

All values are bounded (they become Prometheus labels): see PATHS, TRANSPORTS, CODECS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription


@dataclass(frozen=True)
class ConnectionPath:
    """One session's route.

    path       "relay" if either side's candidate of the nominated pair is relayed, else
               "srflx" if either is server- or peer-reflexive, else "host"; "pending" before
               ICE has nominated a pair (or after it closed)
    transport  the transport of the leg *the server* sees: for a relayed server candidate, its
               leg to the TURN server ("tcp" for turn:?transport=tcp and turns:, TLS included);
               otherwise the server candidate's own transport, always "udp" with aiortc (no
               ICE-TCP). A phone relaying over TCP to a server that is not itself relayed
               therefore shows path "relay" with transport "udp": the phone's leg is on the
               phone's stats line (web/js/peer.js connectionPath()).
    codec      the first video codec of the server's local description ("VP8", "H264",
               "other", or "pending" before there is one)
    """

    path: str = "pending"
    transport: str = "pending"
    codec: str = "pending"

    def as_fields(self) -> dict[str, str]:
        return {"path": self.path, "transport": self.transport, "codec": self.codec}


def nominated_pair(pc: RTCPeerConnection) -> Any | None:
    """aioice's nominated `CandidatePair` of the peer connection's (bundled) transport,
    component 1; None before nomination. The one place that reads private attributes."""
    ice = _ice_transport(pc)
    if ice is None:
        return None
    connection = getattr(ice, "_connection", None)
    nominated = getattr(connection, "_nominated", None)
    if not isinstance(nominated, dict) or not nominated:
        return None
    return nominated.get(1) or next(iter(nominated.values()))


def _ice_transport(pc: RTCPeerConnection) -> Any | None:
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        if dtls is not None:
            return dtls.transport
    sctp = pc.sctp
    return sctp.transport.transport if sctp is not None else None


def path_of(local_type: str, remote_type: str) -> str:
    """The route a pair of candidate types means (types as in SDP: host, srflx, prflx, relay)."""
    types = {local_type, remote_type}
    if "relay" in types:
        return "relay"
    if types & {"srflx", "prflx"}:
        return "srflx"
    return "host"


def video_codec(sdp: str) -> str:
    """The first video codec of `sdp` as a bounded name: "VP8", "H264" or "other"; "pending"
    without a video section or codec."""
    for media in SessionDescription.parse(sdp).media:
        if media.kind == "video" and media.rtp.codecs:
            name = media.rtp.codecs[0].mimeType.split("/", 1)[-1].upper()
            return name if name in ("VP8", "H264") else "other"
    return "pending"


def connection_path(pc: RTCPeerConnection) -> ConnectionPath:
    """What `pc` negotiated and nominated so far (cheap: no I/O, safe to call every second)."""
    local = pc.localDescription
    codec = video_codec(local.sdp) if local is not None else "pending"
    pair = nominated_pair(pc)
    if pair is None:
        return ConnectionPath(codec=codec)
    mine, theirs = pair.local_candidate, pair.remote_candidate
    path = path_of(str(mine.type), str(theirs.type))
    if mine.type == "relay":
        connection = getattr(_ice_transport(pc), "_connection", None)
        tcp = getattr(connection, "turn_transport", "udp") == "tcp" or bool(
            getattr(connection, "turn_ssl", False)
        )
        transport = "tcp" if tcp else "udp"
    else:
        transport = "tcp" if str(mine.transport).lower() == "tcp" else "udp"
    return ConnectionPath(path=path, transport=transport, codec=codec)
