"""What one load-test phone measured: per-second samples and the totals the report reads."""

from __future__ import annotations

from dataclasses import dataclass, field

from stream.loadtest.peer import State

# -- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SecondSample:
    """One client over one second of the run (rates per second; t: seconds since the start)."""

    t: float
    fps_out: float
    fps_in: float
    latency_p50_ms: float | None
    latency_max_ms: float | None
    objects_per_s: float
    server_overlay_fps: float | None  # the engine's result rate, from the last `stats`
    server_fps_in: float | None
    connected: bool
    masks_fps: float | None = None  # returned frames carrying a mask per second (last `stats`)
    fps_matched: float | None = None  # returned frames whose code was read, per second


@dataclass
class ClientResult:
    """Everything one phone measured. Times in seconds from the run's start unless named _ms;
    setup times (`*_s`) from the moment the phone began to connect."""

    index: int
    state: State
    failure: str | None = None
    session: str | None = None
    offer_s: float | None = None  # ICE gathering + POST /api/offer answered
    connected_s: float | None = None  # WebRTC connectionState "connected"
    first_frame_s: float | None = None  # first returned frame decoded
    first_objects_s: float | None = None  # first `objects` message with an object in it
    streamed_s: float = 0.0
    frames_sent: int = 0
    frames_received: int = 0
    frames_matched: int = 0  # returned frames whose code was read
    frames_unmatched: int = 0  # returned frames whose code could not be read
    frames_dropped: int = 0  # sent up to the last matched frame, never returned
    camera_skipped: int = 0  # frame slots this machine was too slow to send
    fps_out: float = 0.0
    fps_in: float = 0.0
    latency_ms: list[tuple[float, float]] = field(default_factory=list)  # (t, ms)
    objects_messages: int = 0
    objects_per_s: float = 0.0
    say_messages: int = 0
    stats_messages: int = 0
    server_overlay_fps: float | None = None  # mean over the stats messages
    masks_fps: list[float] = field(default_factory=list)  # per stats message: masks drawn/s
    server_dropped: int | None = None  # frames the engine skipped (expected: newest wins)
    server_dropped_out: int | None = None  # video frames the server dropped
    cuts: int = 0
    cuts_missed: int = 0
    taps_sent: int = 0
    new_object_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    disconnects: int = 0
    series: list[SecondSample] = field(default_factory=list)
    presenting: bool | None = None  # in a room: whether this phone presented at the end
    longest_freeze_s: float | None = None  # longest wait between two frames back
    rtp_passed: int | None = None  # with a lossy link (`loss`): RTP packets it let through
    rtp_dropped: int | None = None  # and dropped

    @property
    def ok(self) -> bool:
        return self.state == "ok" and self.error_count == 0
