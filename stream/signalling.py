"""`POST /api/offer`: a phone's SDP offer in, our SDP answer out.

Request  {"sdp": "...", "type": "offer", "room"?: "CODE", "role"?: "phone" | "viewer",
          "screen"?: "TOKEN", "name"?: "Mia's phone", "resume"?: "TOKEN"}  (≤ 64 KiB)
Answer   {"sdp": "...", "type": "answer", "session": "s1"}
A phone (the default role) sends its camera and gets it back annotated; with a room code it
joins that room as "waiting" (`name`: what the teacher's page calls it; default "Phone N").
`resume`: the token from an earlier session's `hello`, when the page reconnects after its
connection broke: the new session takes the old one's place in its room (`stream.webrtc.resume`).
A viewer (a class screen) needs a room code and one of the room's screen tokens (`screen`,
minted by the room's teacher: the code alone never yields video), receives the room's screen
and gets no engine session; it is not counted against the phones' session cap.
The page sends its offer after ICE gathering has completed (no trickle ICE), so one round trip
sets everything up.

Refusals are JSON {"error": "..."} (at most 300 characters): 400 malformed body or an SDP
aiortc rejects, 403 an Origin header naming another site, 413 body too large, 415 a body that
is not application/json, 404 an unknown or ended room code (alike), 403 a viewer without a
valid screen token, a phone the teacher removed from the room, a locked room; 429 too many
offers or room lookups from one address (`stream.classroom.rooms.LookupGuard`), too many open
sessions from it (phones and viewers have caps of their own), 503 +
Retry-After while the models load or when every session slot is taken. A refused offer leaves
nothing behind.

Client addresses stay out of the info-level log: sessions know their client by a pseudonym
(`client-` and 8 hex digits, stable for the process's life), the address itself is logged at
debug level only.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription

from stream.classroom.live_room import RoomRefused, clean_name
from stream.classroom.room_store import RoomGoneError, RoomState, normalise_code, token_matches
from stream.classroom.rooms import RoomHub
from stream.classroom.viewers import ViewerRegistry
from stream.edge.client_address import peer_address
from stream.edge.health import Readiness, StreamMetrics
from stream.edge.limits import ServerLimits
from stream.edge.rate_limits import RateLimiter
from stream.edge.security import bounded, redact, same_host
from stream.webrtc.channel import detach
from stream.webrtc.engine_seam import EngineLike
from stream.webrtc.ice import IceSettings, rtc_configuration
from stream.webrtc.registry import CapacityError, SessionRegistry
from stream.webrtc.resume import ResumeTokens
from stream.webrtc.sessions import Session
from stream.webrtc.video_codecs import prepare as prepare_video

log = logging.getLogger(__name__)

MAX_SDP_CHARS = 60_000
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_RESUME = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_PHONE_NAME_CHARS = 100  # before cleaning (`stream.classroom.rooms.clean_name` keeps 24)


class OfferError(Exception):
    """An offer we refuse: HTTP status, a message for the client, a metric label."""

    def __init__(
        self, status: int, message: str, reason: str, retry_after_s: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s

    def response(self) -> web.Response:
        headers = {"Retry-After": str(self.retry_after_s)} if self.retry_after_s else None
        # "reason" lets a page tell "getting ready" (starting) from "busy" (capacity)
        body = {"error": bounded(str(self)), "reason": self.reason}
        return web.json_response(body, status=self.status, headers=headers)


@dataclass(frozen=True)
class Offer:
    sdp: str
    room: str | None
    role: str | None
    screen: str | None = None
    name: str | None = None
    resume: str | None = None


def parse_offer(body: bytes) -> Offer:
    """Validate the JSON body of an offer; raise OfferError (400) with a clear message."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, nesting
        raise OfferError(
            400, f"the body is not valid JSON: {str(exc)[:200]}", "bad_request"
        ) from exc
    if not isinstance(payload, dict):
        raise OfferError(400, "the body must be a JSON object {sdp, type}", "bad_request")
    if payload.get("type") != "offer":
        raise OfferError(
            400, f"'type' must be \"offer\", got {str(payload.get('type'))[:20]!r}", "bad_request"
        )
    sdp = payload.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise OfferError(400, "'sdp' must be a non-empty string", "bad_request")
    if len(sdp) > MAX_SDP_CHARS:
        raise OfferError(400, f"'sdp' is longer than {MAX_SDP_CHARS} characters", "bad_request")
    names: dict[str, str | None] = {}
    for key in ("room", "role", "screen"):
        value = payload.get(key)
        if value is not None and (not isinstance(value, str) or not _NAME.match(value)):
            raise OfferError(
                400, f"'{key}' must be 1-64 letters, digits, '-' or '_'", "bad_request"
            )
        names[key] = value
    if names["role"] not in (None, "phone", "viewer"):
        raise OfferError(400, '\'role\' must be "phone" or "viewer"', "bad_request")
    room = names["room"]
    if room is not None:
        code = normalise_code(room)
        if code is None:
            raise OfferError(404, f"no room with code {room!r}: check the code", "unknown_room")
        room = code
    if names["role"] == "viewer" and room is None:
        raise OfferError(400, "a viewer needs a 'room' code", "bad_request")
    name = payload.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_PHONE_NAME_CHARS):
        raise OfferError(400, "'name' must be a short text", "bad_request")
    resume = payload.get("resume")
    if resume is not None and (not isinstance(resume, str) or not _RESUME.match(resume)):
        raise OfferError(400, "'resume' must be the token from 'hello'", "bad_request")
    return Offer(sdp, room, names["role"], names["screen"], clean_name(name), resume)


class AddressCounter:
    """Open connections per client address, each forgotten when its connection closes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # 0: no limit
        self._open: dict[str, set[str]] = {}

    def full(self, address: str) -> bool:
        return self.limit > 0 and len(self._open.get(address, ())) >= self.limit

    def add(self, address: str, key: str) -> None:
        self._open.setdefault(address, set()).add(key)

    def remove(self, address: str, key: str) -> None:
        keys = self._open.get(address)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._open[address]

    def count(self, address: str) -> int:
        return len(self._open.get(address, ()))


class OfferEndpoint:
    """The `/api/offer` handler and what it needs."""

    def __init__(
        self,
        registry: SessionRegistry,
        engine: Callable[[], EngineLike | None],
        readiness: Callable[[], Readiness],
        metrics: StreamMetrics,
        *,
        limits: ServerLimits | None = None,
        rooms: RoomHub | None = None,
        viewers: ViewerRegistry | None = None,
        ice: IceSettings | None = None,
        resume: ResumeTokens | None = None,
    ) -> None:
        self.registry = registry
        self.resume = resume or ResumeTokens()
        self.ice = ice or IceSettings()  # STUN/TURN for our side of every peer connection
        self.rooms = rooms
        self.viewers = viewers
        self.engine = engine
        self.readiness = readiness
        self.metrics = metrics
        limits = limits or ServerLimits()  # body size, per-address counts, timings
        self.max_body_bytes = limits.max_offer_bytes
        self.negotiation_timeout_s = limits.negotiation_timeout_s
        self.retry_after_s = limits.retry_after_s
        self.limiter = RateLimiter(limits.offers_per_minute, 60.0)
        self.phones_by_address = AddressCounter(limits.sessions_per_address)
        self.viewers_by_address = AddressCounter(limits.viewers_per_address)
        self._pseudonym_key = secrets.token_bytes(16)

    def pseudonym(self, address: str) -> str:
        """A name for a client address that the logs and the admin page may show."""
        digest = hmac.new(self._pseudonym_key, address.encode(), hashlib.sha256).hexdigest()
        return f"client-{digest[:8]}"

    async def handle(self, request: web.Request) -> web.Response:
        peer = peer_address(request)
        try:
            offer = await self._read(request, peer)
            resumes = self._resumes(offer)  # the earlier session this phone takes over, if any
            if offer.room is not None:
                state = await self._room_exists(offer.room, peer)
                if offer.role == "viewer":
                    if not offer.screen or token_matches(offer.screen, state.screens) is None:
                        raise OfferError(
                            403,
                            "a class screen opens from the teacher's page (its link carries "
                            "a key); the room code alone shows nothing",
                            "screen_token",
                        )
                    return await self._watch(offer, offer.room, peer)
                assert self.rooms is not None  # _room_exists found the room in it
                resuming = resumes is not None and self.rooms.can_resume(state.code, resumes)
                refused = self.rooms.refusal(state, self.pseudonym(peer), resuming=resuming)
                if refused is not None:
                    raise OfferError(403, str(refused), refused.reason)
            engine = self._engine()
            if self.registry.full:
                raise OfferError(
                    503,
                    f"the server is full: {self.registry.max_sessions} sessions are in use",
                    "full",
                    self.retry_after_s,
                )
            return await self._negotiate(offer, engine, peer, resumes)
        except OfferError as exc:
            self.metrics.offers_rejected.labels(reason=exc.reason).inc()
            log.info(
                "offer from %s refused (%d): %s",
                self.pseudonym(peer),
                exc.status,
                bounded(str(exc)),
            )
            log.debug("offer refused: %s is %s", self.pseudonym(peer), peer)
            return exc.response()

    async def _read(self, request: web.Request, peer: str) -> Offer:
        origin = request.headers.get("Origin")
        if origin is not None and not same_host(origin, request.headers.get("Host")):
            raise OfferError(403, "cross-site offer refused", "cross_site")
        if request.content_type != "application/json":
            raise OfferError(415, "send the offer as application/json", "media_type")
        if not self.limiter.allow(peer):
            raise OfferError(429, "too many offers; try again in a minute", "rate_limited", 60)
        if request.content_length is not None and request.content_length > self.max_body_bytes:
            raise OfferError(413, f"the body exceeds {self.max_body_bytes} bytes", "too_large")
        try:
            body = await request.read()  # aiohttp stops reading at client_max_size
        except web.HTTPRequestEntityTooLarge as exc:
            raise OfferError(
                413, f"the body exceeds {self.max_body_bytes} bytes", "too_large"
            ) from exc
        if len(body) > self.max_body_bytes:
            raise OfferError(413, f"the body exceeds {self.max_body_bytes} bytes", "too_large")
        return parse_offer(body)

    async def _room_exists(self, code: str, peer: str) -> RoomState:
        """The room, within the room-lookup limits (429), else 404 (missing and ended alike)."""
        if self.rooms is None:
            raise OfferError(404, f"no room with code {code}: check the code", "unknown_room")
        wait = self.rooms.lookups.check(peer)
        if wait is not None:
            raise OfferError(
                429, "too many room codes tried; wait and try again", "rate_limited", wait
            )
        state = await self.rooms.store.get(code)
        if state is None or state.ended:
            self.rooms.lookups.miss(peer)
            raise OfferError(404, f"no room with code {code}: check the code", "unknown_room")
        return state

    async def _watch(self, offer: Offer, code: str, peer: str) -> web.Response:
        """A viewer: the room's screen out, nothing in that counts."""
        rooms, viewers = self.rooms, self.viewers
        if rooms is None or viewers is None:  # pragma: no cover - the app wires both
            raise OfferError(404, "this server has no rooms", "unknown_room")
        if viewers.full:
            raise OfferError(
                503, f"the server is full: {viewers.max_viewers} viewers are watching", "full",
                self.retry_after_s,
            )  # fmt: skip
        counter = self.viewers_by_address
        if counter.full(peer):
            raise OfferError(
                429,
                f"too many screens from this address: {counter.limit} are open",
                "address_limit",
                self.retry_after_s,
            )
        pc = RTCPeerConnection(rtc_configuration(self.ice))
        viewer = viewers.open(pc, code)
        counter.add(peer, viewer.id)
        viewer.when_closed(lambda v: counter.remove(peer, v.id))
        answered = False
        try:
            async with asyncio.timeout(self.negotiation_timeout_s):
                try:
                    await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
                except Exception as exc:
                    raise OfferError(
                        400, f"the offer's SDP was rejected: {_describe(exc)}", "bad_request"
                    ) from exc
                if not any(t.kind == "video" for t in pc.getTransceivers()):
                    raise OfferError(
                        400, "the offer's SDP was rejected: it receives no video", "bad_request"
                    )
                try:
                    screen = await rooms.join_viewer(code, viewer, offer.screen)
                except RoomGoneError as exc:
                    raise OfferError(404, f"no room with code {code}", "unknown_room") from exc
                except RoomRefused as exc:
                    raise OfferError(403, str(exc), exc.reason) from exc
                viewer.when_closed(lambda v: detach(rooms.leave(code, v.id), f"leave-{v.id}"))
                pc.addTrack(screen)
                await pc.setLocalDescription(await pc.createAnswer())
            description = pc.localDescription
            answered = True
            return web.json_response(
                {"sdp": description.sdp, "type": description.type, "session": viewer.id}
            )
        except TimeoutError as exc:
            raise OfferError(504, "negotiation timed out", "negotiation") from exc
        finally:
            if not answered:
                viewer.schedule_close("negotiation_failed")

    def _engine(self) -> EngineLike:
        state = self.readiness()
        engine = self.engine()
        if not state.ready or engine is None:
            raise OfferError(
                503,
                redact(state.reason or "starting: loading models"),
                "starting",
                self.retry_after_s,
            )
        return engine

    async def _negotiate(
        self, offer: Offer, engine: EngineLike, peer: str, resumes: str | None
    ) -> web.Response:
        # the configured STUN/TURN (`stream.webrtc.ice`; none: host candidates only, never aiortc's
        # default public STUN server, one more thing that could stall the answer)
        counter = self.phones_by_address
        if counter.full(peer):
            raise OfferError(
                429,
                f"too many phones from this address: {counter.limit} sessions are open; "
                "close one and try again",
                "address_limit",
                self.retry_after_s,
            )
        pc = RTCPeerConnection(rtc_configuration(self.ice))
        prepare_video(pc, self.registry.settings.video)  # H.264/VP8 choice, before the offer
        try:
            session = self.registry.open(
                pc, engine, room=offer.room, role=offer.role, peer=self.pseudonym(peer)
            )
        except CapacityError as exc:
            await pc.close()
            raise OfferError(503, f"the server is full: {exc}", "full", self.retry_after_s) from exc
        counter.add(peer, session.id)
        session.when_closed(lambda s: counter.remove(peer, s.id))
        log.debug("session %s: %s is %s", session.id, session.peer, peer)
        answered = False
        try:
            answer = await self._answer(session, offer)
            if resumes is not None and not self._same_place(offer, resumes):
                resumes = None  # a token from elsewhere: this is a new phone
            if offer.room is not None and self.rooms is not None:
                try:
                    await self.rooms.join_phone(offer.room, session, offer.name, resumes)
                except RoomGoneError as exc:  # the room ended while we negotiated
                    raise OfferError(
                        404, f"no room with code {offer.room}", "unknown_room"
                    ) from exc
                except RoomRefused as exc:  # removed or locked while we negotiated
                    raise OfferError(403, str(exc), exc.reason) from exc
                rooms, code = self.rooms, offer.room
                session.when_closed(lambda s: detach(rooms.leave(code, s.id), f"leave-{s.id}"))
            answered = True
            if resumes is not None:
                self._replace(offer, resumes, session)
            session.resume_token = self.resume.issue(session.id)
            session.when_closed(lambda s: self.resume.closed(s.id))
            return web.json_response(
                {"sdp": answer.sdp, "type": answer.type, "session": session.id}
            )
        finally:
            if not answered:  # also when the request was cancelled mid-way
                session.schedule_close("negotiation_failed")

    def _resumes(self, offer: Offer) -> str | None:
        """The earlier session a phone's offer resumes (a valid, unused resume token)."""
        if offer.resume is None or offer.role == "viewer":
            return None
        return self.resume.find(offer.resume)

    def _same_place(self, offer: Offer, previous: str) -> bool:
        """Whether the earlier session was where this offer goes (that room, or no room)."""
        if offer.room is None:
            old = self.registry.get(previous)
            return old is None or old.room is None
        return self.rooms is not None and self.rooms.can_resume(offer.room, previous)

    def _replace(self, offer: Offer, previous: str, session: Session) -> None:
        """The resumed session is live: use the token up, close the session it replaces."""
        assert offer.resume is not None
        self.resume.consume(offer.resume)
        old = self.registry.get(previous)
        if old is not None and not old.closed:
            old.schedule_close("replaced")
        log.info("session %s resumes %s", session.id, previous)

    async def _answer(self, session: Session, offer: Offer) -> RTCSessionDescription:
        pc = session.pc
        try:
            async with asyncio.timeout(self.negotiation_timeout_s):
                try:
                    await pc.setRemoteDescription(RTCSessionDescription(offer.sdp, "offer"))
                except Exception as exc:  # aiortc raises many kinds on malformed SDP
                    raise OfferError(
                        400, f"the offer's SDP was rejected: {_describe(exc)}", "bad_request"
                    ) from exc
                if not session.has_camera:  # aiortc happily parses text with no media at all
                    raise OfferError(
                        400,
                        "the offer's SDP was rejected: it has no camera video "
                        "(an m=video section the phone sends on)",
                        "bad_request",
                    )
                try:
                    await pc.setLocalDescription(await pc.createAnswer())
                except Exception as exc:  # aiortc accepted the offer but cannot answer it
                    log.warning("session %s: creating the answer failed: %r", session.id, exc)
                    raise OfferError(
                        400, f"could not answer the offer: {_describe(exc)}", "bad_request"
                    ) from exc
        except TimeoutError as exc:
            raise OfferError(
                504, "negotiation timed out", "negotiation", self.retry_after_s
            ) from exc
        description = pc.localDescription
        if description is None:  # pragma: no cover - aiortc always sets it
            raise OfferError(500, "no local description", "negotiation")
        return description


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:300]
