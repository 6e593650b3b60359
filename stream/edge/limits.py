"""`ServerLimits`: how much the server takes on at once and how long it waits, the numbers
`serve` can change (`stream.app.ServerConfig.limits`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerLimits:
    """What the server accepts at most, and its timings.

    max_sessions          open phone sessions at most; more offers get 503 + Retry-After
    max_viewers           screens watching rooms at most (an encoder each, no model time)
    max_offer_bytes       request bodies larger than this get 413
    offers_per_minute     per client address; 0 disables the limit
    sessions_per_address  open phone sessions per client address; more get 429 (0: no limit)
    viewers_per_address   open viewers (class screens) per client address, counted apart
    negotiation_timeout_s  an offer's answer (ICE gathering included) must come within this
    retry_after_s         the Retry-After of a 503 (busy, models loading, Redis down)
    render_threads        threads drawing overlays for all sessions
    engine_stop_timeout_s  how long shutdown waits for the engine to stop
    """

    max_sessions: int = 4
    max_viewers: int = 64
    max_offer_bytes: int = 64 * 1024
    offers_per_minute: int = 30
    sessions_per_address: int = 2
    viewers_per_address: int = 8
    negotiation_timeout_s: float = 15.0
    retry_after_s: int = 5
    render_threads: int = 2
    engine_stop_timeout_s: float = 35.0

    def __post_init__(self) -> None:
        if self.max_sessions < 1:
            raise ValueError(f"max_sessions must be at least 1, got {self.max_sessions}")
        if not 1024 <= self.max_offer_bytes <= 1024 * 1024:
            raise ValueError(
                f"max_offer_bytes must lie in 1 KiB..1 MiB, got {self.max_offer_bytes}"
            )
        if self.render_threads < 1:
            raise ValueError(f"render_threads must be at least 1, got {self.render_threads}")
        if self.sessions_per_address < 0 or self.viewers_per_address < 0:
            raise ValueError("sessions_per_address and viewers_per_address must be 0 or more")
