"""`NetworkSettings`: where the server is reached, the addresses `serve` knows or is told
(`stream.app.ServerConfig.network`)."""

from __future__ import annotations

from dataclasses import dataclass

from stream.edge.client_address import parse_trusted_proxies
from stream.edge.urls import parse_public_url


@dataclass(frozen=True)
class NetworkSettings:
    """How phones and proxies reach the server.

    public_url       the address phones open (`serve --public-url`); room links use it. Kept in
                     its checked form, scheme://host[:port] (`stream.edge.urls.parse_public_url`)
    lan_hosts        the server's addresses on the network, best first: room links use the
                     first instead of the teacher's "localhost" (`stream.edge.urls.PhoneOrigin`)
    trusted_proxies  networks (CIDR) whose X-Forwarded-For names the client
                     (`serve --trusted-proxy`, `stream.edge.client_address`)
    """

    public_url: str | None = None
    lan_hosts: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.public_url is not None:  # stored in its checked form (scheme://host[:port])
            object.__setattr__(self, "public_url", parse_public_url(self.public_url))
        parse_trusted_proxies(self.trusted_proxies)  # a bad one stops here, not per request
