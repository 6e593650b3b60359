"""A phone session's `stats` message, once per stats interval: the frame rates in and out, masks
drawn, drops, the load level, the engine's own numbers, and the connection's path and codec.
The counters go to /metrics too."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from inference.live.session_state import SessionClosedError
from stream.webrtc.wire import engine_stats_fields

if TYPE_CHECKING:  # the session spawns this loop: only its type is needed here
    from stream.webrtc.sessions import Session


async def report_stats(session: Session) -> None:
    """Once per stats interval: measure the frame rates and send `stats`."""
    interval = session.settings.stats_interval_s
    last_time = time.monotonic()
    last_in = last_out = last_results = last_masks = 0
    last_engine_dropped = 0
    while not session.closed:
        await asyncio.sleep(interval)
        now = time.monotonic()
        elapsed = max(now - last_time, 1e-6)
        frames_out = session.out_track.frames_out if session.out_track else 0
        session.fps_in = (session.frames_in - last_in) / elapsed
        session.fps_out = (frames_out - last_out) / elapsed
        session.overlay_fps = (session.results - last_results) / elapsed
        # outgoing frames that carried at least one mask (fresh or followed)
        masks_drawn = session.out_track.painter.masks_drawn if session.out_track else 0
        masks_fps = (masks_drawn - last_masks) / elapsed
        if masks_drawn > last_masks:
            session.metrics.frames_with_masks.inc(masks_drawn - last_masks)
        last_time, last_in, last_out, last_results, last_masks = (
            now,
            session.frames_in,
            frames_out,
            session.results,
            masks_drawn,
        )
        try:
            numbers = session.engine.session_stats(session.id)
        except SessionClosedError:
            return  # the engine no longer knows us: we are closing
        dropped = numbers.dropped
        if dropped > last_engine_dropped:
            session.metrics.frames_dropped.labels(stage="engine").inc(dropped - last_engine_dropped)
            last_engine_dropped = dropped
        stats = engine_stats_fields(numbers)
        stats.update(
            session=session.id,
            fps_in=round(session.fps_in, 2),
            fps_out=round(session.fps_out, 2),
            masks_fps=round(masks_fps, 2),
            frames_in=session.frames_in,
            frames_out=frames_out,
            dropped_out=session.mailbox.dropped,
            load_level=session.load.level,
            paused=session.paused,
            uptime_s=round(now - session.created_at, 1),
        )
        stats.update(session.connection_path().as_fields())  # path, transport, codec (issue 19)
        session.send("stats", essential=False, **stats)
