"""Our access log: one INFO line per request that says nothing about who the client is.

aiohttp's own access log writes the client's address, the full URL (room codes in
`/room/ABCDEF/screen`, `/api/rooms/ABCDEF`) and the User-Agent: enough to link a child's
device to a class. `PrivateAccessLogger` writes instead

    client-4df2285d GET /api/rooms/{code} 200 3.1 ms

the client's pseudonym (the signalling's keyed hash, so one client has one name in every line
of this process), the route's pattern (never the concrete path: an unmatched one is `-`), the
status and the time taken. It is aiohttp's access-log hook, so it sees the status actually
sent (a static file's 404 is decided while the answer is written, after every middleware) and
the time of the whole answer. `serve` runs its AppRunner with `RUNNER_OPTIONS`, and
`visionanything.cli` keeps aiohttp's own access logger and aioice/aiortc (ICE candidate pairs
with addresses at INFO) at WARNING.

`install` adds the client-address middleware (`stream.edge.client_address`, trusted proxies) in
front of every other and tells the logger which pseudonym function to use.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

from stream.edge.client_address import CLIENT_KEY, Network, client_address_middleware

log = logging.getLogger("visionanything.access")

Pseudonym = Callable[[str], str]
PSEUDONYM_KEY: web.AppKey[Pseudonym] = web.AppKey("pseudonym")

UNMATCHED = "-"
UNKNOWN_CLIENT = "client-?"


def route_pattern(request: BaseRequest) -> str:
    """The pattern of the route that answered (`/api/rooms/{code}`), `/{static}` for a
    file of the page, `-` when no route matched (the path itself may hold a code)."""
    info = getattr(request, "match_info", None)
    if info is None or info.http_exception is not None:
        return UNMATCHED
    resource = info.route.resource
    if resource is None:
        return UNMATCHED
    if isinstance(resource, web.StaticResource):
        return "/{static}"
    return resource.canonical


def client_pseudonym(request: BaseRequest) -> str:
    """The pseudonym of the request's client (behind a trusted proxy: the proxied one)."""
    address = request.get(CLIENT_KEY, request.remote)
    try:
        pseudonym = request.app[PSEUDONYM_KEY] if isinstance(request, web.Request) else None
    except KeyError:
        pseudonym = None
    if pseudonym is None or not isinstance(address, str):
        return UNKNOWN_CLIENT
    return pseudonym(address)


class PrivateAccessLogger(AbstractAccessLogger):
    """aiohttp's access-log hook, writing the line of the module docstring at INFO."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1f ms",
            client_pseudonym(request),
            request.method,
            route_pattern(request),
            response.status,
            time * 1000,
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


RUNNER_OPTIONS: dict[str, Any] = {"access_log_class": PrivateAccessLogger, "access_log": log}
"""Keyword arguments for `web.AppRunner`: our access log in place of aiohttp's."""


def install(
    app: web.Application, pseudonym: Pseudonym, trusted_proxies: Sequence[Network] = ()
) -> None:
    """The client-address middleware in front of `app`'s others, and the pseudonym function
    the access log names clients with."""
    app[PSEUDONYM_KEY] = pseudonym
    app.middlewares.insert(0, client_address_middleware(trusted_proxies))


_LOG_KEY = secrets.token_bytes(16)  # per process: a log line's room name cannot be reversed


def room_label(code: str) -> str:
    """What logs call a room: `room-1a2b3c4d`, stable within this process, never the code (a
    code in a log is a key to a class's video for whoever reads the log)."""
    digest = hmac.new(_LOG_KEY, code.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"room-{digest[:8]}"
