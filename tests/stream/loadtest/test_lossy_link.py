"""The simulated bad Wi-Fi drops RTP at the asked rate and never RTCP."""

from __future__ import annotations

import asyncio
import struct

import pytest

from stream.loadtest.lossy_link import drop_outgoing_rtp


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)


class FakeSender:
    def __init__(self) -> None:
        self.transport = FakeTransport()


def rtp(sequence: int) -> bytes:
    return struct.pack("!BBHII", 0x80, 96, sequence, 0, 1234) + b"payload"


def rtcp_receiver_report() -> bytes:
    return struct.pack("!BBHI", 0x80, 201, 1, 1234)


@pytest.mark.parametrize("share", [0.0, 0.05, 0.3])
def test_rtp_is_dropped_at_the_asked_rate_and_rtcp_never(share: float) -> None:
    sender = FakeSender()
    counter = drop_outgoing_rtp(sender, share, seed=1)  # type: ignore[arg-type]

    async def send_all() -> None:
        for n in range(2000):
            await sender.transport._send_rtp(rtp(n))
            if n % 10 == 0:
                await sender.transport._send_rtp(rtcp_receiver_report())

    asyncio.run(send_all())

    rtcp_sent = [d for d in sender.transport.sent if d[1] == 201]
    assert len(rtcp_sent) == 200
    assert counter.passed + counter.dropped == 2000
    assert counter.passed == len(sender.transport.sent) - 200
    assert abs(counter.dropped / 2000 - share) < 0.03


@pytest.mark.parametrize("share", [-0.1, 1.0])
def test_an_impossible_share_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match=r"must lie in 0\.\.1"):
        drop_outgoing_rtp(FakeSender(), share, seed=1)  # type: ignore[arg-type]
