"""The recorded clip on disk: writing it (Y4M for Chromium's fake camera, WebM/MP4) and reading
any video back as frames."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from stream.loadtest.clip import (
    MP4_CRF,
    WEBM_BITRATE,
    ClipInfo,
    VideoFormat,
    _check_size,
    _check_timing,
    clip_frame_count,
    format_of,
    iter_clip_frames,
)

# -- writing -------------------------------------------------------------------------------------


def y4m_header(size: tuple[int, int], fps: int) -> bytes:
    """`YUV4MPEG2 W640 H480 F15:1 Ip A1:1 C420` + newline (C420, not ffmpeg's C420mpeg2)."""
    width, height = size
    return f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420\n".encode("ascii")


def _i420(rgb: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """(H, W, 3) RGB → (H·3/2, W) I420: the Y plane, then U and V at half resolution."""
    width, height = size
    if rgb.dtype != np.uint8 or rgb.shape != (height, width, 3):
        raise ValueError(
            f"frames must be RGB uint8 of shape ({height}, {width}, 3), got {rgb.dtype} {rgb.shape}"
        )
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8)


def write_frames(
    path: Path,
    frames: Iterable[npt.NDArray[np.uint8]],
    fps: int,
    size: tuple[int, int],
    *,
    total: int | None = None,
    progress: bool = False,
) -> ClipInfo:
    """Write RGB frames (H, W, 3) uint8 to `path` in the format its extension names.

    The file appears atomically (written next to it, then renamed). `total` sizes the progress
    bar (tqdm on stderr) when `progress` is set.
    """
    video_format = format_of(path)
    _check_size(size)
    _check_timing(1.0, fps)
    from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

    partial = path.with_name(f".{path.name}.partial")
    bar = tqdm(
        frames,
        total=total,
        unit="frame",
        desc=f"writing {path.name}",
        disable=not progress,
        file=sys.stderr,
        leave=False,
    )
    try:
        if video_format == "y4m":
            count = _write_y4m(partial, bar, fps, size)
        else:
            count = _write_encoded(partial, bar, fps, size, video_format)
        os.replace(partial, path)
    finally:
        bar.close()
        partial.unlink(missing_ok=True)
    return ClipInfo(path, video_format, count, fps, size, path.stat().st_size)


def _write_y4m(
    path: Path, frames: Iterable[npt.NDArray[np.uint8]], fps: int, size: tuple[int, int]
) -> int:
    count = 0
    with path.open("wb") as out:
        out.write(y4m_header(size, fps))
        for rgb in frames:
            out.write(b"FRAME\n")
            out.write(_i420(rgb, size).tobytes())
            count += 1
    return count


def _write_encoded(
    path: Path,
    frames: Iterable[npt.NDArray[np.uint8]],
    fps: int,
    size: tuple[int, int],
    video_format: VideoFormat,
) -> int:
    """H.264 (MP4) or VP8 (WebM) through PyAV; a keyframe every second."""
    import av

    width, height = size
    options = {"movflags": "+faststart"} if video_format == "mp4" else {}
    count = 0
    with av.open(str(path), mode="w", format=video_format, options=options) as container:
        if video_format == "mp4":
            stream = container.add_stream("libx264", rate=fps)
            stream.options = {
                "crf": str(MP4_CRF),
                "preset": "fast",
                "x264-params": f"keyint={fps}:min-keyint={fps}:scenecut=0",
            }
        else:
            stream = container.add_stream("libvpx", rate=fps)
            stream.bit_rate = round(WEBM_BITRATE * width * height / (640 * 480))
            stream.options = {"deadline": "realtime", "cpu-used": "8", "threads": "2"}
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.gop_size = fps
        time_base = Fraction(1, fps)
        for rgb in frames:
            frame = av.VideoFrame.from_ndarray(_i420(rgb, size), format="yuv420p")
            frame.pts, frame.time_base = count, time_base
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def write_clip(
    path: Path,
    seconds: float = 20.0,
    fps: int = 15,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    *,
    progress: bool = False,
) -> ClipInfo:
    """Make the clip (`iter_clip_frames`) and write it to `path` (.y4m, .mp4 or .webm)."""
    format_of(path)  # fail on a bad name before rendering anything
    frames = (frame.rgb for frame in iter_clip_frames(seconds, fps, size, seed))
    total = clip_frame_count(seconds, fps)
    return write_frames(path, frames, fps, size, total=total, progress=progress)


# -- reading -------------------------------------------------------------------------------------


def read_video_frames(
    path: Path, *, on_open: Callable[[float | None], None] | None = None
) -> Iterator[npt.NDArray[np.uint8]]:
    """Decode any video PyAV reads (.y4m, .mp4, .webm, ...) to RGB frames (H, W, 3) uint8.

    `on_open` is called once with the stream's average frame rate (None if unknown) before the
    first frame. Raises FileNotFoundError for a missing file and ValueError for one without video.
    """
    import av

    if not path.is_file():
        raise FileNotFoundError(f"no video file at {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as exc:
        raise ValueError(f"cannot read video {path}: {exc}") from exc
    with container:
        if not container.streams.video:
            raise ValueError(f"{path} holds no video stream")
        stream = container.streams.video[0]
        if on_open is not None:
            rate = stream.average_rate
            on_open(float(rate) if rate else None)
        for frame in container.decode(stream):
            yield np.ascontiguousarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
