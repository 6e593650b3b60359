"""Connection churn: phones that connect and vanish, over and over, to find what a server leaks.

    result = await run_churn(ChurnConfig("http://127.0.0.1:8080", cycles=300))
    print(format_churn(result))

Each cycle is one phone in one of three styles, round-robin:

    close       connects (answer applied, the server's `hello` and a first returned video frame
                read), then closes cleanly
    drop        connects, then vanishes without a word: its UDP sockets are shut under the peer
                connection, so the server sees only silence (a phone that lost its network);
                the server must notice by itself (idle timeout, ICE consent)
    offer_only  posts an offer, takes the answer and never applies it (a page closed during
                setup): the server's session never connects and must be reaped

At the end the server's open sessions (the `visionanything_sessions` gauge at /metrics) are
read until they are back to where they were (or `settle_s` runs out). With `in_process` (the
server runs in this very process, as in the tests) threads, open fds and RSS are sampled before
and after, so a leak shows as a number.

A refused offer (503 full, 429 too many offers) waits for Retry-After (at most 5 s) and tries
again; nothing here raises for a server that misbehaves: the result says what went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import logging
import math
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from stream.loadtest.peer import ClientFailure, describe_connection_error, ssl_mode

log = logging.getLogger(__name__)

STYLES = ("close", "drop", "offer_only")
MAX_CYCLES = 1000
MAX_CONCURRENCY = 16
MAX_RETRY_WAIT_S = 5.0
SESSIONS_GAUGE = "visionanything_sessions"
_TIME_BASE = fractions.Fraction(1, 90_000)


@dataclass(frozen=True)
class ChurnConfig:
    """`cycles` connect-and-vanish cycles against `url`, `concurrency` at a time, each bounded
    by `cycle_timeout_s`, the whole run by `max_duration_s`; then up to `settle_s` waiting for
    the server's sessions (and, `in_process`, this process's threads and fds) to go back."""

    url: str = "http://127.0.0.1:8080"
    cycles: int = 30
    concurrency: int = 2
    cycle_timeout_s: float = 15.0
    max_duration_s: float = 600.0
    settle_s: float = 30.0
    in_process: bool = False

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"the URL must look like http://HOST:PORT, got {self.url!r}")
        if not 1 <= self.cycles <= MAX_CYCLES:
            raise ValueError(f"churn cycles must lie in 1..{MAX_CYCLES}, got {self.cycles}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ValueError(f"concurrency must lie in 1..{MAX_CONCURRENCY}")
        for name in ("cycle_timeout_s", "max_duration_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0 < value <= 3600):
                raise ValueError(f"{name} must lie in (0, 3600], got {value}")
        if not (math.isfinite(self.settle_s) and 0 <= self.settle_s <= 600):
            raise ValueError(f"settle_s must lie in [0, 600], got {self.settle_s}")

    @property
    def base_url(self) -> str:
        return self.url.rstrip("/")


@dataclass(frozen=True)
class ProcessSample:
    """This process's threads, open file descriptors and resident memory (bytes)."""

    threads: int
    fds: int
    rss_bytes: int

    def as_dict(self) -> dict[str, int]:
        return {"threads": self.threads, "fds": self.fds, "rss_bytes": self.rss_bytes}


def process_sample() -> ProcessSample:
    """Threads, fds and RSS now (Linux /proc; elsewhere fds -1 and RSS the peak)."""
    try:
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:
        fds = -1
    rss = -1
    try:
        with open("/proc/self/statm") as statm:
            rss = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return ProcessSample(threading.active_count(), fds, rss)


@dataclass
class ChurnResult:
    url: str
    cycles_asked: int
    done: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STYLES, 0))
    failed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STYLES, 0))
    failures: list[str] = field(default_factory=list)  # the first few reasons
    refusals: int = 0  # 503 / 429 answers waited out
    sessions_before: int | None = None
    sessions_after: int | None = None
    settle_s: float = 0.0  # how long the sessions took to go back after the last cycle
    elapsed_s: float = 0.0
    before: ProcessSample | None = None
    after: ProcessSample | None = None
    failure: str | None = None  # the run as a whole

    @property
    def cycles_done(self) -> int:
        return sum(self.done.values())

    @property
    def leaked_sessions(self) -> int | None:
        if self.sessions_before is None or self.sessions_after is None:
            return None
        return self.sessions_after - self.sessions_before

    @property
    def ok(self) -> bool:
        return (
            self.failure is None
            and self.cycles_done == self.cycles_asked
            and self.leaked_sessions == 0
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "cycles_asked": self.cycles_asked,
            "cycles_done": self.cycles_done,
            "done": dict(self.done),
            "failed": dict(self.failed),
            "failures": list(self.failures),
            "refusals": self.refusals,
            "sessions_before": self.sessions_before,
            "sessions_after": self.sessions_after,
            "leaked_sessions": self.leaked_sessions,
            "settle_s": round(self.settle_s, 2),
            "elapsed_s": round(self.elapsed_s, 2),
            "process_before": self.before.as_dict() if self.before else None,
            "process_after": self.after.as_dict() if self.after else None,
            "failure": self.failure,
            "ok": self.ok,
        }


def format_churn(result: ChurnResult) -> str:
    lines = [
        f"churn against {result.url}: {result.cycles_done}/{result.cycles_asked} cycles in "
        f"{result.elapsed_s:.1f} s ({result.refusals} refusals waited out)",
        "  " + ", ".join(f"{s} {result.done[s]} ok / {result.failed[s]} failed" for s in STYLES),
        f"  server sessions: {result.sessions_before} before, {result.sessions_after} after "
        f"({result.settle_s:.1f} s to settle)",
    ]
    if result.before is not None and result.after is not None:
        b, a = result.before, result.after
        lines.append(
            f"  this process: threads {b.threads} -> {a.threads}, fds {b.fds} -> {a.fds}, "
            f"RSS {b.rss_bytes / 2**20:.1f} -> {a.rss_bytes / 2**20:.1f} MiB"
        )
    lines.extend(f"  failed: {reason}" for reason in result.failures)
    if result.failure is not None:
        lines.append(f"  run failed: {result.failure}")
    lines.append("  OK" if result.ok else "  NOT OK")
    return "\n".join(lines)


# -- the server's numbers ----------------------------------------------------------------------


async def open_sessions(http: aiohttp.ClientSession, url: str) -> int:
    """The server's open sessions from its Prometheus /metrics (ClientFailure if unreadable)."""
    try:
        async with http.get(
            f"{url}/metrics", ssl=ssl_mode(url), timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            text = await response.text(errors="replace")
            status = response.status
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        raise ClientFailure(describe_connection_error(url, exc)) from exc
    if status != 200:
        raise ClientFailure(f"{url}/metrics answered {status}")
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == SESSIONS_GAUGE:
            return round(float(value))
    raise ClientFailure(f"{url}/metrics has no {SESSIONS_GAUGE} gauge")


# -- one cycle ---------------------------------------------------------------------------------


class _GreyCamera(MediaStreamTrack):
    """A small grey picture at 15 fps: enough for the server to see a camera."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._image = np.full((120, 160, 3), 128, dtype=np.uint8)
        self._sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self._start + self._sent / 15 - time.monotonic()))
        frame = av.VideoFrame.from_ndarray(self._image, format="rgb24")
        frame.pts = self._sent * 6000
        frame.time_base = _TIME_BASE
        self._sent += 1
        return frame


class _Refused(Exception):
    def __init__(self, wait_s: float) -> None:
        super().__init__(f"refused; retry in {wait_s:g} s")
        self.wait_s = wait_s


def _drop_sockets(pc: RTCPeerConnection) -> None:
    """Shut the peer connection's UDP sockets under it: nothing more leaves this side, not even
    a DTLS close or an SCTP abort, as when a phone loses its network."""
    transports: list[Any] = [t.sender.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    seen: set[int] = set()
    for dtls in transports:
        ice = getattr(dtls, "transport", None)
        connection = getattr(ice, "_connection", None)
        if connection is None or id(connection) in seen:
            continue
        seen.add(id(connection))
        for protocol in list(getattr(connection, "_protocols", [])):
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.close()


async def _post_offer(
    http: aiohttp.ClientSession, url: str, pc: RTCPeerConnection
) -> RTCSessionDescription:
    await pc.setLocalDescription(await pc.createOffer())
    payload = {"sdp": pc.localDescription.sdp, "type": "offer"}
    async with http.post(f"{url}/api/offer", json=payload, ssl=ssl_mode(url)) as response:
        if response.status in (429, 503):
            try:
                wait = float(response.headers.get("Retry-After", "1"))
            except ValueError:
                wait = 1.0
            raise _Refused(min(MAX_RETRY_WAIT_S, max(0.1, wait)))
        text = await response.text(errors="replace")
        if response.status != 200:
            raise ClientFailure(f"offer answered {response.status}: {text[:200]}")
    body = json.loads(text)
    return RTCSessionDescription(body["sdp"], body["type"])


async def _cycle(http: aiohttp.ClientSession, url: str, style: str) -> None:
    """One phone of `style`; raises _Refused, ClientFailure or TimeoutError."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    camera = _GreyCamera()
    readers: list[asyncio.Task[None]] = []
    try:
        pc.addTrack(camera)
        channel = pc.createDataChannel("events")
        hello = asyncio.Event()

        @channel.on("message")
        def _on_message(raw: str | bytes) -> None:
            with contextlib.suppress(ValueError, TypeError):
                if json.loads(raw).get("type") == "hello":
                    hello.set()

        returned: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def first_frame(track: MediaStreamTrack) -> None:
            with contextlib.suppress(MediaStreamError):
                await track.recv()
                if not returned.done():
                    returned.set_result(None)

        @pc.on("track")
        def _on_track(track: MediaStreamTrack) -> None:
            readers.append(asyncio.get_running_loop().create_task(first_frame(track)))

        answer = await _post_offer(http, url, pc)
        if style == "offer_only":
            return  # never applied: the server's session never connects
        await pc.setRemoteDescription(answer)
        # streaming both ways: the server has the camera, the engine and the encoder going
        await asyncio.gather(hello.wait(), returned)
        if style == "drop":
            _drop_sockets(pc)
    finally:
        camera.stop()
        for reader in readers:
            reader.cancel()
        # after a drop this only frees our side: its sockets are shut, nothing reaches the server
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await pc.close()


# -- the run -----------------------------------------------------------------------------------


async def run_churn(config: ChurnConfig, *, progress: TextIO | None = sys.stderr) -> ChurnResult:
    url = config.base_url
    result = ChurnResult(url=url, cycles_asked=config.cycles)
    started = time.monotonic()
    deadline = started + config.max_duration_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        try:
            result.sessions_before = await open_sessions(http, url)
        except ClientFailure as exc:
            result.failure = str(exc)
            return result
        if config.in_process:
            result.before = process_sample()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(config.cycles):
            queue.put_nowait(n)

        async def worker() -> None:
            while time.monotonic() < deadline:
                try:
                    n = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                style = STYLES[n % len(STYLES)]
                while time.monotonic() < deadline:
                    try:
                        async with asyncio.timeout(config.cycle_timeout_s):
                            await _cycle(http, url, style)
                    except _Refused as refused:
                        result.refusals += 1
                        await asyncio.sleep(refused.wait_s)
                        continue
                    except (ClientFailure, TimeoutError, aiohttp.ClientError, OSError) as exc:
                        result.failed[style] += 1
                        if len(result.failures) < 10:
                            reason = str(exc) or type(exc).__name__
                            result.failures.append(f"cycle {n + 1} ({style}): {reason}")
                    else:
                        result.done[style] += 1
                    break
                finished = result.cycles_done + sum(result.failed.values())
                if progress is not None and finished % 10 == 0:
                    print(f"[churn] {finished}/{config.cycles} cycles", file=progress, flush=True)

        await asyncio.gather(*(worker() for _ in range(config.concurrency)))
        if result.cycles_done + sum(result.failed.values()) < config.cycles:
            result.failure = f"stopped after {config.max_duration_s:g} s (max duration)"
        last = time.monotonic()
        settle_until = last + config.settle_s
        after = result.sessions_before
        while True:
            try:
                after = await open_sessions(http, url)
            except ClientFailure as exc:
                result.failure = result.failure or str(exc)
                break
            if after <= result.sessions_before or time.monotonic() >= settle_until:
                break
            await asyncio.sleep(0.25)
        result.sessions_after = after
        result.settle_s = time.monotonic() - last
    if config.in_process:
        await asyncio.sleep(0)  # the HTTP session's connector is closed by now
        result.after = process_sample()
    result.elapsed_s = time.monotonic() - started
    return result
