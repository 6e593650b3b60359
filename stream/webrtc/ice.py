"""STUN/TURN servers, configured once (`serve --ice-server ...`) and used by both ends.

Without them every peer connection has host candidates only, which works when the phone and the
server share a network that lets UDP through; a school network (client isolation, UDP blocked,
a guest network) or a phone on mobile data needs a TURN relay, and where UDP is blocked TURN over
TCP/TLS (port 443) is the only way through: aiortc gathers no ICE-TCP candidates.

`IceSettings` holds the URLs and either static credentials or a TURN REST shared secret (what
coturn's `use-auth-secret` checks: username `"<expiry unix time>:<name>"`, password
`base64(HMAC-SHA1(secret, username))`), so credentials handed to pages expire on their own.
`browser_configuration()` is what the pages get from `GET /api/ice` (fresh credentials on every
request); `rtc_configuration()` is the server's own `RTCConfiguration` for each peer connection.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

log = logging.getLogger(__name__)

ICE_PATH = "/api/ice"
DEFAULT_TTL_S = 3600
"""TURN REST credentials live an hour: longer than any lesson's reconnects need between two
fetches (each page attempt fetches again), short enough that a leaked one soon stops working."""

_URL = re.compile(
    r"^(?P<scheme>stun|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>\d{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?$"
)


@dataclass(frozen=True)
class IceUrl:
    """One parsed `stun:`/`turn:`/`turns:` URL (the transport as aiortc defaults it)."""

    text: str
    scheme: str
    transport: str  # "udp" or "tcp" ("udp" for stun:)

    @property
    def is_turn(self) -> bool:
        return self.scheme in ("turn", "turns")


def parse_url(text: str) -> IceUrl:
    """`text` parsed; ValueError saying what is wrong (an unknown scheme, a transport on a
    `stun:` URL, `turns:` over UDP, which neither aiortc nor browsers relay)."""
    scheme = text.split(":", 1)[0] if ":" in text else ""
    if scheme not in ("stun", "turn", "turns"):
        raise ValueError(
            f"ICE server {text!r}: unknown scheme {scheme or '(none)'!r}; "
            "use stun:, turn: or turns: (e.g. turn:turn.example.org:3478?transport=udp)"
        )
    match = _URL.fullmatch(text)
    if match is None:
        raise ValueError(
            f"ICE server {text!r} is malformed: expected {scheme}:HOST[:PORT]"
            + ("" if scheme == "stun" else "[?transport=udp|tcp]")
        )
    port, transport = match["port"], match["transport"]
    if port is not None and not 1 <= int(port) <= 65535:
        raise ValueError(f"ICE server {text!r}: port {port} must lie in 1..65535")
    if scheme == "stun" and transport is not None:
        raise ValueError(f"ICE server {text!r}: stun: URLs take no ?transport=")
    if scheme == "turns" and transport == "udp":
        raise ValueError(f"ICE server {text!r}: turns: runs over TCP (TLS); use ?transport=tcp")
    default = "tcp" if scheme == "turns" else "udp"
    return IceUrl(text, scheme, transport or default)


@dataclass(frozen=True)
class IceSettings:
    """The ICE servers of this deployment. Empty (the default): host candidates only, as on a
    home or school LAN that lets UDP through.

    urls        `stun:`, `turn:`, `turns:` URLs, in the operator's order (pages try them all)
    username, password  static TURN credentials, or
    secret      a TURN REST shared secret (coturn `use-auth-secret`): credentials minted per
                request, valid `ttl_s` seconds
    relay_only  both ends use relayed candidates only (testing; networks that need it)
    """

    urls: tuple[str, ...] = ()
    username: str | None = None
    password: str | None = None
    secret: str | None = None
    relay_only: bool = False
    ttl_s: int = DEFAULT_TTL_S

    def __post_init__(self) -> None:
        parsed = [parse_url(u) for u in self.urls]  # raises for a bad one
        has_turn = any(u.is_turn for u in parsed)
        static = self.username is not None or self.password is not None
        if self.secret is not None and static:
            raise ValueError(
                "give either static TURN credentials (username and password) or a TURN REST "
                "shared secret, not both"
            )
        if static and (not self.username or not self.password):
            raise ValueError("static TURN credentials need both a username and a password")
        if self.secret is not None and not self.secret:
            raise ValueError("the TURN shared secret is empty")
        if has_turn and not static and self.secret is None:
            raise ValueError(
                "turn: servers need credentials: a username and password, or a shared secret"
            )
        if (static or self.secret is not None) and not has_turn:
            raise ValueError("TURN credentials were given but no turn: or turns: server")
        if self.relay_only and not has_turn:
            raise ValueError("relay-only needs a turn: or turns: server to relay through")
        if not 60 <= self.ttl_s <= 7 * 86400:
            raise ValueError(f"TURN credential lifetime {self.ttl_s} s must lie in 60..604800")

    @property
    def parsed(self) -> list[IceUrl]:
        return [parse_url(u) for u in self.urls]

    def credentials(self, now: float, name: str | None = None) -> tuple[str, str] | None:
        """TURN (username, password) for one page or peer connection: the static pair, or a
        TURN REST pair expiring `ttl_s` after `now`; None without TURN."""
        if self.secret is not None:
            return rest_credentials(self.secret, int(now) + self.ttl_s, name)
        if self.username is not None and self.password is not None:
            return self.username, self.password
        return None


def rest_credentials(secret: str, expiry: int, name: str | None = None) -> tuple[str, str]:
    """The TURN REST pair coturn's `use-auth-secret` accepts until `expiry` (unix time).

    `name` is a random pseudonym by default: the TURN server's logs must not learn who a
    child is, only that someone allowed by this server relayed."""
    username = f"{expiry}:{name or secrets.token_hex(6)}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode("ascii")


def browser_configuration(
    settings: IceSettings, now: float | None = None, video_codec: str = "auto"
) -> dict[str, Any]:
    """What `RTCPeerConnection(...)` in a page takes: every URL (browsers try them all, which
    is how a phone behind a UDP-blocking firewall finds `turns:` on 443), fresh credentials;
    plus `videoCodec`, the server's `--video-codec` ("auto", "h264", "vp8"), which the phone
    page puts first in its offer (`stream.webrtc.video_codecs`, web/js/codecs.js)."""
    now = time.time() if now is None else now
    parsed = settings.parsed
    servers: list[dict[str, Any]] = []
    stun = [u.text for u in parsed if not u.is_turn]
    if stun:
        servers.append({"urls": stun})
    turn = [u.text for u in parsed if u.is_turn]
    pair = settings.credentials(now)
    if turn and pair is not None:
        servers.append({"urls": turn, "username": pair[0], "credential": pair[1]})
    return {
        "iceServers": servers,
        "iceTransportPolicy": "relay" if settings.relay_only else "all",
        "videoCodec": video_codec,
    }


def server_turn_url(settings: IceSettings) -> IceUrl | None:
    """The one TURN URL the server's aiortc uses (aiortc takes only the first STUN and the first
    TURN URL it is given, so we choose rather than let the order decide).

    `turn:` over UDP first, then `turn:` over TCP, then `turns:`: the server sits where the
    operator controls the network (UDP out is normally open there), and a UDP relay adds the
    least latency and no head-of-line blocking to the returned video. TCP/TLS on 443 is what a
    *phone* behind a school firewall needs, and pages get every URL. An operator whose server
    cannot send UDP lists only a TCP URL."""
    turn = [u for u in settings.parsed if u.is_turn]

    def rank(url: IceUrl) -> int:
        return {("turn", "udp"): 0, ("turn", "tcp"): 1}.get((url.scheme, url.transport), 2)

    return min(turn, key=rank) if turn else None  # min is stable: the first of the best kind


def server_ignored(settings: IceSettings) -> list[str]:
    """The URLs the server's own peer connections cannot use (pages still use them)."""
    parsed = settings.parsed
    used: set[str] = set()
    stun = [u for u in parsed if not u.is_turn]
    if stun:
        used.add(stun[0].text)
    turn = server_turn_url(settings)
    if turn is not None:
        used.add(turn.text)
    return [u.text for u in parsed if u.text not in used]


def rtc_configuration(settings: IceSettings, now: float | None = None) -> RTCConfiguration:
    """The server's `RTCConfiguration` for one peer connection: the first STUN URL and the
    chosen TURN URL (`server_turn_url`) with fresh credentials; relay-only when configured.
    No servers at all is `iceServers=[]` (aiortc's default would be a public STUN server: one
    more thing that can stall an answer)."""
    now = time.time() if now is None else now
    servers: list[RTCIceServer] = []
    stun = [u for u in settings.parsed if not u.is_turn]
    if stun:
        servers.append(RTCIceServer(urls=stun[0].text))
    turn = server_turn_url(settings)
    pair = settings.credentials(now)
    if turn is not None and pair is not None:
        servers.append(RTCIceServer(urls=turn.text, username=pair[0], credential=pair[1]))
    policy = RTCIceTransportPolicy.RELAY if settings.relay_only else RTCIceTransportPolicy.ALL
    return RTCConfiguration(iceServers=servers, iceTransportPolicy=policy)


def describe(settings: IceSettings) -> None:
    """Log once, at start, what the server uses and what it leaves to the pages."""
    if not settings.urls:
        log.info("ICE: no STUN/TURN servers: host candidates only (phones on the server's LAN)")
        return
    turn = server_turn_url(settings)
    log.info(
        "ICE: %d server URL(s) for pages; the server relays through %s%s",
        len(settings.urls),
        turn.text if turn else "(no TURN)",
        " (relay only)" if settings.relay_only else "",
    )
    ignored = server_ignored(settings)
    if ignored:
        log.info(
            "ICE: the server's aiortc uses one STUN and one TURN URL; it ignores %s "
            "(pages still try them)",
            ", ".join(ignored),
        )


ICE_KEY = web.AppKey("ice", IceSettings)


def install(
    app: web.Application,
    settings: IceSettings,
    allow: Callable[[web.Request], bool] = lambda request: True,
    video_codec: str = "auto",
) -> None:
    """Keep `settings` in the app and serve `GET /api/ice` (no login: a phone asks before it
    has anything; fresh credentials per request, never cached). `allow(request)` False: 429.
    `video_codec` is passed on to the pages (`browser_configuration`)."""
    app[ICE_KEY] = settings
    describe(settings)

    async def handle(request: web.Request) -> web.Response:
        if not allow(request):
            return web.json_response(
                {"error": "too many requests", "reason": "rate_limited"},
                status=429,
                headers={"Retry-After": "60", "Cache-Control": "no-store"},
            )
        return web.json_response(
            browser_configuration(request.app[ICE_KEY], video_codec=video_codec),
            headers={"Cache-Control": "no-store, private"},
        )

    app.router.add_get(ICE_PATH, handle)
