"""A deterministic "recorded" phone clip made from real photographs, and video files in and out.

The clip is what a child's phone camera would send: real photos from `skimage.data` (a cat, a
cup, an astronaut, a rocket, a motorcycle) filmed with camera-like motion — a pan across a
photo, a zoom in or out, hand shake on top of everything (smooth, seeded), a stretch of dim
light (brightness ramped down to `DIM_LEVEL` and back, with sensor noise rising as the light
falls) and hard cuts to new scenes. Everything depends only on the arguments, so two runs with
the same seed give byte-identical frames.

    frames = iter_clip_frames(seconds=20, fps=15, size=(640, 480), seed=0)
    write_clip(Path("clip.y4m"))                # Chromium's fake camera reads this
    for rgb in read_video_frames(Path("clip.mp4")): ...   # (H, W, 3) uint8, any PyAV input

Timeline: the clip is cut into `max(2, round(seconds / SCENE_SECONDS))` scenes of equal length,
cycling through `SCENES`; the middle scene (the second one in a two-scene clip) has the dim
stretch. Output formats by file extension: `.y4m` (YUV4MPEG2, I420), `.mp4` (H.264 through
libx264, yuv420p, CRF 23, a keyframe every second) and `.webm` (VP8 through libvpx, a keyframe
every second).

`scikit-image` provides the photos (its wheels ship them; nothing is downloaded); it is needed
only to make clips, not to read or write video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "DIM_LEVEL",
    "FORMATS",
    "SCENES",
    "SCENE_SECONDS",
    "ClipFrame",
    "ClipInfo",
    "Motion",
    "Scene",
    "SceneSpec",
    "clip_frame_count",
    "dim_profile",
    "format_of",
    "iter_clip_frames",
    "parse_size",
    "plan_scenes",
]

Motion = Literal["zoom_in", "zoom_out", "pan", "pan_back", "pan_zoom"]
VideoFormat = Literal["y4m", "mp4", "webm"]
FORMATS: dict[str, VideoFormat] = {".y4m": "y4m", ".mp4": "mp4", ".webm": "webm"}

SCENE_SECONDS = 4.0  # a cut about every 4 s
DIM_LEVEL = 0.2  # brightness at the bottom of the dim stretch
MIN_ZOOM = 1.08  # never show the photo's edge: leaves room for the hand shake
SHAKE = 0.006  # hand-shake amplitude as a fraction of the frame width (≈ 4 px at 640)
SHAKE_DEGREES = 0.35  # hand-shake roll amplitude
NOISE_SIGMA = 1.5  # sensor noise (RGB levels) in good light ...
DIM_NOISE_SIGMA = 7.0  # ... and at DIM_LEVEL: a phone raises its gain in a dim room
MP4_CRF = 23
WEBM_BITRATE = 2_000_000  # bits/s at 640×480, scaled with the pixel count


@dataclass(frozen=True)
class SceneSpec:
    """One photo and how the camera moves over it.

    name:    the `skimage.data` photo ("chelsea", ..., "motorcycle" = stereo_motorcycle's left)
    subject: what a child would point at in it (a detector vocabulary word)
    focus:   (x, y) of the subject as fractions of the photo's width and height
    """

    name: str
    subject: str
    motion: Motion
    focus: tuple[float, float]


SCENES: tuple[SceneSpec, ...] = (
    SceneSpec("chelsea", "cat", "zoom_in", (0.50, 0.42)),
    SceneSpec("coffee", "cup", "pan", (0.45, 0.50)),
    SceneSpec("astronaut", "astronaut", "zoom_out", (0.45, 0.32)),
    SceneSpec("rocket", "rocket", "pan_back", (0.60, 0.45)),
    SceneSpec("motorcycle", "motorcycle", "pan_zoom", (0.50, 0.55)),
)


@dataclass(frozen=True)
class Scene:
    """A stretch of the clip between two cuts: frames [start, stop)."""

    spec: SceneSpec
    start: int
    stop: int
    dim: bool  # this scene holds the dim stretch

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class ClipFrame:
    """One frame of the clip.

    index: frame number from 0; t: its time in seconds (index / fps)
    rgb:   (H, W, 3) uint8
    scene: the photo on screen (a change of scene between frames is a cut)
    dim:   the brightness factor applied, 1.0 = normal light, DIM_LEVEL at the darkest
    view:  (2, 3) float64, the true camera: frame pixel (x, y, 1) → photo pixel. Within a scene
           the photo is still, so view[b]⁻¹ · view[a] moves points from frame a to frame b (the
           ground-truth motion, e.g. to carry an object's box)
    """

    index: int
    t: float
    rgb: npt.NDArray[np.uint8]
    scene: str
    dim: float
    view: npt.NDArray[np.float64] | None = None


@dataclass(frozen=True)
class ClipInfo:
    """What `write_clip` / `write_frames` wrote."""

    path: Path
    format: VideoFormat
    frames: int
    fps: int
    size: tuple[int, int]  # (width, height)
    bytes: int


# -- arguments -----------------------------------------------------------------------------------


def parse_size(text: str) -> tuple[int, int]:
    """ "640x480" → (640, 480): width × height, both even (I420 needs it) and at least 64."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise ValueError(f"size must look like 640x480, got {text!r}") from None
    _check_size((width, height))
    return width, height


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if width < 64 or height < 64 or width > 4096 or height > 4096:
        raise ValueError(f"clip size must lie between 64 and 4096 per side, got {width}x{height}")
    if width % 2 or height % 2:
        raise ValueError(f"clip size must be even (I420 video), got {width}x{height}")


def _check_timing(seconds: float, fps: int) -> None:
    if not isinstance(fps, int) or isinstance(fps, bool) or not 1 <= fps <= 120:
        raise ValueError(f"fps must be an integer between 1 and 120, got {fps!r}")
    if not math.isfinite(seconds) or not 0 < seconds <= 3600:
        raise ValueError(f"seconds must lie in (0, 3600], got {seconds}")


def clip_frame_count(seconds: float, fps: int) -> int:
    """Frames in a clip of `seconds` at `fps` (at least 1)."""
    _check_timing(seconds, fps)
    return max(1, round(seconds * fps))


def format_of(path: Path) -> VideoFormat:
    """The output format a file name asks for; ValueError for anything else."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise ValueError(
            f"cannot write {path.name!r}: use one of {', '.join(FORMATS)} "
            "(YUV4MPEG2 for Chromium's fake camera, H.264 MP4, VP8 WebM)"
        )
    return found


# -- the timeline --------------------------------------------------------------------------------


def plan_scenes(seconds: float, fps: int) -> list[Scene]:
    """The clip's scenes in order: equal stretches, cycling through SCENES, one dim scene."""
    total = clip_frame_count(seconds, fps)
    count = max(2, round(seconds / SCENE_SECONDS))
    count = min(count, total)
    dim_index = 1 if count <= 2 else count // 2
    bounds = [round(k * total / count) for k in range(count + 1)]
    return [
        Scene(SCENES[k % len(SCENES)], bounds[k], bounds[k + 1], dim=k == dim_index)
        for k in range(count)
        if bounds[k + 1] > bounds[k]
    ]


def _smoothstep(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u * u * (3.0 - 2.0 * u)


def dim_profile(u: float) -> float:
    """Brightness over a dim scene, u in [0, 1]: 1 → DIM_LEVEL (u 0.1..0.35), held until 0.65,
    back to 1 by 0.9. Smooth ramps, like auto-exposure losing and regaining the light."""
    fall = _smoothstep((u - 0.10) / 0.25) if u < 0.5 else 1.0 - _smoothstep((u - 0.65) / 0.25)
    return 1.0 - (1.0 - DIM_LEVEL) * fall


@dataclass(frozen=True)
class _Camera:
    """Where the camera looks in the (pre-scaled) photo: centre in photo pixels, zoom ≥ 1
    (1 = the photo just covers the frame), roll in radians."""

    cx: float
    cy: float
    zoom: float
    roll: float = 0.0


def _path(
    spec: SceneSpec, u: float, photo_size: tuple[int, int], frame_size: tuple[int, int]
) -> _Camera:
    """The planned camera (no shake) at u in [0, 1] through the scene."""
    pw, ph = photo_size
    fx, fy = spec.focus[0] * pw, spec.focus[1] * ph
    mid_x, mid_y = pw / 2, ph / 2
    e = _smoothstep(u)
    if spec.motion in ("zoom_in", "zoom_out"):
        near, far = 1.75, MIN_ZOOM
        if spec.motion == "zoom_out":
            e = 1.0 - e
        zoom = far + (near - far) * e
        cx, cy = mid_x + (fx - mid_x) * e, mid_y + (fy - mid_y) * e
    elif spec.motion in ("pan", "pan_back"):
        zoom = 1.45
        left, right = _x_range(zoom, photo_size, frame_size)
        if spec.motion == "pan_back":
            left, right = right, left
        cx, cy = left + (right - left) * e, fy
    else:  # pan_zoom: drift right to left while moving closer
        zoom = 1.15 + 0.3 * e
        left, right = _x_range(zoom, photo_size, frame_size)
        left, right = left + 0.2 * (right - left), right - 0.2 * (right - left)
        cx, cy = right + (left - right) * e, mid_y + (fy - mid_y) * e
    return _clamped(_Camera(cx, cy, zoom), photo_size, frame_size)


def _margin(zoom: float, frame_size: tuple[int, int]) -> float:
    """Photo pixels kept free around the view for the shake (2 % of the frame width)."""
    return 0.02 * frame_size[0] / zoom


def _x_range(
    zoom: float, photo_size: tuple[int, int], frame_size: tuple[int, int]
) -> tuple[float, float]:
    """The leftmost and rightmost view centres that keep the view inside the photo."""
    half = frame_size[0] / zoom / 2 + _margin(zoom, frame_size)
    lo, hi = half, photo_size[0] - half
    return (lo, hi) if lo <= hi else (photo_size[0] / 2, photo_size[0] / 2)


def _clamped(camera: _Camera, photo_size: tuple[int, int], frame_size: tuple[int, int]) -> _Camera:
    """Keep the view (plus the shake margin) inside the photo."""
    pw, ph = photo_size
    margin = _margin(camera.zoom, frame_size)
    half_w = frame_size[0] / camera.zoom / 2 + margin
    half_h = frame_size[1] / camera.zoom / 2 + margin
    lo_x, hi_x = half_w, pw - half_w
    lo_y, hi_y = half_h, ph - half_h
    cx = pw / 2 if lo_x > hi_x else min(max(camera.cx, lo_x), hi_x)
    cy = ph / 2 if lo_y > hi_y else min(max(camera.cy, lo_y), hi_y)
    return _Camera(cx, cy, camera.zoom, camera.roll)


class _Shake:
    """Hand shake: a few seeded sinusoids (0.7-3.5 Hz) per axis and roll, plus a little jitter.

    `at(t, rng)` → (dx, dy) in output pixels and roll in radians.
    """

    def __init__(self, seed: int, width: int) -> None:
        rng = np.random.default_rng([seed, 0x5A4E])
        self.freqs = rng.uniform(0.7, 3.5, size=(3, 3))  # (axis, component)
        self.phases = rng.uniform(0, 2 * math.pi, size=(3, 3))
        self.weights = rng.uniform(0.4, 1.0, size=(3, 3))
        self.weights /= self.weights.sum(axis=1, keepdims=True)
        self.amplitude = np.array([SHAKE * width, SHAKE * width, math.radians(SHAKE_DEGREES)])

    def at(self, t: float, rng: np.random.Generator) -> tuple[float, float, float]:
        waves = (self.weights * np.sin(2 * math.pi * self.freqs * t + self.phases)).sum(axis=1)
        jitter = rng.normal(0.0, 0.08, size=3)
        dx, dy, roll = (waves + jitter) * self.amplitude
        return float(dx), float(dy), float(roll)


@lru_cache(maxsize=8)
def _photo(name: str) -> npt.NDArray[np.uint8]:
    """A `skimage.data` photo as RGB uint8 (H, W, 3)."""
    try:
        from skimage import data
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "making a clip needs scikit-image (its wheels ship the photos): "
            "pip install scikit-image"
        ) from exc
    loaded = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    image = np.asarray(loaded)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3].astype(np.uint8))


@lru_cache(maxsize=16)
def _scaled_photo(name: str, frame_size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The photo resized so that it just covers the frame at zoom 1 (aspect kept)."""
    photo = _photo(name)
    width, height = frame_size
    scale = max(width / photo.shape[1], height / photo.shape[0])
    size = (max(width, round(photo.shape[1] * scale)), max(height, round(photo.shape[0] * scale)))
    shrinking = scale < 1
    resized = cv2.resize(
        photo, size, interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    )
    return np.asarray(resized, dtype=np.uint8)


def _view(
    camera: _Camera, shake: tuple[float, float, float], frame_size: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """(2, 3) frame pixel → photo pixel: src = c + R(roll)·(dst − centre)/zoom."""
    width, height = frame_size
    dx, dy, droll = shake
    roll = camera.roll + droll
    cos, sin = math.cos(roll) / camera.zoom, math.sin(roll) / camera.zoom
    ox, oy = width / 2 - dx, height / 2 - dy  # shaking the camera moves the picture the other way
    matrix = np.array(
        [
            [cos, -sin, camera.cx - cos * ox + sin * oy],
            [sin, cos, camera.cy - sin * ox - cos * oy],
        ],
        dtype=np.float64,
    )
    return matrix


def _render(
    photo: npt.NDArray[np.uint8], matrix: npt.NDArray[np.float64], frame_size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    """Warp the view of `photo` into a (H, W, 3) frame through `matrix` (see `_view`)."""
    width, height = frame_size
    warped = cv2.warpAffine(
        photo,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    return np.asarray(warped, dtype=np.uint8)


def _expose(
    frame: npt.NDArray[np.uint8], dim: float, rng: np.random.Generator
) -> npt.NDArray[np.uint8]:
    """Scale brightness by `dim` and add sensor noise that grows as the light falls."""
    darkness = (1.0 - dim) / (1.0 - DIM_LEVEL)
    sigma = NOISE_SIGMA + (DIM_NOISE_SIGMA - NOISE_SIGMA) * darkness
    # Triangular noise (the sum of two uniform bytes, σ = 255/√6 ≈ 104.1 before scaling): as
    # good as Gaussian grain for the eye and the lighting estimator, and 5× cheaper to draw.
    noise = rng.integers(0, 256, frame.shape, dtype=np.uint8).astype(np.float32)
    noise += rng.integers(0, 256, frame.shape, dtype=np.uint8)
    noise -= np.float32(255.0)
    noise *= np.float32(sigma / (255.0 / math.sqrt(6.0)))
    pixels = frame.astype(np.float32)
    pixels *= np.float32(dim)
    pixels += noise
    pixels += np.float32(0.5)
    np.clip(pixels, 0, 255, out=pixels)
    return pixels.astype(np.uint8)


def iter_clip_frames(
    seconds: float = 20.0, fps: int = 15, size: tuple[int, int] = (640, 480), seed: int = 0
) -> Iterator[ClipFrame]:
    """The clip, frame by frame, without touching disk.

    size is (width, height); each `ClipFrame.rgb` is (height, width, 3) uint8. Frames depend
    only on the arguments (and the photos): the same seed gives identical frames. Bad arguments
    raise ValueError here, not at the first frame.
    """
    _check_size(size)
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    return _frames(plan_scenes(seconds, fps), fps, size, seed)


def _frames(scenes: list[Scene], fps: int, size: tuple[int, int], seed: int) -> Iterator[ClipFrame]:
    shake = _Shake(seed, size[0])
    for scene in scenes:
        photo = _scaled_photo(scene.name, size)
        photo_size = (photo.shape[1], photo.shape[0])
        for index in range(scene.start, scene.stop):
            rng = np.random.default_rng([seed, index])
            t = index / fps
            u = (index - scene.start) / max(1, len(scene) - 1)  # through the scene
            # The move takes SCENE_SECONDS whatever the scene's length, so the camera moves
            # at the same speed in short clips (and holds still at the end of long scenes).
            move = min(1.0, (index - scene.start) / (SCENE_SECONDS * fps))
            camera = _path(scene.spec, move, photo_size, size)
            dim = dim_profile(u) if scene.dim else 1.0
            view = _view(camera, shake.at(t, rng), size)
            rgb = _expose(_render(photo, view, size), dim, rng)
            yield ClipFrame(index=index, t=t, rgb=rgb, scene=scene.name, dim=dim, view=view)
