"""Which video codec a phone's connection uses, and the returned video's bitrate (issue 19).

Codec. iPhones encode and decode H.264 (constrained baseline, profile-level-id 42e01f,
packetization-mode=1) in hardware; VP8 runs in software there and drains the battery. So the
phone page puts H.264 first in its offer where the browser has it, VP8 next (web/js/codecs.js;
old Safari without `setCodecPreferences` offers H.264 first anyway), and the server in `auto`
answers in the phone's own order: H.264 if the phone offers it first, else VP8. The camera and
the returned video share one sendrecv transceiver, so the answer's first codec serves both
ways. `h264` and `vp8` force one codec on the server too (testing, or a deployment that knows
its phones): a phone that cannot send it is refused (400, the offer's SDP was rejected).

aiortc keeps the *offer's* codec order in its answer (`find_common_codecs` walks the remote
codecs), then filters and reorders by the transceiver's codec preferences; it does both while
the offer is applied (`setRemoteDescription`), not in `createAnswer`, and it creates the
answerer's transceiver there too. So for a forced codec `prepare()` adds the video transceiver
*before* the offer is applied (aiortc binds the offer's first video m-line to it: it matches a
transceiver of the same kind with no mid yet) and sets its preferences through the public
`RTCRtpTransceiver.setCodecPreferences`; the session's `addTrack` later finds it free and sends
the annotated video on it. RTX entries are kept for the codecs kept (aiortc pairs them by apt).

Bitrate. aiortc's encoders start at 500 kbps (VP8) / 1 Mbps (H.264) and let the browser's REMB
move the target within module constants (VP8 250–1500 kbps, H.264 500–3000 kbps). The encoder is
created lazily inside `RTCRtpSender` (a private attribute) from `get_encoder` as imported into
`aiortc.rtcrtpsender`; `install_bitrate()` replaces that one name, once, with a factory that
wraps aiortc's encoder in `BoundedEncoder`: our start target, and REMB capped at our maximum.
aiortc's own floor and ceiling still apply underneath. Replacing the module-level name is the
least fragile hook aiortc leaves: no private attribute is touched at run time, and
tests/stream/webrtc/test_video_codecs.py fails if aiortc stops creating encoders through that name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiortc is imported where used: `serve --help` should not pay for it
    from aiortc import RTCPeerConnection, RTCRtpTransceiver
    from aiortc.codecs.base import Encoder
    from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

log = logging.getLogger(__name__)

VIDEO_CODECS = ("auto", "h264", "vp8")
DEFAULT_VIDEO_CODEC = "auto"
DEFAULT_START_KBPS = 1000
"""The encoder's first target (aiortc's own: 500 VP8, 1000 H.264). Measured at 640×480, 15 fps
(BENCHMARKS.md, issue 19): VP8 gains 0.7 dB PSNR median and 2 dB on the worst frame from 500
to 1000 kbps, then 0.2 dB or less per further 200 kbps; H.264 keeps aiortc's start. REMB lowers
it within a second or two on a weak link."""
DEFAULT_MAX_KBPS = 2000
"""The most REMB may raise the target to. aiortc's H.264 encoder assumes 30 fps, so at our 15 fps
it sends about half its target: 2000 is ~920 kbps sent, past which H.264 gains 0.3 dB for 50 %
more bits, and a class of phones shares one access point. VP8 stays under aiortc's 1500."""
MIN_KBPS, MAX_KBPS = 100, 20_000  # what the flags accept

H264_PROFILE = "42e01f"  # constrained baseline, level 3.1: what iOS encodes in hardware


@dataclass(frozen=True)
class VideoSettings:
    """The returned video's codec choice and bitrate.

    codec       "auto" (the phone's order: H.264 first from our page where it has it, else
                VP8), "h264" or "vp8" (only that codec)
    start_kbps  the encoder's first target
    max_kbps    REMB from the browser never raises the target above this
    """

    codec: str = DEFAULT_VIDEO_CODEC
    start_kbps: int = DEFAULT_START_KBPS
    max_kbps: int = DEFAULT_MAX_KBPS

    def __post_init__(self) -> None:
        if self.codec not in VIDEO_CODECS:
            raise ValueError(f"video codec {self.codec!r} must be one of {', '.join(VIDEO_CODECS)}")
        for name, kbps in (("bitrate", self.start_kbps), ("maximum bitrate", self.max_kbps)):
            if not MIN_KBPS <= kbps <= MAX_KBPS:
                raise ValueError(f"video {name} {kbps} kbps must lie in {MIN_KBPS}..{MAX_KBPS}")
        if self.start_kbps > self.max_kbps:
            raise ValueError(
                f"video bitrate {self.start_kbps} kbps is above the maximum {self.max_kbps} kbps"
            )


# -- codec choice ----------------------------------------------------------------------------


def _rank(codec: RTCRtpCodecCapability, choice: str) -> int | None:
    """Where `codec` goes for a forced `choice` (lower first); None: leave it out. RTX is
    kept, last: aiortc attaches it to each kept codec by its apt."""
    mime = codec.mimeType.lower()
    if mime == "video/rtx":
        return 9
    if mime == "video/h264" and choice == "h264":
        if str(codec.parameters.get("packetization-mode", "0")) != "1":
            return None  # aiortc packetises mode 1 only
        profile = str(codec.parameters.get("profile-level-id", "")).lower()
        return 0 if profile == H264_PROFILE else 1
    if mime == "video/vp8" and choice == "vp8":
        return 2
    return None


def preferred_codecs(
    choice: str, capabilities: Sequence[RTCRtpCodecCapability]
) -> list[RTCRtpCodecCapability]:
    """The codec preferences of the server's video transceiver for `choice`, from
    `capabilities` (aiortc's video codecs): "h264" only H.264 (42e01f first), "vp8" only VP8,
    both with RTX; "auto" none at all, so aiortc answers in the phone's own order (the phone
    page puts H.264 first where the browser has it, VP8 next: web/js/codecs.js)."""
    if choice not in VIDEO_CODECS:
        raise ValueError(f"video codec {choice!r} must be one of {', '.join(VIDEO_CODECS)}")
    if choice == "auto":
        return []
    ranked = [(r, i, c) for i, c in enumerate(capabilities) if (r := _rank(c, choice)) is not None]
    return [codec for _, _, codec in sorted(ranked, key=lambda item: (item[0], item[1]))]


def prepare(pc: RTCPeerConnection, settings: VideoSettings) -> RTCRtpTransceiver | None:
    """Before the phone's offer is applied: for a forced codec, the video transceiver the
    offer's first video m-line binds to, with that codec preferred (see the module docstring
    for why here). "auto" changes nothing: aiortc answers in the offer's order."""
    from aiortc import RTCRtpSender

    preferences = preferred_codecs(settings.codec, RTCRtpSender.getCapabilities("video").codecs)
    if not preferences:
        return None
    transceiver = pc.addTransceiver("video", direction="sendrecv")
    transceiver.setCodecPreferences(preferences)
    return transceiver


# -- bitrate ---------------------------------------------------------------------------------


class BoundedEncoder:
    """aiortc's video encoder, started at our target and capped at our maximum. Everything
    else (encode, pack, aiortc's own clamping) is the wrapped encoder's."""

    def __init__(self, inner: Encoder, start_bps: int, max_bps: int) -> None:
        self.inner = inner
        self.max_bps = max_bps
        self.target_bitrate = start_bps

    @property
    def target_bitrate(self) -> int:
        value: int = self.inner.target_bitrate  # type: ignore[attr-defined]
        return value

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        # REMB sets this; aiortc's setter clamps again to its own module bounds
        self.inner.target_bitrate = min(int(bitrate), self.max_bps)  # type: ignore[attr-defined]

    def encode(self, frame: Any, force_keyframe: bool = False) -> tuple[list[bytes], int]:
        return self.inner.encode(frame, force_keyframe)

    def pack(self, packet: Any) -> tuple[list[bytes], int]:
        return self.inner.pack(packet)

    def __getattr__(self, name: str) -> Any:  # anything else aiortc may read off an encoder
        if name == "inner":  # not set yet (a copy being built): no endless recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


_installed: dict[str, Any] = {}  # "original": aiortc's get_encoder, "settings": VideoSettings


def bounded_get_encoder(codec: RTCRtpCodecParameters) -> Any:
    """What `aiortc.rtcrtpsender.get_encoder` becomes: aiortc's encoder, video ones bounded."""
    original: Callable[[RTCRtpCodecParameters], Encoder] = _installed["original"]
    settings: VideoSettings = _installed["settings"]
    encoder = original(codec)
    if codec.mimeType.lower().startswith("video/") and hasattr(encoder, "target_bitrate"):
        return BoundedEncoder(encoder, settings.start_kbps * 1000, settings.max_kbps * 1000)
    return encoder


def install_bitrate(settings: VideoSettings) -> bool:
    """Make every RTP sender of this process encode video within `settings` (one server per
    process; a second call replaces the bounds); returns whether it could. An aiortc that no
    longer creates its encoders through `aiortc.rtcrtpsender.get_encoder` keeps its own
    bitrates, with a warning, rather than breaking every video."""
    import aiortc.rtcrtpsender as sender_module

    current = getattr(sender_module, "get_encoder", None)
    if not callable(current):
        log.warning(
            "aiortc has no rtcrtpsender.get_encoder: the returned video keeps aiortc's own "
            "bitrates, not --video-bitrate %d / --max-video-bitrate %d",
            settings.start_kbps,
            settings.max_kbps,
        )
        return False
    if current is not bounded_get_encoder:
        _installed["original"] = current
        sender_module.get_encoder = bounded_get_encoder
    _installed["settings"] = settings
    return True
