"""What every peer connection we hold (a phone's session, a class screen) needs around it: the
tasks it spawns, cancelled together when it closes, and a close that always finishes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from aiortc import RTCPeerConnection

log = logging.getLogger(__name__)


class TaskSet:
    """Tasks owned by one connection (`owner` names it in the log); a failed one is logged."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=f"{name}-{self.owner}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def cancel_all(self) -> None:
        """Cancel every task but the one calling (it may be closing its own connection)."""
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: task %s failed", self.owner, task.get_name(), exc_info=task.exception())


async def close_peer(pc: RTCPeerConnection, timeout_s: float, owner: str) -> None:
    """Close `pc` within `timeout_s`; closing must finish, whatever state aiortc is in."""
    try:
        async with asyncio.timeout(timeout_s):
            await pc.close()
    except Exception as exc:
        log.warning("%s: closing the peer connection failed: %r", owner, exc)
