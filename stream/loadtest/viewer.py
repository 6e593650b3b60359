"""One simulated projector for load tests: an aiortc peer that watches a room, as the classroom
screen does, and measures what the room's video gives it.

    viewer = Viewer(1, "K7QM2P", cameras, origin=time.monotonic())
    if await viewer.connect(http, "http://127.0.0.1:8080", ssl=False, timeout_s=15):
        ...                       # watching; call viewer.tick() once a second
    await viewer.close()
    result = viewer.result()

A viewer offers {"room": CODE, "role": "viewer"} with a receive-only video transceiver and the
"events" data channel, exactly as the projector page does, so the server treats it as a screen:
no engine session, one more VP8 encoder. It sends nothing that could change the room.

What the room shows is the presenting phone's annotated video, re-timestamped by the server, so
the RTP timestamps say nothing about when a picture was taken. The presenter's frames carry the
load-test frame code instead (`stream.loadtest.client`): the viewer reads it and looks the
counter up in the presenter's own `MarkedCamera` (`cameras`, by session id, shared with the
phones of the same run), which gives the presenter's send time of that very frame. So:
  - latency = viewer receive time − presenter send time (camera → server → engine → room feed →
    the viewer's own encoder → viewer), on the same monotonic clock;
  - frames seen = distinct presenter frames decoded ÷ presenter frames sent over the stretch the
    viewer watched (from the first to the last decoded frame of each presenter); the room feed
    keeps only the newest frame, so a viewer that cannot keep up skips frames rather than lag.
Which phone presents is taken from the room's `room` messages (`presenting`); frames of a
presenter that is not one of this run's phones (a real phone already presenting in --room) are
counted as received but unmatched.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection

from stream.loadtest.client import MarkedCamera
from stream.loadtest.peer import Clock, Peer, State
from stream.loadtest.phone_results import SecondSample

MAX_LATENCY_SAMPLES = 20_000  # per viewer; beyond, every other one is dropped (see `_keep`)
MAX_SECOND_SAMPLES = 10_000  # latencies waiting for the next tick


@dataclass
class ViewerResult:
    """Everything one viewer measured. Times in seconds from the run's start unless named _ms;
    setup times (`*_s`) from the moment the viewer began to connect."""

    index: int
    state: State
    failure: str | None = None
    session: str | None = None
    offer_s: float | None = None  # ICE gathering + POST /api/offer answered
    connected_s: float | None = None  # WebRTC connectionState "connected"
    first_frame_s: float | None = None  # first frame of the room's screen decoded
    first_presenter_frame_s: float | None = None  # first frame whose presenter code was read
    watched_s: float = 0.0  # connected until closed (or disconnected)
    frames_received: int = 0
    frames_matched: int = 0  # frames whose code named a frame of one of this run's phones
    frames_unmatched: int = 0  # unreadable strip, a waiting screen or a presenter not ours
    presenter_frames: int = 0  # presenter frames sent over the stretches this viewer watched
    presenter_frames_seen: int = 0  # distinct ones of those this viewer decoded
    seen_fraction: float | None = None  # presenter_frames_seen / presenter_frames
    fps_in: float = 0.0  # frames_received / watched_s
    latency_ms: list[tuple[float, float]] = field(default_factory=list)  # (t, ms), thinned
    latency_stride: int = 1  # one latency sample kept per this many matched frames
    objects_messages: int = 0
    say_messages: int = 0
    room_messages: int = 0
    presenting: str | None = None  # the presenting session at the end
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    disconnects: int = 0
    series: list[SecondSample] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state == "ok" and self.error_count == 0


@dataclass
class _Stretch:
    """Frames of one presenter, while it presented: the first and last frame numbers decoded
    and how many distinct frames in between."""

    session: str
    first: int
    last: int
    seen: int = 1

    @property
    def sent(self) -> int:
        return self.last - self.first + 1


class Viewer(Peer):
    """One simulated projector watching `room` (see the module docstring). `cameras` maps a
    phone's session id to its camera; it may be filled after the viewer is made."""

    name = "viewer"

    def __init__(
        self,
        index: int,
        room: str,
        cameras: Mapping[str, MarkedCamera],
        origin: float,
        clock: Clock = time.monotonic,
        screen: str | None = None,
    ) -> None:
        offer = {"room": room, "role": "viewer"}
        if screen is not None:  # the key of the teacher's screen link
            offer["screen"] = screen
        super().__init__(index, origin, clock, offer)
        self.room = room
        self.cameras = cameras
        self.matched = 0
        self.unmatched = 0
        self.first_matched_at: float | None = None
        self.closed_at: float | None = None
        self.latencies: list[tuple[float, float]] = []
        self._stride = 1  # keep one latency in this many
        self._skipped = 0
        self._second: list[float] = []  # latencies since the last tick
        self._stretch: _Stretch | None = None
        self._done_sent = 0  # presenter frames of finished stretches
        self._done_seen = 0
        self.objects_messages = 0
        self.say_messages = 0
        self.room_messages = 0
        self.series: list[SecondSample] = []
        self._tick: tuple[float, int, int, int] | None = None

    def _prepare(self, pc: RTCPeerConnection) -> None:
        pc.addTransceiver("video", direction="recvonly")

    @property
    def presenting(self) -> str | None:
        """The presenting phone's session, from the last `room` message."""
        state = self.room_state or {}
        value = state.get("presenting")
        return value if isinstance(value, str) else None

    # -- what comes back ---------------------------------------------------------------------

    def _frame_back(self, frame: av.VideoFrame, now: float) -> None:
        session = self.presenting
        camera = self.cameras.get(session) if session is not None else None
        sent = camera.decode(frame, now) if camera is not None else None
        if session is None or sent is None:
            self.unmatched += 1
            return
        full, sent_at = sent
        self.matched += 1
        if self.first_matched_at is None:
            self.first_matched_at = now
        self._count_seen(session, full)
        latency_ms = (now - sent_at) * 1000.0
        if len(self._second) < MAX_SECOND_SAMPLES:
            self._second.append(latency_ms)
        self._keep(now - self.origin, latency_ms)

    def _count_seen(self, session: str, full: int) -> None:
        stretch = self._stretch
        if stretch is None or stretch.session != session:
            if stretch is not None:  # another phone presents now
                self._done_sent += stretch.sent
                self._done_seen += stretch.seen
            self._stretch = _Stretch(session, full, full)
        elif full > stretch.last:  # a repeat or a late older frame is not news
            stretch.last = full
            stretch.seen += 1

    def _keep(self, t: float, latency_ms: float) -> None:
        """Keep latency samples spread evenly over the whole run in bounded memory: when the
        list is full, drop every other sample and keep one in twice as many from then on."""
        self._skipped += 1
        if self._skipped < self._stride:
            return
        self._skipped = 0
        self.latencies.append((t, latency_ms))
        if len(self.latencies) >= MAX_LATENCY_SAMPLES:
            self.latencies = self.latencies[::2]
            self._stride *= 2

    def _on_json(self, kind: object, message: dict[str, Any], now: float) -> None:
        if kind == "objects":
            self.objects_messages += 1
        elif kind == "say":
            self.say_messages += 1
        elif kind == "room":
            self.room_messages += 1

    # -- once a second -----------------------------------------------------------------------

    def tick(self, now: float | None = None) -> SecondSample:
        """Rates since the last tick (or since connecting), appended to `series`."""
        now = self._clock() if now is None else now
        since, received, matched, objects = self._tick or (self.connected_at or now, 0, 0, 0)
        elapsed = max(now - since, 1e-6)
        recent, self._second = self._second, []
        sample = SecondSample(
            t=round(now - self.origin, 3),
            fps_out=0.0,  # a viewer sends nothing
            fps_in=round((self.received - received) / elapsed, 2),
            latency_p50_ms=round(float(np.median(recent)), 1) if recent else None,
            latency_max_ms=round(max(recent), 1) if recent else None,
            objects_per_s=round((self.objects_messages - objects) / elapsed, 2),
            server_overlay_fps=None,
            server_fps_in=None,
            connected=self.live,
            fps_matched=round((self.matched - matched) / elapsed, 2),
        )
        self._tick = (now, self.received, self.matched, self.objects_messages)
        self.series.append(sample)
        return sample

    # -- the end -------------------------------------------------------------------------------

    async def close(self, timeout_s: float = 10.0) -> None:
        if self.closed_at is None:
            self.closed_at = self._clock()
        await super().close(timeout_s)

    def result(self) -> ViewerResult:
        end = self.disconnected_at or self.closed_at or self._clock()
        watched = max(0.0, end - self.connected_at) if self.connected_at is not None else 0.0
        stretch = self._stretch
        spanned = self._done_sent + (stretch.sent if stretch is not None else 0)
        seen = self._done_seen + (stretch.seen if stretch is not None else 0)
        return ViewerResult(
            index=self.index,
            state=self.state(),
            failure=self.failure,
            session=self.session,
            offer_s=self.since_start(self.offer_at),
            connected_s=self.since_start(self.connected_at),
            first_frame_s=self.since_start(self.first_frame_at),
            first_presenter_frame_s=self.since_start(self.first_matched_at),
            watched_s=round(watched, 3),
            frames_received=self.received,
            frames_matched=self.matched,
            frames_unmatched=self.unmatched,
            presenter_frames=spanned,
            presenter_frames_seen=seen,
            seen_fraction=round(seen / spanned, 4) if spanned else None,
            fps_in=round(self.received / watched, 2) if watched > 0 else 0.0,
            latency_ms=[(round(t, 3), round(ms, 1)) for t, ms in self.latencies],
            latency_stride=self._stride,
            objects_messages=self.objects_messages,
            say_messages=self.say_messages,
            room_messages=self.room_messages,
            presenting=self.presenting,
            errors=list(self.errors),
            error_count=self.error_count,
            disconnects=int(self.disconnected_at is not None),
            series=list(self.series),
        )
