"""Redis down answers 503 + Retry-After, never a 500 with a traceback.

With `serve --redis` the rooms live in Redis (`stream.classroom.redis_room_store`), and that store
lets Redis's errors propagate (`redis.RedisError`: unreachable, timed out, read-only, ...). Rather
than every room handler and the offer endpoint catching them, `middleware` catches them once,
for every route: an error that says the service is unavailable for a moment (JSON on /api/,
plain text for pages), `Retry-After`, a warning in the log (once per outage, not per request)
and the phone or teacher tries again. Installed inside the security middleware, so the answer
carries the same headers as every other.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from stream.edge.security import redact

log = logging.getLogger(__name__)

RETRY_AFTER_S = 5
MESSAGE = "the classroom service is unavailable for a moment; try again shortly"
QUIET_S = 60.0  # one warning a minute while Redis stays down


def redis_outage_middleware(
    retry_after_s: int = RETRY_AFTER_S, clock: Callable[[], float] = time.monotonic
) -> Middleware:
    """A middleware answering 503 + Retry-After for a `redis.RedisError` from any handler."""
    warned_at: float | None = None

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal warned_at
        try:
            return await handler(request)
        except redis.RedisError as exc:
            now = clock()
            if warned_at is None or now - warned_at >= QUIET_S:
                warned_at = now
                log.warning("redis unavailable, answering 503: %s", redact(repr(exc)))
            headers = {"Retry-After": str(retry_after_s)}
            if request.path.startswith("/api/"):
                raise web.HTTPServiceUnavailable(
                    text=f'{{"error": "{MESSAGE}"}}',
                    content_type="application/json",
                    headers=headers,
                ) from None
            raise web.HTTPServiceUnavailable(text=MESSAGE, headers=headers) from None

    return middleware


def install(app: web.Application, retry_after_s: int = RETRY_AFTER_S) -> None:
    """Add the middleware after those already installed (inside them)."""
    app.middlewares.append(redis_outage_middleware(retry_after_s))
