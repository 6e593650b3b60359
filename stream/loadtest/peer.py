"""What every simulated load-test peer shares, phone or projector: the HTTP signalling
(`post_offer` and the operator-facing reasons a server refuses or cannot be reached) and `Peer`,
the connect / watch-the-state / read-the-video / close life of one aiortc peer connection.

`stream.loadtest.client.Phone` (sends a camera, reads it back) and
`stream.loadtest.viewer.Viewer` (receives the room's screen only) subclass `Peer`, so the
connection stages, their timeouts and failure texts, disconnect detection and error bookkeeping
are written once and read the same in the report for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import av
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from stream.webrtc import loss_recovery
from stream.webrtc.connection_path import connection_path

Clock = Callable[[], float]
State = Literal["ok", "failed", "disconnected"]

MAX_ERRORS = 50  # error texts kept per peer (all are counted)

# -- HTTP ------------------------------------------------------------------------------------


class ClientFailure(Exception):
    """Something that stops a peer from connecting; the message is meant for the operator."""


def loopback_host(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def ssl_mode(url: str) -> bool:
    """aiohttp's `ssl` argument for `url`: False (no certificate check) for https on loopback,
    where the server's certificate is self-signed; True (verify) everywhere else."""
    return not (urlsplit(url).scheme == "https" and loopback_host(url))


def describe_connection_error(url: str, exc: BaseException) -> str:
    """A one-line reason why `url` could not be reached."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return (
            f"cannot reach {url}: its TLS certificate is not trusted "
            f"({exc.certificate_error}); use the loopback address or --http on the server"
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_error = exc.os_error
        if isinstance(os_error, ConnectionRefusedError) or "refused" in str(os_error).lower():
            return f"cannot reach {url}: connection refused"
        return f"cannot reach {url}: {os_error.strerror or os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return f"cannot reach {url}: {exc} (https server spoken to over http?)"
    if isinstance(exc, TimeoutError):
        return f"cannot reach {url}: no answer in time"
    return f"cannot reach {url}: {exc}"


async def error_text(response: aiohttp.ClientResponse) -> str:
    """The server's reason in a refusal: its JSON `error`, else the (short) body."""
    text = (await response.text(errors="replace"))[:500]
    try:
        payload = json.loads(text)
    except ValueError:
        return text.strip() or response.reason or "no reason given"
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return str(payload["error"])
    return text.strip()


async def refusal(response: aiohttp.ClientResponse, what: str = "offer") -> ClientFailure:
    """The failure for a non-2xx answer: 503 is "server busy" with its Retry-After; 429 says how
    to lift the per-address offer limit, which a load test from one address soon reaches."""
    reason = await error_text(response)
    retry = response.headers.get("Retry-After", "?")
    if response.status == 503:
        return ClientFailure(f"server busy (503, Retry-After {retry}): {reason}")
    if response.status == 429:
        return ClientFailure(
            f"rate limited (429, Retry-After {retry}): {reason} (every simulated peer comes "
            "from this one address: serve with --offers-per-minute 0 --sessions-per-address 0 "
            "--screens-per-address 0 for a load test)"
        )
    return ClientFailure(f"{what} refused (HTTP {response.status}): {reason}")


async def post_offer(
    http: aiohttp.ClientSession, url: str, offer: Mapping[str, str], ssl: bool
) -> dict[str, Any]:
    """POST the offer to `url`/api/offer; the answer, or ClientFailure with a clear reason."""
    try:
        async with http.post(f"{url}/api/offer", json=dict(offer), ssl=ssl) as response:
            if response.status != 200:
                raise await refusal(response)
            answer = await response.json(content_type=None)
    except aiohttp.ClientResponseError as exc:
        raise ClientFailure(f"bad answer from {url}: {exc.message}") from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise ClientFailure(describe_connection_error(url, exc)) from exc
    except ValueError as exc:
        raise ClientFailure(f"the answer from {url} is not JSON: {exc}") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("sdp"), str):
        raise ClientFailure(f"the answer from {url} has no SDP")
    return answer


# -- the peer --------------------------------------------------------------------------------


class Peer:
    """One load-test peer connection. Subclasses add their media in `_prepare`, read returned
    frames in `_frame_back` and data-channel messages in `_on_json`; `connect` and `close` never
    raise, whatever goes wrong ends up in `failure` or the errors.

    `offer_fields` go into the offer next to the SDP (`room`, `role`), as the page sends them.
    """

    name = "peer"  # for task names and messages

    def __init__(
        self,
        index: int,
        origin: float,
        clock: Clock = time.monotonic,
        offer_fields: Mapping[str, str] | None = None,
    ) -> None:
        self.index = index
        self.origin = origin
        self.offer_fields = dict(offer_fields or {})
        self._clock = clock
        self.pc: RTCPeerConnection | None = None
        self.rtc_config: RTCConfiguration | None = None  # None: host candidates only
        self.route: str | None = None  # once connected: e.g. "relay udp" (connection_path)
        self.channel: RTCDataChannel | None = None
        self.session: str | None = None
        self.failure: str | None = None
        self.closing = False
        self.started_at: float | None = None
        self.offer_at: float | None = None
        self.connected_at: float | None = None
        self.first_frame_at: float | None = None
        self.disconnected_at: float | None = None
        self.received = 0
        self.errors: list[str] = []
        self.error_count = 0
        self.room_state: dict[str, Any] | None = None  # the last `room` message
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    # -- for subclasses ------------------------------------------------------------------------

    def _prepare(self, pc: RTCPeerConnection) -> None:
        """Add this peer's media to `pc` before the offer is made."""

    def _on_open(self) -> None:
        """The data channel opened."""

    def _on_json(self, kind: object, message: dict[str, Any], now: float) -> None:
        """A data-channel message (a JSON object) other than `error` and `room`."""

    def _frame_back(self, frame: av.VideoFrame, now: float) -> None:
        """A received video frame (already counted in `received`)."""

    # -- connecting ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.connected_at is not None and self.failure is None

    @property
    def live(self) -> bool:
        """Connected and not (yet) disconnected."""
        return self.connected and self.disconnected_at is None

    async def connect(
        self, http: aiohttp.ClientSession, url: str, ssl: bool, timeout_s: float
    ) -> bool:
        """Offer (after ICE gathering), apply the answer and wait for "connected". Returns
        whether it worked; otherwise `failure` says why and the peer connection is closed."""
        self.started_at = self._clock()
        stage = "gathering ICE candidates"
        loss_recovery.install()  # the returned video, like the server's, survives a lost packet
        pc = self.pc = RTCPeerConnection(self.rtc_config or RTCConfiguration(iceServers=[]))
        self._prepare(pc)
        channel = self.channel = pc.createDataChannel("events")
        channel.on("message", self._on_message)
        channel.on("open", self._on_open)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        try:
            async with asyncio.timeout(timeout_s):
                await pc.setLocalDescription(await pc.createOffer())  # gathers ICE first
                description = pc.localDescription
                stage = f"waiting for the answer from {url}"
                offer = {**self.offer_fields, "sdp": description.sdp, "type": description.type}
                answer = await post_offer(http, url, offer, ssl)
                self.offer_at = self._clock()
                self.session = str(answer.get("session")) if answer.get("session") else None
                stage = "connecting (ICE/DTLS)"
                await pc.setRemoteDescription(
                    RTCSessionDescription(answer["sdp"], str(answer.get("type", "answer")))
                )
                while pc.connectionState not in ("connected", "failed", "closed"):
                    self._changed.clear()
                    await self._changed.wait()
                if pc.connectionState != "connected":
                    raise ClientFailure(f"the WebRTC connection {pc.connectionState} (ICE/DTLS)")
                route = connection_path(pc)
                self.route = f"{route.path} {route.transport}"
        except ClientFailure as exc:
            self.failure = str(exc)
        except TimeoutError:
            self.failure = f"timed out after {timeout_s:g} s while {stage}"
        except Exception as exc:  # aiortc raises many kinds on a bad answer
            self.failure = f"connection setup failed while {stage}: {exc!r}"[:500]
        if self.failure is not None:
            await self.close()
            return False
        return True

    def _on_state(self) -> None:
        pc = self.pc
        if pc is None:
            return
        state = pc.connectionState
        if state == "connected" and self.connected_at is None:
            self.connected_at = self._clock()
        elif state in ("failed", "closed") and self.connected_at is not None:
            self._disconnect(f"the WebRTC connection {state}")
        self._changed.set()

    def _disconnect(self, reason: str) -> None:
        if self.closing or self.disconnected_at is not None:
            return
        self.disconnected_at = self._clock()
        self._error(f"disconnected at {self.disconnected_at - self.origin:.1f} s: {reason}")

    def _error(self, text: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(text[:300])

    # -- what comes back ---------------------------------------------------------------------

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(
                self._read(track), name=f"{self.name}-{self.index}-video"
            )

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                self._disconnect("the returned video ended")
                return
            if isinstance(frame, av.VideoFrame):
                now = self._clock()
                self.received += 1
                if self.first_frame_at is None:
                    self.first_frame_at = now
                self._frame_back(frame, now)

    def _on_message(self, raw: str | bytes) -> None:
        now = self._clock()
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._error("a data-channel message that is not JSON")
            return
        if not isinstance(message, dict):
            self._error("a data-channel message that is not a JSON object")
            return
        kind = message.get("type")
        if kind == "error":
            self._error(f"server error {message.get('code', '?')}: {message.get('message', '')!s}")
        elif kind == "room":
            self.room_state = message
        self._on_json(kind, message, now)

    # -- the end -------------------------------------------------------------------------------

    async def close(self, timeout_s: float = 10.0) -> None:
        """Stop reading and close the peer connection (not counted as a disconnect)."""
        self.closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self.pc is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout_s):
                    await self.pc.close()

    def state(self) -> State:
        """ok, failed (never connected) or disconnected (dropped during the run)."""
        if self.failure is not None:
            return "failed"
        return "disconnected" if self.disconnected_at is not None else "ok"

    def since_start(self, at: float | None) -> float | None:
        """Seconds from the moment this peer began to connect to `at` (None stays None)."""
        started = self.started_at if self.started_at is not None else self.origin
        return None if at is None else round(at - started, 3)
