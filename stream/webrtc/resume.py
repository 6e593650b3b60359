"""Picking a phone's session up again after its connection broke.

A phone moving from Wi-Fi to mobile data, or a short outage, kills the WebRTC transport; the
page then makes a new peer connection (a new offer). Without help the server would see a new
phone: in a class room it would wait to be let in again, under a new name, and the class screen
would lose it. So every phone session gets a secret resume token in its `hello` (sent only on
the encrypted data channel), and a new offer that carries it (`"resume"`) takes over what the
old session held in its room: its name, being let in, being on the class screen. The old
session is closed as "replaced" (its transport is dead; the server might not notice for half a
minute).

Tokens are single use (each new session gets a fresh one), stored only as digests, kept
`grace_s` after their session closed and no longer, and bounded in number. What a token can do
is limited to its own room's place (`stream.classroom.rooms.RoomHub.join_phone`): a phone the
teacher removed cannot come back with one.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_GRACE_S = 60.0
DEFAULT_MAX_TOKENS = 4096
TOKEN_BYTES = 18  # 24 URL-safe characters


@dataclass
class _Entry:
    session_id: str
    closed_at: float | None = None  # None while the session is open


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ResumeTokens:
    """Resume tokens of the phone sessions: issued at the offer, found by a later offer.

    `clock` is injectable so tests can step past the grace period.
    """

    def __init__(
        self,
        grace_s: float = DEFAULT_GRACE_S,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if grace_s < 0 or max_tokens < 1:
            raise ValueError("grace_s must be >= 0 and max_tokens >= 1")
        self.grace_s = grace_s
        self.max_tokens = max_tokens
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # digest → entry, oldest first
        self._digest_of: dict[str, str] = {}  # session id → digest

    def __len__(self) -> int:
        return len(self._entries)

    def issue(self, session_id: str) -> str:
        """A fresh token for a new session (the oldest are dropped beyond `max_tokens`)."""
        self._prune()
        while len(self._entries) >= self.max_tokens:
            _, dropped = self._entries.popitem(last=False)
            self._digest_of.pop(dropped.session_id, None)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        digest = _digest(token)
        self._entries[digest] = _Entry(session_id)
        self._digest_of[session_id] = digest
        return token

    def closed(self, session_id: str) -> None:
        """The session ended: its token works for `grace_s` more."""
        digest = self._digest_of.get(session_id)
        entry = self._entries.get(digest) if digest else None
        if entry is not None and entry.closed_at is None:
            entry.closed_at = self._clock()

    def find(self, token: str) -> str | None:
        """The session a token resumes, or None (unknown, used, or past its grace)."""
        self._prune()
        entry = self._entries.get(_digest(token))
        return entry.session_id if entry is not None else None

    def consume(self, token: str) -> None:
        """Use a token up (a session resumed with it)."""
        entry = self._entries.pop(_digest(token), None)
        if entry is not None:
            self._digest_of.pop(entry.session_id, None)

    def _prune(self) -> None:
        limit = self._clock() - self.grace_s
        expired = [
            digest
            for digest, entry in self._entries.items()
            if entry.closed_at is not None and entry.closed_at < limit
        ]
        for digest in expired:
            entry = self._entries.pop(digest)
            self._digest_of.pop(entry.session_id, None)
