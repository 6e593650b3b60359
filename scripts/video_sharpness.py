"""Returned video: bitrate vs sharpness (issue 19).

Encodes a 640×480, 15 fps clip that looks like what the server sends back (a real photograph
from scikit-image, panning slowly, with coloured semi-transparent masks and text labels on it)
through aiortc's own `Vp8Encoder` and `H264Encoder` (the encoders the server's RTP senders use,
packetised into RTP payloads exactly as they would be sent), reassembles and decodes every frame
with aiortc's decoders (PyAV), and prints, per codec and target bitrate: the bitrate achieved,
PSNR (RGB) and SSIM (luma) median and worst over the clip, and the encode time per frame.

aiortc's encoders clamp their target to module bounds (VP8 250–1500 kbps, H.264 500–3000 kbps);
a target outside them is measured at the clamped value and marked.

    .venv/bin/python scripts/video_sharpness.py [--seconds 10] [--kbps 250,400,600,800,1200,2000]
"""

from __future__ import annotations

import argparse
import fractions
import platform
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np
import numpy.typing as npt
import skimage.data
from aiortc.codecs import depayload
from aiortc.codecs.base import Decoder, Encoder
from aiortc.codecs.h264 import H264Decoder, H264Encoder
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

WIDTH, HEIGHT, FPS = 640, 480, 15
TIME_BASE = fractions.Fraction(1, 90_000)  # what frames from a browser's RTP carry
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Codec:
    name: str
    mime: str
    encoder: Callable[[], Encoder]
    decoder: Callable[[], Decoder]


CODECS = (
    Codec("VP8", "video/VP8", Vp8Encoder, Vp8Decoder),
    Codec("H264", "video/H264", H264Encoder, H264Decoder),
)


def scene(seconds: float) -> Iterator[Image]:
    """RGB frames: the astronaut photo (scaled up so there is room to pan) drifting slowly
    right and down, with three tracked "objects" drawn like the server's overlay: a filled
    semi-transparent mask, a contour and a label on a dark plate."""
    photo = skimage.data.astronaut()  # 512×512 RGB
    big = cv2.resize(photo, (900, 900), interpolation=cv2.INTER_CUBIC)
    objects = [  # centre (x, y) in the big photo, axes, colour (RGB), label
        ((430, 300), (120, 150), (255, 64, 64), "person"),
        ((640, 380), (90, 70), (64, 160, 255), "flag"),
        ((260, 470), (90, 110), (80, 220, 80), "helmet"),
    ]
    count = round(seconds * FPS)
    for i in range(count):
        t = i / max(count - 1, 1)
        x0 = round(40 + 180 * t)  # ~18 px/s: a phone held fairly still
        y0 = round(30 + 100 * t + 6 * np.sin(i / 7))  # and a little hand shake
        frame = big[y0 : y0 + HEIGHT, x0 : x0 + WIDTH].copy()
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        tint = frame.copy()
        for k, ((cx, cy), axes, colour, _) in enumerate(objects):
            centre = (cx - x0 + int(8 * np.sin(i / 9 + k)), cy - y0)
            mask[:] = 0
            cv2.ellipse(mask, centre, axes, 15 * k, 0, 360, 255, -1)
            tint[mask > 0] = colour
            contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(frame, contours, -1, colour, 3, cv2.LINE_AA)
        frame = cv2.addWeighted(frame, 0.6, tint, 0.4, 0)
        for k, ((cx, cy), axes, colour, label) in enumerate(objects):
            x = cx - x0 - axes[0] // 2 + int(8 * np.sin(i / 9 + k))
            y = cy - y0 - axes[1] - 10
            (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 2)
            cv2.rectangle(frame, (x - 6, y - h - 8), (x + w + 6, y + 8), (20, 20, 20), -1)
            cv2.putText(frame, label, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 1.0, colour, 2, cv2.LINE_AA)
        yield frame


@dataclass(frozen=True)
class Row:
    codec: str
    target_kbps: int
    applied_kbps: int
    achieved_kbps: float
    psnr_p50: float
    psnr_worst: float
    ssim_p50: float
    ssim_worst: float
    encode_ms: float
    decoded: int
    frames: int


def measure(codec: Codec, kbps: int, frames: list[Image]) -> Row:
    encoder, decoder = codec.encoder(), codec.decoder()
    encoder.target_bitrate = kbps * 1000  # type: ignore[attr-defined]  # aiortc clamps it
    applied = encoder.target_bitrate // 1000  # type: ignore[attr-defined]
    params = RTCRtpCodecParameters(mimeType=codec.mime, clockRate=90_000, payloadType=96)
    sent_bytes, encode_s = 0, 0.0
    psnr: list[float] = []
    ssim: list[float] = []
    for i, rgb in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = i * (90_000 // FPS), TIME_BASE
        start = time.perf_counter()
        payloads, timestamp = encoder.encode(frame, force_keyframe=False)
        encode_s += time.perf_counter() - start
        sent_bytes += sum(len(p) for p in payloads)
        if not payloads:
            continue
        data = b"".join(depayload(params, p) for p in payloads)
        for out in decoder.decode(JitterFrame(data, timestamp)):
            got = out.to_ndarray(format="rgb24")  # type: ignore[attr-defined]
            psnr.append(float(peak_signal_noise_ratio(rgb, got, data_range=255)))
            ref_y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            got_y = cv2.cvtColor(got, cv2.COLOR_RGB2GRAY)
            ssim.append(float(structural_similarity(ref_y, got_y, data_range=255)))
    seconds = len(frames) / FPS
    return Row(
        codec.name,
        kbps,
        applied,
        sent_bytes * 8 / seconds / 1000,
        float(np.median(psnr)),
        min(psnr),
        float(np.median(ssim)),
        min(ssim),
        encode_s / len(frames) * 1000,
        len(psnr),
        len(frames),
    )


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--kbps", default="250,400,600,800,1200,2000")
    parser.add_argument("--codecs", default="VP8,H264")
    args = parser.parse_args()
    targets = [int(k) for k in args.kbps.split(",")]
    wanted = {c.strip().upper() for c in args.codecs.split(",")}
    frames = list(scene(args.seconds))
    print(
        f"{len(frames)} frames {WIDTH}x{HEIGHT} @ {FPS} fps; {cpu_model()}; "
        f"av {av.__version__}; {time.strftime('%Y-%m-%d')}"
    )
    print(
        "| codec | target kbps | achieved kbps | PSNR dB p50 / worst | SSIM p50 / worst "
        "| encode ms/frame |"
    )
    print("|---|---|---|---|---|---|")
    for codec in CODECS:
        if codec.name not in wanted:
            continue
        for kbps in targets:
            row = measure(codec, kbps, frames)
            target = f"{kbps}" if row.applied_kbps == kbps else f"{kbps} (→{row.applied_kbps})"
            lost = "" if row.decoded == row.frames else f" ({row.frames - row.decoded} lost)"
            print(
                f"| {row.codec} | {target} | {row.achieved_kbps:.0f} | "
                f"{row.psnr_p50:.1f} / {row.psnr_worst:.1f} | "
                f"{row.ssim_p50:.3f} / {row.ssim_worst:.3f}{lost} | {row.encode_ms:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
