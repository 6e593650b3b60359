"""Many phones at once: prepare the clip, check the server, connect N `Phone`s concurrently,
stream for a while with a progress line a second, close them and collect a `LoadTestResult`.

    clip = load_clip(Path("clip.mp4"))               # or load_clip(None): the built-in clip
    result = await run_loadtest(LoadTestConfig(url, clients=4, duration_s=20), clip)

A classroom run (`viewers`, with `room` or `teacher`): every phone joins the room, client 1
first so that it presents in a new room, then the `Viewer`s (projectors) connect and measure the
room's screen against the presenter's send times; all of them are ticked together each second.

Nothing here raises for a server that is down or full: the result says what went wrong
(`result.failure` for the whole run, `ClientResult.failure` per phone) and `result.ok` is False.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import aiohttp
import cv2
import numpy as np
import numpy.typing as npt

from stream.loadtest.client import Clip, MarkedCamera, Phone
from stream.loadtest.clip import iter_clip_frames
from stream.loadtest.clip_files import read_video_frames
from stream.loadtest.frame_code import I420, check_code_fits
from stream.loadtest.peer import ClientFailure, Peer, describe_connection_error, ssl_mode
from stream.loadtest.phone_results import SecondSample
from stream.loadtest.relay import fetch_relay_configuration
from stream.loadtest.report import ClipSummary, LoadTestResult
from stream.loadtest.room import RoomAccess, check_room_code, run_room
from stream.loadtest.viewer import Viewer

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8080"
MAX_CLIP_BYTES = 200 * 1024 * 1024  # ≈ 30 s of 640×480 at 15 fps, shared by all phones
GENERATED_SECONDS = 20.0  # the built-in clip: five scenes, a cut every 4 s
GENERATED_SIZE = (640, 480)
CUT_THRESHOLD = 0.12  # mean absolute luma change (0..1) between frames that makes a cut
MAX_CLIENTS = 64
MAX_VIEWERS = 64  # the server's default viewer cap; each is a VP8 decoder in this process
MAX_LOSS_PERCENT = 50.0
VIEWER_CONNECTS_AT_ONCE = 8  # ICE gathering and DTLS handshakes at once, so none times out


class ClipError(Exception):
    """The clip could not be prepared (a missing, unreadable or too small video)."""


@dataclass(frozen=True)
class LoadTestConfig:
    """A load test: `clients` phones against `url` for `duration_s` seconds of streaming
    (after they have connected), each sending `fps` frames a second (None: the clip's rate)."""

    url: str = DEFAULT_URL
    clients: int = 1
    duration_s: float = 20.0
    fps: float | None = None
    connect_timeout_s: float = 15.0
    wait_ready_s: float = 0.0  # wait this long for /readyz to say 200 before giving up
    tap: bool = False  # tap the middle of the picture on connecting and after every cut
    viewers: int = 0  # projectors watching the room
    room: str | None = None  # join this existing room
    teacher: str | None = None  # or log in as this teacher and create a room for the run
    teacher_password: str | None = field(default=None, repr=False)
    screen_key: str | None = field(default=None, repr=False)  # with `room`: the screens' key
    loss_percent: float = 0.0  # each phone's outgoing video packets dropped, as on bad Wi-Fi
    relay: bool = False  # through the server's TURN relay, relay-only (stream/loadtest/relay.py)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the URL must look like http://HOST:PORT, got {self.url!r}")
        if not 1 <= self.clients <= MAX_CLIENTS:
            raise ValueError(f"clients must lie in 1..{MAX_CLIENTS}, got {self.clients}")
        if not (math.isfinite(self.duration_s) and 0 < self.duration_s <= 3600):
            raise ValueError(f"duration must lie in (0, 3600] seconds, got {self.duration_s}")
        if self.fps is not None and not (math.isfinite(self.fps) and 1 <= self.fps <= 120):
            raise ValueError(f"fps must lie in 1..120, got {self.fps}")
        if not self.connect_timeout_s > 0 or self.wait_ready_s < 0:
            raise ValueError("the connect timeout must be positive and the ready wait >= 0")
        if not (math.isfinite(self.loss_percent) and 0 <= self.loss_percent <= MAX_LOSS_PERCENT):
            raise ValueError(
                f"loss must lie in 0..{MAX_LOSS_PERCENT:g} %, got {self.loss_percent:g}"
            )
        if not 0 <= self.viewers <= MAX_VIEWERS:
            raise ValueError(f"viewers must lie in 0..{MAX_VIEWERS}, got {self.viewers}")
        if self.room is not None and self.teacher is not None:
            raise ValueError("give either --room (an existing room) or --teacher, not both")
        if self.viewers and self.room is None and self.teacher is None:
            raise ValueError(
                "viewers watch a room: give --room CODE (an existing room) or --teacher NAME "
                "(log in and create one for the run)"
            )
        if self.room is not None:
            check_room_code(self.room)
        if self.teacher is not None and (not self.teacher.strip() or self.teacher_password is None):
            raise ValueError("a teacher login needs a name and a password")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


# -- the clip ------------------------------------------------------------------------------------


def _thumbnail(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (32, 24), interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.float32) / 255.0


def _is_cut(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> bool:
    return float(np.abs(a - b).mean()) > CUT_THRESHOLD


def _i420(rgb: npt.NDArray[np.uint8]) -> I420:
    height, width = rgb.shape[:2]
    even = rgb[: height - height % 2, : width - width % 2]
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(even), cv2.COLOR_RGB2YUV_I420))


def clip_from_frames(
    frames: list[npt.NDArray[np.uint8]],
    fps: float,
    source: str,
    scenes: list[str] | None = None,
) -> Clip:
    """A `Clip` from RGB frames (H, W, 3). `scenes` names each frame's scene (a change is a
    cut); without it cuts are found by frame difference, as the engine's scene test does."""
    if not frames:
        raise ValueError(f"{source} holds no frames")
    height, width = frames[0].shape[:2]
    size = (width - width % 2, height - height % 2)
    check_code_fits(size)
    if scenes is not None:
        shots, shot = [0], 0
        for name, next_name in itertools.pairwise(scenes):
            shot += name != next_name
            shots.append(shot)
        wrap_cut = scenes[-1] != scenes[0]
    else:
        thumbs = [_thumbnail(rgb) for rgb in frames]
        shots, shot = [0], 0
        for thumb, next_thumb in itertools.pairwise(thumbs):
            shot += _is_cut(thumb, next_thumb)
            shots.append(shot)
        wrap_cut = len(frames) > 1 and _is_cut(thumbs[-1], thumbs[0])
    return Clip(
        frames=[_i420(rgb) for rgb in frames],
        fps=fps,
        size=size,
        shots=shots,
        wrap_cut=wrap_cut,
        source=source,
    )


def load_clip(
    video: Path | None,
    fps: float | None = None,
    *,
    seconds: float = GENERATED_SECONDS,
    size: tuple[int, int] = GENERATED_SIZE,
) -> Clip:
    """The frames the phones send, decoded once into memory (at most MAX_CLIP_BYTES of them).

    video: a file PyAV reads; None makes the built-in clip (`iter_clip_frames`: real photos,
    camera motion, cuts) of `seconds` at `size` and `fps` (default 15). FileNotFoundError or
    ValueError for a file that is missing or holds no usable video.
    """

    if video is None:
        frame_rate = max(1, min(120, round(fps))) if fps is not None else 15
        made = list(iter_clip_frames(seconds, frame_rate, size))
        name = f"built-in clip ({seconds:g} s, {size[0]}x{size[1]}, {frame_rate} fps)"
        return clip_from_frames([f.rgb for f in made], frame_rate, name, [f.scene for f in made])
    opened: list[float | None] = []
    frames: list[npt.NDArray[np.uint8]] = []
    used = 0
    for rgb in read_video_frames(video, on_open=opened.append):
        frames.append(rgb)
        used += rgb.nbytes // 2  # kept as I420: half the bytes of RGB
        if used >= MAX_CLIP_BYTES:
            log.warning("%s is long: using its first %d frames only", video, len(frames))
            break
    rate = opened[0] if opened and opened[0] else 15.0
    return clip_from_frames(frames, rate, str(video))


# -- the run ---------------------------------------------------------------------------------


async def check_server(http: aiohttp.ClientSession, url: str, wait_ready_s: float = 0.0) -> None:
    """Fail fast (ClientFailure) when `url` cannot be reached; wait up to `wait_ready_s` for its
    `/readyz` to say 200. A server without /readyz (404) is taken as ready."""
    deadline = time.monotonic() + wait_ready_s
    while True:
        try:
            async with http.get(
                f"{url}/readyz", ssl=ssl_mode(url), timeout=aiohttp.ClientTimeout(total=10)
            ) as response:
                status = response.status
                text = (await response.text(errors="replace")).strip()[:200]
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ClientFailure(describe_connection_error(url, exc)) from exc
        if status != 503:
            return
        if time.monotonic() >= deadline:
            raise ClientFailure(f"server not ready (503 from {url}/readyz): {text}")
        await asyncio.sleep(1.0)


def _progress_line(
    elapsed: float,
    phones: list[Phone],
    samples: list[SecondSample],
    viewers: list[Viewer],
    viewer_samples: list[SecondSample],
) -> str:
    latencies = [s.latency_p50_ms for s in samples if s.latency_p50_ms is not None]
    latency = f"{float(np.median(latencies)):5.0f} ms" if latencies else "    - ms"
    line = (
        f"[{elapsed:5.1f} s] connected {sum(p.live for p in phones)}/{len(phones)}"
        f" | out {sum(s.fps_out for s in samples):5.1f} fps"
        f" | in {sum(s.fps_in for s in samples):5.1f} fps"
        f" | latency p50 {latency}"
        f" | objects {sum(s.objects_per_s for s in samples):4.1f}/s"
        f" | errors {sum(p.error_count for p in phones)}"
    )
    if not viewers:
        return line
    fps = [s.fps_in for s in viewer_samples]
    rates = f"{float(np.median(fps)):4.1f} (min {min(fps):4.1f}) fps" if fps else "- fps"
    viewer_latencies = [s.latency_p50_ms for s in viewer_samples if s.latency_p50_ms is not None]
    viewer_latency = f"{float(np.median(viewer_latencies)):.0f} ms" if viewer_latencies else "- ms"
    return (
        f"{line} | viewers {sum(v.live for v in viewers)}/{len(viewers)} in p50 {rates}"
        f", latency p50 {viewer_latency}, errors {sum(v.error_count for v in viewers)}"
    )


async def _stream(
    phones: list[Phone],
    viewers: list[Viewer],
    duration_s: float,
    progress: TextIO | None,
    clock: float,
) -> None:
    """Let the connected phones stream for `duration_s`, ticking each phone and viewer once a
    second; stops early when no phone streams any more (the viewers would see nothing)."""
    live = [p for p in phones if p.connected]
    watching = [v for v in viewers if v.connected]
    start = time.monotonic()
    next_tick = start + 1.0
    end = start + duration_s
    while live and any(p.live for p in live):
        now = time.monotonic()
        if now >= end:
            break
        await asyncio.sleep(max(0.0, min(next_tick, end) - now))
        now = time.monotonic()
        if now >= next_tick or now >= end:
            samples = [p.tick(now) for p in live]
            viewer_samples = [v.tick(now) for v in watching]
            next_tick += 1.0
            if progress is not None:
                line = _progress_line(now - clock, live, samples, watching, viewer_samples)
                print(line, file=progress, flush=True)


async def _connect_phones(
    phones: list[Phone], http: aiohttp.ClientSession, url: str, ssl: bool, timeout_s: float
) -> None:
    """Connect the phones at once; in a room client 1 first, so that it presents (the server
    makes the first phone to join a room without a presenter present)."""
    first, rest = (phones[:1], phones[1:]) if phones and phones[0].room else ([], phones)
    for phone in first:
        await phone.connect(http, url, ssl, timeout_s)
    await asyncio.gather(*(p.connect(http, url, ssl, timeout_s) for p in rest))


async def _connect_viewers(
    viewers: list[Viewer], http: aiohttp.ClientSession, url: str, ssl: bool, timeout_s: float
) -> None:
    """Connect the viewers, at most VIEWER_CONNECTS_AT_ONCE at a time: 64 ICE gatherings and
    DTLS handshakes at once on a small machine would time out rather than measure anything."""
    gate = asyncio.Semaphore(VIEWER_CONNECTS_AT_ONCE)

    async def connect(viewer: Viewer) -> None:
        async with gate:
            await viewer.connect(http, url, ssl, timeout_s)

    await asyncio.gather(*(connect(v) for v in viewers))


def _report_failures(peers: list[Peer], progress: TextIO | None) -> None:
    if progress is None:
        return
    for peer in peers:
        if peer.failure is not None:
            print(f"{peer.name} {peer.index}: {peer.failure}", file=progress, flush=True)


async def _prepare(clip: Clip | Callable[[], Clip], progress: TextIO | None) -> Clip:
    if isinstance(clip, Clip):
        return clip
    if progress is not None:
        print("preparing the clip ...", file=progress, flush=True)
    try:
        return await asyncio.to_thread(clip)
    except (ValueError, OSError) as exc:
        raise ClipError(str(exc)) from exc


async def run_loadtest(
    config: LoadTestConfig,
    clip: Clip | Callable[[], Clip],
    *,
    progress: TextIO | None = sys.stderr,
) -> LoadTestResult:
    """Run the load test with `clip`, or with what `clip()` returns: a loader is called (in a
    thread) only once the server has answered (and the room is known), so a server that is down
    or a wrong room code fails at once. A loader's errors (a bad video file) are raised as
    ClipError."""
    url = config.base_url
    result = LoadTestResult(
        url=url,
        clients_asked=config.clients,
        duration_s=config.duration_s,
        fps=config.fps,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        viewers_asked=config.viewers,
    )
    ssl = ssl_mode(url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as http:
        try:
            await check_server(http, url, config.wait_ready_s)
            async with run_room(
                http,
                url,
                ssl,
                room=config.room,
                teacher=config.teacher,
                password=config.teacher_password,
                screen_key=config.screen_key,
            ) as access:
                result.room = access.code if access is not None else None
                if progress is not None and access is not None:
                    print(f"room {access.code}", file=progress, flush=True)
                await _run(http, config, await _prepare(clip, progress), access, result, progress)
        except ClientFailure as exc:
            result.failure = str(exc)
    return result


async def _run(
    http: aiohttp.ClientSession,
    config: LoadTestConfig,
    clip: Clip,
    access: RoomAccess | None,
    result: LoadTestResult,
    progress: TextIO | None,
) -> None:
    url, ssl = config.base_url, ssl_mode(config.base_url)
    room = access.code if access is not None else None
    fps = config.fps or clip.fps
    result.fps = fps
    result.clip = ClipSummary(clip.source, len(clip), clip.fps, clip.size, clip.cuts)
    origin = time.monotonic()
    phones = [
        Phone(i + 1, clip, fps, origin, tap=config.tap, room=room, loss=config.loss_percent / 100)
        for i in range(config.clients)
    ]
    cameras: dict[str, MarkedCamera] = {}  # by session: how viewers find the presenter's
    viewers = []
    if access is not None:
        viewers = [
            Viewer(i + 1, access.code, cameras, origin, screen=access.screen)
            for i in range(config.viewers)
        ]
    if progress is not None:
        print(
            f"connecting {len(phones)} client(s) to {url} ({fps:g} fps, {clip.size[0]}x"
            f"{clip.size[1]}) ...",
            file=progress,
            flush=True,
        )
    timeout_s = config.connect_timeout_s
    if config.relay:
        relayed = await fetch_relay_configuration(http, url, ssl)
        for peer in [*phones, *viewers]:
            peer.rtc_config = relayed
    try:
        await _connect_phones(phones, http, url, ssl, timeout_s)
        result.routes = sorted({p.route for p in phones if p.route is not None})
        if progress is not None and result.routes:
            print(f"route (this side): {', '.join(result.routes)}", file=progress, flush=True)
        cameras.update({p.session: p.camera for p in phones if p.session is not None})
        _report_failures(list(phones), progress)
        if viewers:
            if progress is not None:
                print(f"connecting {len(viewers)} viewer(s) ...", file=progress, flush=True)
            await _connect_viewers(viewers, http, url, ssl, timeout_s)
            _report_failures(list(viewers), progress)
        await _stream(phones, viewers, config.duration_s, progress, origin)
    finally:
        await asyncio.gather(*(p.close() for p in [*viewers, *phones]), return_exceptions=True)
    result.elapsed_s = round(time.monotonic() - origin, 3)
    result.clients = [p.result() for p in phones]
    result.viewers = [v.result() for v in viewers]
