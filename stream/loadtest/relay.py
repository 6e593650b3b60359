"""`visionanything loadtest --relay`: the simulated phones go through the server's TURN relay,
as a phone page told "relay only" does, so one run measures what the relay costs (issue 19:
frame rate, latency, CPU of the server and of the TURN server) against a direct run.

The phones ask `GET /api/ice` like the page (fresh TURN REST credentials) and use its TURN
server with a relay-only policy, whatever policy the server hands out: `--relay` is a request
to measure the relay, not to mirror the server's setting. aiortc uses the first `turn:` URL of
the list (the page tries them all); `?transport=tcp` in it makes the phones' leg TCP."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from stream.loadtest.peer import ClientFailure, describe_connection_error

ICE_PATH = "/api/ice"


def relay_configuration(body: Any) -> RTCConfiguration:
    """The phones' RTCConfiguration from a `GET /api/ice` answer: its TURN servers only,
    relay-only. ClientFailure when the server hands out no TURN server."""
    servers = body.get("iceServers") if isinstance(body, dict) else None
    turn: list[RTCIceServer] = []
    for server in servers if isinstance(servers, list) else []:
        if not isinstance(server, dict):
            continue
        urls = server.get("urls")
        urls = [urls] if isinstance(urls, str) else urls if isinstance(urls, list) else []
        relays = [u for u in urls if isinstance(u, str) and u.startswith(("turn:", "turns:"))]
        if relays:
            turn.append(
                RTCIceServer(
                    urls=relays,
                    username=server.get("username"),
                    credential=server.get("credential"),
                )
            )
    if not turn:
        raise ClientFailure(
            "--relay: the server hands out no TURN server in GET /api/ice; start it with "
            "--ice-server turn:HOST:PORT and TURN credentials"
        )
    return RTCConfiguration(iceServers=turn, iceTransportPolicy=RTCIceTransportPolicy.RELAY)


async def fetch_relay_configuration(
    http: aiohttp.ClientSession, url: str, ssl: bool
) -> RTCConfiguration:
    """Ask the server at `url` for its ICE servers, as a page does before each attempt."""
    try:
        async with http.get(f"{url}{ICE_PATH}", ssl=ssl) as response:
            if response.status != 200:
                raise ClientFailure(f"--relay: GET {ICE_PATH} answered HTTP {response.status}")
            body = await response.json()
    except aiohttp.ClientError as exc:
        raise ClientFailure(describe_connection_error(url, exc)) from exc
    return relay_configuration(body)
