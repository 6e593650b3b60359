"""Who the client is: the one place that decides a request's client address.

Every per-address limit (offers, open phones and screens, teacher logins, room look-ups) reads
`request.remote`. Behind a reverse proxy or load balancer that is the proxy's address, so every
child in a school would share one budget. `client_address_middleware` therefore replaces
`request.remote` (aiohttp's `Request.clone(remote=...)`) before any handler runs:

- the direct peer is in `--trusted-proxy` networks: the client is the right-most address of
  `X-Forwarded-For` that is not itself a trusted proxy (each proxy appends the address it saw,
  so addresses left of the first untrusted one were written by the client and prove nothing);
- otherwise the header is ignored: anybody can send it, and honouring it would let one client
  spread its requests over invented addresses and escape every limit.

Handlers and limits need no change of their own, and nothing else in the server reads the
header. The address is also left under `CLIENT_KEY` for the access log.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

CLIENT_KEY = web.RequestKey("client_address", str)
"""Where the middleware leaves the client address on the request aiohttp made (the access
log reads it there: it sees that request, not the clone the handlers got)."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_key(address: str) -> str:
    """What per-address limits, pseudonyms and phone removals count: an IPv4 address as it
    is, an IPv6 address as its /64 network (one home or phone network gets a whole /64 and
    picks addresses in it at will, so counting single IPv6 addresses would let one client
    escape every limit and removal). Anything unparsable is kept as given."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def parse_trusted_proxies(values: Iterable[str]) -> tuple[Network, ...]:
    """`--trusted-proxy` values (CIDR such as 10.0.0.0/8, or one address) as networks;
    ValueError naming the value that is not one."""
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(
                f"--trusted-proxy {value!r} is not an address or network (e.g. 10.0.0.0/8)"
            ) from exc
    return tuple(networks)


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port, as some proxies write it
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:1.2.3.4 is the IPv4 client 1.2.3.4
    return address


def _trusted(address: Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> str | None:
    """The client's address: `peer` (the TCP peer), unless `peer` is a trusted proxy and
    `forwarded_for` (the X-Forwarded-For header values, in order) names one. A malformed hop
    ends the walk at the last trusted hop: its value came from an untrusted party."""
    if not trusted or peer is None or not _trusted(_address(peer), trusted):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        client = str(address)
        if not _trusted(address, trusted):
            break
    return client


def client_address_middleware(trusted: Sequence[Network]) -> Middleware:
    """A middleware that sets `request.remote` to `client_address(...)` (see the module)."""
    networks = tuple(trusted)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not networks:
            return await handler(request)
        remote = client_address(
            request.remote, request.headers.getall("X-Forwarded-For", []), networks
        )
        if remote is None or remote == request.remote:
            return await handler(request)
        request[CLIENT_KEY] = remote
        return await handler(request.clone(remote=remote))

    return middleware


def peer_address(request: web.Request) -> str:
    """The client's address for limits and pseudonyms (`stream.edge.client_address` has already
    put a trusted proxy's client into `request.remote`), IPv6 counted by its /64
    (`address_key`)."""
    return address_key(request.remote) if request.remote else "?"
