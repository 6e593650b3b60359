"""The media side of a session: reading incoming tracks and producing the annotated video.

    remote camera track ──pump──▶ SharedFrame ──▶ engine.submit (newest wins, engine thread)
                                      └──────────▶ FrameMailbox (2 frames, oldest dropped)
                                                      └─▶ AnnotatedVideoTrack.recv()
                                                            └─ OverlayPainter.paint in a
                                                               worker thread → encoder

Every camera frame goes back out at the camera's rate with the newest overlay drawn on it; the
video never waits for the models. Pixel work (colour conversion, resizing, drawing) runs in a
small thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Protocol

import av
import cv2
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from inference.core.detections import Detections
from inference.live.follow_settings import FollowSettings
from inference.live.mask_motion import MaskFollower
from inference.overlay.renderer import OverlayRenderer
from stream.webrtc.outgoing_load import LIGHT_FOLLOWING, SMALL_VIDEO_ROWS

log = logging.getLogger(__name__)

RGBArray = npt.NDArray[np.uint8]


class RenderableResult(Protocol):
    """What drawing needs from an engine result (`inference.live.engine.FrameResult` fits)."""

    @property
    def frame_size(self) -> tuple[int, int]: ...  # (H, W) the masks and boxes refer to

    @property
    def detections(self) -> Detections: ...

    @property
    def texts(self) -> tuple[str, ...]: ...

    @property
    def luma(self) -> npt.NDArray[np.uint8] | None: ...  # (H, W) gray of the result's frame


def capped_size(height: int, width: int, max_size: tuple[int, int] | None) -> tuple[int, int]:
    """(H, W) of a camera frame as the server processes it: at most `max_size` = (long side,
    short side) in either orientation (1280×720 fits 720×1280 too), aspect kept, both sides even
    when scaled; the frame's own size when it fits or `max_size` is None."""
    if max_size is None:
        return height, width
    long_max, short_max = max(max_size), min(max_size)
    scale = min(1.0, long_max / max(height, width), short_max / min(height, width))
    if scale >= 1.0:
        return height, width
    new_height = max(2, int(height * scale) // 2 * 2)
    new_width = max(2, int(width * scale) // 2 * 2)
    return new_height, new_width


class SharedFrame:
    """One camera frame whose RGB pixels are computed at most once, by whichever thread asks
    first (the engine's worker or an overlay worker).

    PyAV keeps one swscale context per frame: converting the same `av.VideoFrame` from two
    threads at once would race on it, so the conversion is serialised by a lock and cached.
    Nobody may modify the returned array in place (the engine and the painter share it).

    `max_size` = (long side, short side) caps what the server works on: a larger frame is
    scaled down inside the same conversion (swscale converts and scales in one pass), so
    `rgb()`, `luma()` and `copy()` all give at most that size (`height`, `width`), and one
    phone sending 4K cannot slow the others.
    """

    __slots__ = ("_lock", "_luma", "_rgb", "arrived", "frame", "height", "width")

    def __init__(self, frame: av.VideoFrame, max_size: tuple[int, int] | None = None) -> None:
        self.frame = frame
        self.arrived = time.perf_counter()  # decoded and handed over by the pump
        self.height, self.width = capped_size(frame.height, frame.width, max_size)
        self._rgb: RGBArray | None = None
        self._luma: npt.NDArray[np.uint8] | None = None
        self._lock = threading.Lock()

    @property
    def scaled(self) -> bool:
        return (self.height, self.width) != (self.frame.height, self.frame.width)

    def rgb(self) -> RGBArray:
        with self._lock:
            if self._rgb is None:
                if self.scaled:
                    array = self.frame.to_ndarray(
                        format="rgb24", width=self.width, height=self.height
                    )
                else:
                    array = self.frame.to_ndarray(format="rgb24")
                self._rgb = np.asarray(array, dtype=np.uint8)
            return self._rgb

    def luma(self) -> npt.NDArray[np.uint8]:
        """(H, W) uint8 gray, full range (as cv2's RGB→gray of `rgb()` would give): the Y plane
        of a YUV frame copied under the lock (no conversion; scaled down when capped), else the
        gray of `rgb()`."""
        with self._lock:
            if self._luma is None:
                frame = self.frame
                if frame.format.name in _YUV_PLANAR:
                    plane = frame.planes[0]
                    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
                    y = np.ascontiguousarray(rows[: frame.height, : frame.width])
                    if self.scaled:
                        size = (self.width, self.height)
                        y = np.asarray(cv2.resize(y, size, interpolation=cv2.INTER_AREA), np.uint8)
                    self._luma = y if frame.format.name.startswith("yuvj") else _LIMITED_TO_FULL[y]
            if self._luma is not None:
                return self._luma
        gray = np.asarray(cv2.cvtColor(self.rgb(), cv2.COLOR_RGB2GRAY), dtype=np.uint8)
        with self._lock:
            self._luma = gray
        return gray

    def copy(self) -> av.VideoFrame:
        """A new frame with a copy of this one's pixels and its timestamps, made under the lock.

        The pass-through for frames with nothing drawn on them: the encoder must never get the
        shared frame itself, which the engine may be converting (`rgb()`) in its thread. A
        capped frame comes back at its capped size (from `rgb()`).
        """
        if self.scaled:
            out = av.VideoFrame.from_ndarray(self.rgb(), format="rgb24")
            out.pts = self.frame.pts
            out.time_base = self.frame.time_base
            return out
        with self._lock:
            frame = self.frame
            try:  # its own format: a copy of the planes, no swscale
                out = av.VideoFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name)
            except (ValueError, TypeError):  # a format from_ndarray does not take
                out = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            out.pts = frame.pts
            out.time_base = frame.time_base
        return out


_YUV_PLANAR = frozenset({"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p"})
# limited-range (16-235) Y → full-range gray, as swscale's YUV → RGB expands it
_LIMITED_TO_FULL: npt.NDArray[np.uint8] = np.clip(
    np.round((np.arange(256) - 16) * 255 / 219), 0, 255
).astype(np.uint8)


class FrameMailbox:
    """A bounded FIFO between the pump and the outgoing track, for one consumer.

    Putting into a full box drops the oldest frame (and counts it) instead of waiting: the
    camera must never be slowed down, and a frame that is late is worth less than a new one.
    """

    def __init__(self, capacity: int = 2) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._frames: deque[SharedFrame] = deque()
        self._capacity = capacity
        self._ready = asyncio.Event()
        self._closed = False
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, frame: SharedFrame) -> bool:
        """Queue `frame`; returns True when an older frame was dropped to make room."""
        if self._closed:
            return False
        dropped = False
        if len(self._frames) >= self._capacity:
            self._frames.popleft()
            self.dropped += 1
            dropped = True
        self._frames.append(frame)
        self._ready.set()
        return dropped

    async def get(self) -> SharedFrame:
        """The oldest queued frame; waits for one. Raises MediaStreamError once closed."""
        while not self._frames:
            if self._closed:
                raise MediaStreamError("the session is closed")
            self._ready.clear()
            await self._ready.wait()
        if self._closed:
            raise MediaStreamError("the session is closed")
        return self._frames.popleft()

    def close(self) -> None:
        self._closed = True
        self._frames.clear()
        self._ready.set()  # wake a waiting consumer so it sees the close


def output_size(height: int, width: int, output_height: int | None) -> tuple[int, int]:
    """(H, W) of the outgoing video: the camera's size, or `output_height` rows (never more than
    the camera has: upscaling costs bandwidth and adds nothing), aspect kept, both sides even
    (the encoder works on 2×2 chroma blocks)."""
    if output_height is None or output_height >= height:
        return height, width
    new_height = max(2, output_height - output_height % 2)
    new_width = max(2, round(width * new_height / height / 2) * 2)
    return new_height, new_width


def fit_detections(
    detections: Detections, source: tuple[int, int], target: tuple[int, int]
) -> Detections:
    """`detections` made for a (H, W) = `source` frame, rescaled to a `target` frame: boxes
    scaled, masks resized nearest-neighbour (so they stay crisp and boolean)."""
    if source == target and (detections.masks is None or detections.masks.shape[1:] == target):
        return detections
    sy, sx = target[0] / source[0], target[1] / source[1]
    boxes = detections.boxes * np.array([sx, sy, sx, sy], dtype=np.float32)
    boxes = np.clip(boxes, 0, np.array([target[1], target[0]] * 2, dtype=np.float32))
    masks = None
    if detections.masks is not None:
        masks = np.zeros((len(detections), *target), dtype=bool)
        for i, mask in enumerate(detections.masks):
            resized = cv2.resize(
                mask.view(np.uint8), (target[1], target[0]), interpolation=cv2.INTER_NEAREST
            )
            masks[i] = resized.astype(bool)
    return Detections(
        boxes, detections.scores, detections.labels, masks, detections.track_ids, detections.extra
    )


class OverlayPainter:
    """Turns a camera frame plus the newest result into the outgoing frame.

    Runs in a worker thread, one call at a time per track (the encoder asks for frames one by
    one), so its small cache and its `MaskFollower` need no lock. Owns its renderer (which caches
    kernels). With `follow` (the default) the newest result's masks are moved onto each camera
    frame by optical flow (`inference.live.mask_motion`) and drawn with their fade alpha; without it
    they are drawn where the model saw them. `masks_drawn` counts the outgoing frames that
    carried at least one mask (written here, read by the session's stats).
    """

    def __init__(
        self,
        output_height: int | None = None,
        renderer: OverlayRenderer | None = None,
        follow: bool = True,
    ) -> None:
        self.output_height = output_height
        self._asked_height = output_height  # what the session asked for, at load level 0
        self.load_level = 0
        self.renderer = renderer or OverlayRenderer()
        self.follower: MaskFollower | None = MaskFollower() if follow else None
        self._following: RenderableResult | None = None  # the result the follower was reset with
        self.masks_drawn = 0
        # the last result fitted to the output size: results change at the model's rate, frames
        # at the camera's, so most frames reuse it
        self._fitted: tuple[RenderableResult, tuple[int, int], Detections] | None = None

    def set_load_level(self, level: int) -> None:
        """Lighter work per frame on a saturated machine (`stream.webrtc.outgoing_load`): level 1
        follows masks with `LIGHT_FOLLOWING`, level 2 also returns at most `SMALL_VIDEO_ROWS`
        rows. Call between two `paint` calls (the track paints one frame at a time)."""
        if level == self.load_level:
            return
        if self.follower is not None:
            settings = LIGHT_FOLLOWING if level >= 1 else FollowSettings()
            if settings != self.follower.settings:
                self.follower = MaskFollower(settings)
                self._following = None  # the next paint resets it with the newest result
        height = self._asked_height
        if level >= 2:
            height = min(height, SMALL_VIDEO_ROWS) if height is not None else SMALL_VIDEO_ROWS
        self.output_height = height
        self.load_level = level

    def paint(self, shared: SharedFrame, result: RenderableResult | None) -> av.VideoFrame:
        camera = shared.frame
        # the processed size: the camera's, or less when the session caps it
        height, width = output_size(shared.height, shared.width, self.output_height)
        nothing = result is None or not len(result.detections)
        follower = self.follower
        if follower is not None and nothing:
            # remembered, so a result made on this frame can be caught up through the later ones
            follower.observe(shared.luma())
        if nothing and (height, width) == (shared.height, shared.width):
            # nothing to draw: a copy of the decoded frame goes back (never the shared frame,
            # which the engine may be converting), sparing two colour conversions
            return shared.copy()
        rgb = shared.rgb()
        if (height, width) != rgb.shape[:2]:
            rgb = np.asarray(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
        if result is not None and len(result.detections):
            detections, opacities = self._place(shared, result, (height, width))
            if detections.masks is not None and any(
                o > 0 and m.any() for o, m in zip(opacities, detections.masks, strict=True)
            ):
                self.masks_drawn += 1
            rgb = self.renderer.annotate(rgb, detections, result.texts, opacities)
        out = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        # the camera's timestamps: the encoder paces and orders by them
        out.pts = camera.pts
        out.time_base = camera.time_base
        return out

    def _place(
        self, shared: SharedFrame, result: RenderableResult, size: tuple[int, int]
    ) -> tuple[Detections, list[float]]:
        """The result's objects on this frame (followed when possible) and their opacities."""
        follower, luma = self.follower, result.luma
        masks = result.detections.masks
        if follower is None or luma is None or masks is None or luma.shape != masks.shape[1:]:
            return self._fit(result, size), [1.0] * len(result.detections)
        if self._following is not result:
            follower.reset(luma, result.detections)
            self._following = result
        moved, alphas = follower.follow(shared.luma(), size)
        return moved, [float(a) for a in alphas]

    def _fit(self, result: RenderableResult, size: tuple[int, int]) -> Detections:
        cached = self._fitted
        if cached is not None and cached[0] is result and cached[1] == size:
            return cached[2]
        source = result.frame_size
        if result.detections.masks is not None:
            source = (result.detections.masks.shape[1], result.detections.masks.shape[2])
        fitted = fit_detections(result.detections, source, size)
        self._fitted = (result, size, fitted)
        return fitted


class AnnotatedVideoTrack(MediaStreamTrack):
    """The video sent back to the phone: each camera frame, with the newest overlay drawn on it.

    `recv` is called by aiortc's sender once per frame it encodes; it waits only for the next
    camera frame, never for the models (`latest` returns whatever result is newest, or None).
    """

    kind = "video"

    def __init__(
        self,
        mailbox: FrameMailbox,
        painter: OverlayPainter,
        latest: Callable[[], RenderableResult | None],
        executor: Executor,
        on_frame_out: Callable[[float], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        super().__init__()
        self._mailbox = mailbox
        self._painter = painter
        self._latest = latest
        self._executor = executor
        self._on_frame_out = on_frame_out
        self._on_error = on_error
        self.frames_out = 0

    @property
    def painter(self) -> OverlayPainter:
        return self._painter

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        shared = await self._mailbox.get()
        loop = asyncio.get_running_loop()
        try:
            frame = await loop.run_in_executor(
                self._executor, self._painter.paint, shared, self._latest()
            )
        except Exception as exc:  # a bad result must cost one overlay, never the video
            if self._on_error is not None:
                self._on_error(exc)
            frame = await loop.run_in_executor(self._executor, self._painter.paint, shared, None)
        self.frames_out += 1
        if self._on_frame_out is not None:  # the server's share of the latency, before encoding
            self._on_frame_out(time.perf_counter() - shared.arrived)
        return frame

    def stop(self) -> None:
        super().stop()
        self._mailbox.close()


async def pump(track: MediaStreamTrack, on_frame: Callable[[av.VideoFrame], None] | None) -> None:
    """Read `track` until it ends, handing video frames to `on_frame` (None: read and discard).

    Every accepted track is read continuously, even one we do not use (audio): aiortc buffers
    decoded frames of an unread track without bound.
    """
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        if on_frame is not None and isinstance(frame, av.VideoFrame):
            on_frame(frame)
