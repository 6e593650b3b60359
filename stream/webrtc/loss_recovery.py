"""Video that recovers from a lost packet instead of freezing.

aiortc's receiver assembles video frames in a 512-packet `JitterBuffer` that only hands out a
frame once every packet before it has arrived. It asks for a lost packet (NACK) when the gap
appears, again only when another packet goes missing, and not after 128 newer packets. So a
packet whose retransmission is lost too, with no loss after it, holds every later frame behind
the hole until 512 more packets have come in: at 15 fps that is many seconds of frozen video,
with no keyframe requested (the same stall is reported upstream, aiortc PRs #1416-#1418,
unreleased). Steady random loss keeps re-asking and mostly recovers; an isolated double loss,
as in a burst of congestion on a busy school Wi-Fi, does not.

`RecoveringJitterBuffer` hands out a frame that ended (RTP marker bit) before a hole at once,
and gives up on the hole once it has blocked newer packets for `give_up_s`: it drops the
broken frame, resumes at the next frame that starts after the hole, and raises the keyframe
flag, so the receiver sends a PLI and the phone's next frame is a keyframe. `install()` makes
aiortc's receivers use it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import aiortc.rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_add

log = logging.getLogger(__name__)

# Well past a NACK round trip on a LAN or Wi-Fi (tens of ms), short enough to be a stutter.
GIVE_UP_S = 0.3


class RecoveringJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, plus: a hole that blocks newer packets for longer than
    `give_up_s` is skipped (video only). `clock` returns seconds (monotonic)."""

    def __init__(
        self,
        capacity: int,
        prefetch: int = 0,
        is_video: bool = False,
        *,
        give_up_s: float = GIVE_UP_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(capacity, prefetch=prefetch, is_video=is_video)
        self.give_up_s = give_up_s
        self.skipped_holes = 0
        self._clock = clock
        self._newest: int | None = None
        self._blocked_since: float | None = None

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        if not self._is_video:
            return pli_flag, frame
        if self._newest is None or _is_newer(packet.sequence_number, self._newest):
            self._newest = packet.sequence_number
        missing = None if frame is not None else self._first_missing()
        if missing is None:
            self._blocked_since = None
            return pli_flag, frame
        now = self._clock()
        if self._blocked_since is None:
            self._blocked_since = now
        if missing > 0 and self._origin is not None:
            # aiortc ends a frame only when the next one starts; a frame whose last packet
            # (marker bit) came before the hole is whole, so hand it out now.
            last = self._packets[(self._origin + missing - 1) % self._capacity]
            if last is not None and last.marker:
                return pli_flag, self._take(missing)
        if now - self._blocked_since < self.give_up_s:
            return pli_flag, frame
        self._skip_hole(missing)
        self._blocked_since = None
        self.skipped_holes += 1
        return True, self._remove_frame(packet.sequence_number)

    def _take(self, count: int) -> JitterFrame:
        """Remove the first `count` packets (one whole frame) and return them as a frame."""
        assert self._origin is not None
        packets = [self._packets[(self._origin + i) % self._capacity] for i in range(count)]
        self.remove(count)
        return JitterFrame(
            data=b"".join(p._data for p in packets if p is not None),  # type: ignore[attr-defined]
            timestamp=packets[0].timestamp if packets[0] is not None else 0,
        )

    def _first_missing(self) -> int | None:
        """How many slots after the origin the first missing packet is (None: no hole
        before the newest packet)."""
        if self._origin is None or self._newest is None:
            return None
        span = uint16_add(self._newest, -self._origin)
        if span >= self._capacity:
            return None  # the base class is already discarding to make room
        for offset in range(span):
            if self._packets[(self._origin + offset) % self._capacity] is None:
                return offset
        return None

    def _skip_hole(self, missing: int) -> None:
        """Drop the broken frame: its `missing` packets before the hole, the hole, and the
        packets after it with the same timestamp; stop at the first packet of a new frame."""
        self.remove(missing + 1)
        broken: int | None = None
        while self._origin is not None and self._newest is not None:
            if _is_newer(self._origin, self._newest):
                break  # nothing left
            packet = self._packets[self._origin % self._capacity]
            if packet is not None:
                if broken is not None and packet.timestamp != broken:
                    break  # a new frame starts here
                broken = packet.timestamp
            self.remove(1)


def _is_newer(a: int, b: int) -> bool:
    """RTP sequence number `a` comes after `b` (16-bit wrap-around)."""
    return a != b and uint16_add(a, -b) < 0x8000


def install() -> bool:
    """Make every aiortc receiver created from now on use `RecoveringJitterBuffer`; returns
    whether it did.

    aiortc builds its jitter buffer inside `RTCRtpReceiver.__init__` from the module-level name,
    offering no hook; replacing that name is the narrowest change. The subclass relies on the
    buffer's internals (`_origin`, `_packets`, `_capacity`, `_is_video`, `_remove_frame`,
    `remove`): an aiortc whose buffer lacks them keeps its own, with a warning, rather than
    breaking every video. Idempotent.
    """
    global _checked
    if _checked is None:
        _checked = _has_expected_internals(aiortc.rtcrtpreceiver.JitterBuffer)
        if not _checked:
            log.warning(
                "aiortc %s's jitter buffer is not the one stream.webrtc.loss_recovery was "
                "written for; keeping aiortc's own (video may freeze for seconds after a lost "
                "packet)",
                getattr(aiortc, "__version__", "?"),
            )
    if _checked:
        aiortc.rtcrtpreceiver.JitterBuffer = RecoveringJitterBuffer  # type: ignore[misc]
    return _checked


_checked: bool | None = None


def _has_expected_internals(buffer_class: type) -> bool:
    if buffer_class is RecoveringJitterBuffer:
        return True
    try:
        probe = buffer_class(capacity=4, is_video=True)
    except TypeError:
        return False
    fields = ("_origin", "_packets", "_capacity", "_is_video")
    methods = ("_remove_frame", "remove", "add")
    return all(hasattr(probe, name) for name in fields) and all(
        callable(getattr(probe, name, None)) for name in methods
    )
