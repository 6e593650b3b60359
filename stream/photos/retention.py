"""Photos older than the retention period are deleted, once at start and then every hour."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from stream.photos.snapshots import SnapshotPolicy, SnapshotStore

log = logging.getLogger(__name__)


# -- retention
class RetentionSweeper:
    """Deletes photos past the retention period: once at start, then every `every_s`.

    `sleep` is injectable so a test can drive the loop with its own clock instead of waiting.
    """

    def __init__(
        self,
        store: SnapshotStore,
        policy: SnapshotPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.store = store
        self.policy = policy
        self._sleep = sleep
        self.deleted = 0

    async def sweep(self) -> int:
        """One pass (off the loop); returns how many photos went."""
        gone = await asyncio.to_thread(self.store.delete_older_than, self.policy.retention_s)
        if gone:
            log.info("deleted %d photo(s) older than %g days", gone, self.policy.retention_days)
        self.deleted += gone
        return gone

    async def run(self) -> None:
        """Sweep forever; a failed pass is logged and tried again at the next one."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("deleting old photos failed")
            await self._sleep(self.policy.sweep_every_s)
