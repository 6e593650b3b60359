"""One simulated phone for load tests: an aiortc peer (`stream.loadtest.peer.Peer`) that streams
a clip like a camera and measures what comes back.

    phone = Phone(0, clip, fps=15, origin=time.monotonic())
    if await phone.connect(http, "http://127.0.0.1:8080", ssl=False, timeout_s=15):
        ...                       # streaming; call phone.tick() once a second
    await phone.close()
    result = phone.result()

Frame code: every sent frame carries its counter (16 bits + a CRC-8) as a strip of black and
white blocks in the bottom-left corner, each bit a pair of blocks (white-black = 1,
black-white = 0). Comparing the two blocks of a pair, rather than thresholding each block,
survives VP8/H.264 compression, a rescaled return video and a translucent mask drawn over the
strip; a strip that cannot be read (a badge or a solid contour over it) fails the contrast or the
CRC check and the frame counts as unmatched, never as a wrong match. The receive time minus the
send time of the decoded counter is the video round trip (encode, network, server, decode).
aiortc's receiver releases a frame only when the next frame's first packet arrives, so an aiortc
peer (the server's receiver, and this client's) adds about one frame interval each: at 15 fps
about 130 ms of any measured round trip is that, which a browser phone would not see.

"A new object entering" is a cut in the clip (`Clip.shots`): from the send time of the first
frame after a cut to the first `objects` message carrying an object id not seen before the cut.
With `tap=True` the phone also taps the middle of the picture when it connects and after every
cut, as a child pointing at the new thing would; the server then segments (and tracks) the
tapped object even when its detector finds nothing (random weights), so the load includes the
segmenter and the new-object time includes answering a tap.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from stream.loadtest.frame_code import (
    COUNTER_MODULUS,
    I420,
    check_code_fits,
    frame_luma,
    read_code,
    stamp_code,
)
from stream.loadtest.lossy_link import LossCounter, drop_outgoing_rtp
from stream.loadtest.peer import Clock, Peer
from stream.loadtest.phone_results import ClientResult, SecondSample

NEW_OBJECT_TIMEOUT_S = 10.0  # a cut with no new object id for this long counts as missed
MAX_SAMPLES = 200_000  # latency samples kept per client

VIDEO_CLOCK = 90_000  # RTP video clock: pts in 1/90000 s, as a camera's
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)

# -- the clip ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """What the phones film, decoded once and shared by all of them.

    frames:   I420 arrays (H * 3 / 2, W) uint8
    fps:      the clip's own frame rate (the default sending rate)
    size:     (width, height), even, large enough for the frame code
    shots:    a shot number per frame; where it changes the clip cuts to a new scene
    wrap_cut: whether looping from the last frame to the first is a cut too
    source:   where the frames came from, for the report
    """

    frames: Sequence[I420]
    fps: float
    size: tuple[int, int]
    shots: Sequence[int]
    wrap_cut: bool
    source: str

    def __post_init__(self) -> None:
        if not self.frames:
            raise ValueError("a clip needs at least one frame")
        if len(self.shots) != len(self.frames):
            raise ValueError("a clip needs one shot number per frame")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"a clip's fps must be positive, got {self.fps}")
        check_code_fits(self.size)
        width, height = self.size
        if self.frames[0].shape != (height * 3 // 2, width):
            raise ValueError(f"clip frames must be I420 arrays of {width}x{height}")

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def cuts(self) -> int:
        """Cuts in one pass through the clip, the loop back to the start included."""
        inner = sum(1 for a, b in zip(self.shots, self.shots[1:], strict=False) if a != b)
        return inner + int(self.wrap_cut)

    def is_cut(self, previous: int, position: int) -> bool:
        """Whether going from frame `previous` to frame `position` passes a cut."""
        if position > previous:
            return self.shots[position] != self.shots[previous]
        if position == previous:
            return False
        return (
            self.wrap_cut
            or self.shots[previous] != self.shots[-1]
            or self.shots[position] != self.shots[0]
        )


# -- the camera -------------------------------------------------------------------------------


class MarkedCamera(MediaStreamTrack):
    """A camera filming the clip in a loop at `fps`, each frame marked with its counter.

    Like a real camera it never catches up in a burst: a frame slot missed because the sender
    was late (the encoder is too slow for this machine) is skipped and counted in `skipped`.
    `on_cut(time)` is called when a frame after a cut is handed to the encoder.
    """

    kind = "video"

    def __init__(
        self, clip: Clip, fps: float, clock: Clock, on_cut: Callable[[float], None]
    ) -> None:
        super().__init__()
        self.clip = clip
        self.fps = fps
        self.sent = 0
        self.skipped = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.sent_at = np.full(COUNTER_MODULUS, np.nan)  # by counter mod 2**16
        self._clock = clock
        self._on_cut = on_cut
        self._start = 0.0
        self._slot = -1
        self._position = -1

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError("the camera is stopped")
        now = self._clock()
        if self._slot < 0:
            self._start, slot = now, 0
        else:
            slot = self._slot + 1
            late = now - (self._start + slot / self.fps)
            if late > 1.0 / self.fps:
                missed = int(late * self.fps)
                slot += missed
                self.skipped += missed
            await asyncio.sleep(max(0.0, self._start + slot / self.fps - now))
        self._slot = slot
        position = slot % len(self.clip)
        image = np.array(self.clip.frames[position], copy=True)
        stamp_code(image, self.clip.size, self.sent)
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = round(slot * VIDEO_CLOCK / self.fps)
        frame.time_base = VIDEO_TIME_BASE
        at = self._clock()
        self.sent_at[self.sent % COUNTER_MODULUS] = at
        if self._position >= 0 and self.clip.is_cut(self._position, position):
            self._on_cut(at)
        self._position = position
        self.first_at = self.first_at if self.first_at is not None else at
        self.last_at = at
        self.sent += 1
        return frame

    def decode(self, frame: av.VideoFrame, now: float) -> tuple[int, float] | None:
        """(frame number, send time) of the frame of this camera that `frame` shows (read from
        its code strip), or None when the strip is unreadable or names no frame sent before
        `now`. The strip holds the counter modulo 2**16: it is taken as the latest frame sent
        with that counter, which is right for any round trip under 2**16 frames (over an hour
        at 15 fps). Used by the phone for its own returned video and by viewers for the
        presenter's frames, so both measure from the same send time."""
        try:
            counter = read_code(frame_luma(frame), self.clip.size)
        except (ValueError, cv2.error):
            return None
        if counter is None:
            return None
        sent = self.sent
        full = sent - 1 - ((sent - 1 - counter) % COUNTER_MODULUS)
        if full < 0:
            return None
        sent_at = float(self.sent_at[full % COUNTER_MODULUS])
        if math.isnan(sent_at) or sent_at > now:
            return None
        return full, sent_at


# -- the phone -------------------------------------------------------------------------------


class Phone(Peer):
    """One simulated phone: connect, stream, measure, close. Never raises from its callbacks;
    whatever goes wrong ends up in `result()`. With `room` it joins that room (the first phone
    in a room presents; a `Viewer` reads its frames through the room)."""

    name = "client"  # as the report calls phones

    def __init__(
        self,
        index: int,
        clip: Clip,
        fps: float,
        origin: float,
        clock: Clock = time.monotonic,
        *,
        tap: bool = False,
        room: str | None = None,
        loss: float = 0.0,
    ) -> None:
        super().__init__(index, origin, clock, {"room": room} if room is not None else None)
        if not 0.0 <= loss < 1.0:
            raise ValueError(f"loss must lie in 0..1, got {loss}")
        self.loss = loss
        self.link: LossCounter | None = None
        self.tap = tap
        self.taps_sent = 0
        self.clip = clip
        self.room = room
        self.camera = MarkedCamera(clip, fps, clock, self._on_cut)
        self.first_objects_at: float | None = None
        self.matched = 0
        self.unmatched = 0
        self._last_full_counter = -1
        self._received_at_last_match = 0
        self.latencies: list[tuple[float, float]] = []
        self.objects_messages = 0
        self.say_messages = 0
        self.stats_messages = 0
        self.last_stats: dict[str, Any] | None = None
        self._overlay_fps: list[float] = []
        self._masks_fps: list[float] = []
        self.cuts = 0
        self.cuts_missed = 0
        self.new_object_s: list[float] = []
        self._seen_ids: set[int] = set()
        self._pending_cut: tuple[float, frozenset[int]] | None = None
        self.series: list[SecondSample] = []
        self._tick: tuple[float, int, int, int, int, int] | None = None
        self._last_back_at: float | None = None
        self.longest_freeze = 0.0

    def _prepare(self, pc: RTCPeerConnection) -> None:
        sender = pc.addTrack(self.camera)
        if self.loss:
            self.link = drop_outgoing_rtp(sender, self.loss, seed=self.index)

    def _on_open(self) -> None:
        self._send_tap()

    @property
    def presenting(self) -> bool | None:
        """Whether the room's last `room` message named this phone as the presenter (None
        outside a room, or before the first such message)."""
        if self.room is None or self.room_state is None or self.session is None:
            return None
        return bool(self.room_state.get("presenting") == self.session)

    # -- what comes back ---------------------------------------------------------------------

    def _frame_back(self, frame: av.VideoFrame, now: float) -> None:
        if self._last_back_at is not None:
            self.longest_freeze = max(self.longest_freeze, now - self._last_back_at)
        self._last_back_at = now
        sent = self.camera.decode(frame, now)
        if sent is None:
            self.unmatched += 1
            return
        full, sent_at = sent
        self.matched += 1
        if full > self._last_full_counter:
            self._last_full_counter = full
            self._received_at_last_match = self.received
        if len(self.latencies) < MAX_SAMPLES:
            self.latencies.append((now - self.origin, (now - sent_at) * 1000.0))

    def _on_json(self, kind: object, message: dict[str, Any], now: float) -> None:
        if kind == "objects":
            self._on_objects(message, now)
        elif kind == "stats":
            self.stats_messages += 1
            self.last_stats = message
            overlay = message.get("overlay_fps")
            if isinstance(overlay, int | float) and self.live:
                self._overlay_fps.append(float(overlay))
            masks = _number(message.get("masks_fps"))
            if masks is not None and self.live and len(self._masks_fps) < MAX_SAMPLES:
                self._masks_fps.append(masks)
        elif kind == "say":
            self.say_messages += 1

    def _on_objects(self, message: dict[str, Any], now: float) -> None:
        self.objects_messages += 1
        found = message.get("objects")
        ids = {
            int(obj["id"])
            for obj in (found if isinstance(found, list) else [])
            if isinstance(obj, dict) and isinstance(obj.get("id"), int)
        }
        if ids and self.first_objects_at is None:
            self.first_objects_at = now
        pending = self._pending_cut
        if pending is not None:
            cut_at, known = pending
            if now - cut_at > NEW_OBJECT_TIMEOUT_S:
                self.cuts_missed += 1
                self._pending_cut = None
            elif ids - known:
                self.new_object_s.append(now - cut_at)
                self._pending_cut = None
        self._seen_ids |= ids

    def _on_cut(self, at: float) -> None:
        self.cuts += 1
        if self._pending_cut is not None:  # the last cut never showed a new object
            self.cuts_missed += 1
        self._pending_cut = (at, frozenset(self._seen_ids))
        self._send_tap()

    def _send_tap(self) -> None:
        channel = self.channel
        if not self.tap or self.closing or channel is None or channel.readyState != "open":
            return
        with contextlib.suppress(Exception):  # a closing channel: the tap is moot
            channel.send(json.dumps({"type": "tap", "x": 0.5, "y": 0.5}))
            self.taps_sent += 1

    # -- once a second -----------------------------------------------------------------------

    def tick(self, now: float | None = None) -> SecondSample:
        """Rates since the last tick (or since connecting), appended to `series`."""
        now = self._clock() if now is None else now
        previous = self._tick or (self.connected_at or now, 0, 0, 0, 0, 0)
        since, sent, received, matched, objects, index = previous
        elapsed = max(now - since, 1e-6)
        recent = [ms for _, ms in self.latencies[index:]]
        stats = self.last_stats or {}
        sample = SecondSample(
            t=round(now - self.origin, 3),
            fps_out=round((self.camera.sent - sent) / elapsed, 2),
            fps_in=round((self.received - received) / elapsed, 2),
            latency_p50_ms=round(float(np.median(recent)), 1) if recent else None,
            latency_max_ms=round(max(recent), 1) if recent else None,
            objects_per_s=round((self.objects_messages - objects) / elapsed, 2),
            server_overlay_fps=_number(stats.get("overlay_fps")),
            server_fps_in=_number(stats.get("fps_in")),
            connected=self.live,
            masks_fps=_number(stats.get("masks_fps")),
            fps_matched=round((self.matched - matched) / elapsed, 2),
        )
        self._tick = (
            now,
            self.camera.sent,
            self.received,
            self.matched,
            self.objects_messages,
            len(self.latencies),
        )
        self.series.append(sample)
        return sample

    # -- the end -------------------------------------------------------------------------------

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop streaming and close the peer connection (not counted as a disconnect)."""
        self.closing = True
        now = self._clock()
        if self._pending_cut is not None and now - self._pending_cut[0] > NEW_OBJECT_TIMEOUT_S:
            self.cuts_missed += 1
        self._pending_cut = None
        await super().close(timeout_s)

    def result(self) -> ClientResult:
        camera = self.camera
        streamed = (
            (camera.last_at - camera.first_at)
            if camera.first_at is not None and camera.last_at is not None
            else 0.0
        )
        stats = self.last_stats or {}
        return ClientResult(
            index=self.index,
            state=self.state(),
            failure=self.failure,
            session=self.session,
            offer_s=self.since_start(self.offer_at),
            connected_s=self.since_start(self.connected_at),
            first_frame_s=self.since_start(self.first_frame_at),
            first_objects_s=self.since_start(self.first_objects_at),
            streamed_s=round(streamed, 3),
            frames_sent=camera.sent,
            frames_received=self.received,
            frames_matched=self.matched,
            frames_unmatched=self.unmatched,
            frames_dropped=max(0, self._last_full_counter + 1 - self._received_at_last_match),
            camera_skipped=camera.skipped,
            fps_out=round(camera.sent / streamed, 2) if streamed > 0 else 0.0,
            fps_in=round(self.received / streamed, 2) if streamed > 0 else 0.0,
            latency_ms=[(round(t, 3), round(ms, 1)) for t, ms in self.latencies],
            objects_messages=self.objects_messages,
            objects_per_s=round(self.objects_messages / streamed, 2) if streamed > 0 else 0.0,
            say_messages=self.say_messages,
            stats_messages=self.stats_messages,
            server_overlay_fps=(
                round(float(np.mean(self._overlay_fps)), 2) if self._overlay_fps else None
            ),
            masks_fps=list(self._masks_fps),
            server_dropped=_count(stats.get("dropped")),
            server_dropped_out=_count(stats.get("dropped_out")),
            cuts=self.cuts,
            cuts_missed=self.cuts_missed,
            taps_sent=self.taps_sent,
            new_object_s=[round(s, 3) for s in self.new_object_s],
            errors=list(self.errors),
            error_count=self.error_count,
            disconnects=int(self.disconnected_at is not None),
            series=list(self.series),
            presenting=self.presenting,
            longest_freeze_s=(
                round(self.longest_freeze, 3) if self._last_back_at is not None else None
            ),
            rtp_passed=self.link.passed if self.link is not None else None,
            rtp_dropped=self.link.dropped if self.link is not None else None,
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
