"""A phone on bad Wi-Fi: drop a share of its outgoing video packets, retransmissions too.

`loadtest --loss PCT` rehearses what a lossy classroom network does to the live video: each
phone's RTP packets (never its RTCP, nor the data channel) are dropped at random before they
leave, so the server sees gaps, asks for retransmissions (which may be dropped too) and must
recover. aiortc gives no hook for this, so the phone's DTLS transport's RTP send is wrapped.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCRtpSender
from aiortc.rtp import is_rtcp


@dataclass
class LossCounter:
    """What the simulated link did: RTP packets it let through and dropped."""

    passed: int = 0
    dropped: int = 0


def drop_outgoing_rtp(sender: RTCRtpSender, share: float, seed: int) -> LossCounter:
    """Drop `share` (0..1) of the RTP packets `sender`'s transport sends, at random (seeded)."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"the share of packets lost must lie in 0..1, got {share}")
    counter = LossCounter()
    transport = sender.transport
    send: Callable[[bytes], Awaitable[None]] = transport._send_rtp
    rng = random.Random(seed)

    async def lossy_send(data: bytes) -> None:
        if not is_rtcp(data):
            if rng.random() < share:
                counter.dropped += 1
                return
            counter.passed += 1
        await send(data)

    transport._send_rtp = lossy_send  # type: ignore[method-assign]
    return counter
