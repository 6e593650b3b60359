"""One phone session's settings: timeouts, rates, limits, the returned video's load and codec."""

from __future__ import annotations

from dataclasses import dataclass, field

from stream.edge.rate_limits import MessageLimits
from stream.webrtc.outgoing_load import LoadSettings
from stream.webrtc.video_codecs import VideoSettings


@dataclass(frozen=True)
class SessionSettings:
    """Per-session behaviour.

    idle_timeout_s      close a session that has sent no video for this long (also one that
                        never connected)
    output_height       rows of the outgoing video (None: the camera's size; never upscaled)
    mailbox_frames      camera frames waiting for the encoder; older ones are dropped
    objects_interval_s  `objects` messages at most this often (sent only when they changed)
    stats_interval_s    `stats` messages this often
    max_buffered_bytes  skip `objects`/`stats` while more than this waits in the data channel
                        (a phone that stops reading must not make us buffer without bound)
    follow_masks        move the newest masks onto every camera frame by optical flow (False:
                        draw them where the model saw them, e.g. to compare in a benchmark)
    max_frame_size      (long side, short side): larger camera frames are scaled down to fit,
                        in either orientation, before the engine or the painter sees them
                        (None: no cap); the outgoing video is built at that size too
    limits              data-channel rate limits per phone (`stream.edge.rate_limits.MessageLimits`)
    load                when the outgoing video gets lighter (`stream.webrtc.outgoing_load`)
    video               the returned video's codec choice and bitrate (`stream.webrtc.video_codecs`)
    """

    idle_timeout_s: float = 20.0
    output_height: int | None = None
    mailbox_frames: int = 2
    objects_interval_s: float = 0.2
    stats_interval_s: float = 1.0
    max_buffered_bytes: int = 256 * 1024
    close_timeout_s: float = 5.0
    follow_masks: bool = True
    max_frame_size: tuple[int, int] | None = (1280, 720)
    limits: MessageLimits = field(default_factory=MessageLimits)
    load: LoadSettings = field(default_factory=LoadSettings)
    video: VideoSettings = field(default_factory=VideoSettings)

    def __post_init__(self) -> None:
        if self.idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be positive, got {self.idle_timeout_s}")
        if self.output_height is not None and not 16 <= self.output_height <= 4320:
            raise ValueError(f"output_height must lie in 16..4320, got {self.output_height}")
        if self.mailbox_frames < 1:
            raise ValueError(f"mailbox_frames must be at least 1, got {self.mailbox_frames}")
        if self.objects_interval_s < 0 or self.stats_interval_s <= 0:
            raise ValueError("objects_interval_s must be >= 0 and stats_interval_s > 0")
        if self.max_frame_size is not None and not (
            len(self.max_frame_size) == 2
            and all(16 <= side <= 8192 for side in self.max_frame_size)
        ):
            raise ValueError(
                f"max_frame_size sides must lie in 16..8192, got {self.max_frame_size}"
            )
