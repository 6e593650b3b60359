"""Snapshots: a press of 📸 saves the picture the phone sees, with what was found on it.

`SnapshotStore` is the library on disk: a SQLite database (standard `sqlite3`) beside a folder
of JPEG files,

    DIR/snapshots.sqlite3   table snapshots(id, created_at, session, room, labels, objects,
                                            image, bytes)      labels/objects as JSON text
    DIR/images/<random>.jpg

with DIR `$VISIONANYTHING_DATA_DIR/snapshots` or `~/.local/share/visionanything/snapshots`.
Nothing is created before the first save (listing an empty library touches nothing). Every
method blocks (disk, SQLite): call them off the event loop (`asyncio.to_thread`). The library has
a cap on the count and on the bytes of its images; a save past either is refused
(`SnapshotRefused("library_full")`), never made room for by deleting old snapshots silently.

`SnapshotTaker` is what a press does (on the event loop): checks the per-session rate limit,
then in a worker thread draws the session's newest camera frame with its newest result (a
painter of its own: the outgoing track's painter belongs to the encoder's thread), encodes it as
JPEG and saves it with the result's objects. No other code path writes images.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from inference.atomic_write import write_atomically
from stream.protocol import ProtocolError
from stream.tracks import OverlayPainter, RenderableResult, SharedFrame

log = logging.getLogger(__name__)

DATA_DIR_ENV = "VISIONANYTHING_DATA_DIR"
DB_NAME = "snapshots.sqlite3"
IMAGES_DIR = "images"
JPEG_QUALITY = 88
RATE_WINDOW_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    session TEXT NOT NULL,
    room TEXT,
    labels TEXT NOT NULL,
    objects TEXT NOT NULL,
    image TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL
)
"""
_COLUMNS = "id, created_at, session, room, labels, objects, image, bytes"


def default_snapshots_dir() -> Path:
    """`$VISIONANYTHING_DATA_DIR/snapshots`, else `~/.local/share/visionanything/snapshots`."""
    data_dir = os.environ.get(DATA_DIR_ENV)
    base = Path(data_dir) if data_dir else Path.home() / ".local" / "share" / "visionanything"
    return base / "snapshots"


class SnapshotRefused(ProtocolError):
    """A snapshot not taken; `code` goes back to the phone in an `error` reply (snapshot_limit,
    library_full, no_frame, ...)."""


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: str  # ISO 8601, UTC, seconds
    session: str
    room: str | None
    labels: list[str]
    objects: list[dict[str, Any]]
    image: str  # file name under DIR/images
    bytes: int

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at,
            "session": self.session,
            "room": self.room,
            "labels": self.labels,
            "objects": self.objects,
            "bytes": self.bytes,
            "url": f"/api/snapshots/{self.id}.jpg",
        }


@dataclass(frozen=True)
class Usage:
    count: int
    bytes: int


def labels_of(objects: list[dict[str, Any]]) -> list[str]:
    """The distinct labels of `objects`, in order."""
    seen: dict[str, None] = {}
    for item in objects:
        label = item.get("label")
        if isinstance(label, str):
            seen.setdefault(label, None)
    return list(seen)


class SnapshotStore:
    """The library (see the module docstring). Thread-safe: one lock around every operation."""

    def __init__(
        self, directory: Path, *, max_count: int = 1000, max_bytes: int = 500 * 1024 * 1024
    ) -> None:
        if max_count < 1 or max_bytes < 1:
            raise ValueError("max_count and max_bytes must be positive")
        self.directory = directory
        self.db_path = directory / DB_NAME
        self.images = directory / IMAGES_DIR
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------

    def save(
        self,
        jpeg: bytes,
        *,
        session: str,
        room: str | None,
        objects: list[dict[str, Any]],
        labels: list[str] | None = None,
    ) -> Snapshot:
        """Store one snapshot; raises `SnapshotRefused("library_full")` past a cap."""
        labels = labels_of(objects) if labels is None else labels
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self._db(create=True) as db:
            assert db is not None
            count, used = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM snapshots"
            ).fetchone()
            if count >= self.max_count:
                raise SnapshotRefused(
                    "library_full",
                    f"the snapshot library is full ({count} photos): ask a teacher to delete some",
                )
            if used + len(jpeg) > self.max_bytes:
                raise SnapshotRefused(
                    "library_full",
                    f"the snapshot library is full ({used // (1024 * 1024)} MB): "
                    "ask a teacher to delete some",
                )
            name = f"{secrets.token_hex(12)}.jpg"
            self._write(self.images / name, jpeg)
            try:
                with db:  # a transaction
                    cursor = db.execute(
                        "INSERT INTO snapshots (created_at, session, room, labels, objects, image,"
                        " bytes) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            created,
                            session,
                            room,
                            json.dumps(labels),
                            json.dumps(objects, separators=(",", ":")),
                            name,
                            len(jpeg),
                        ),
                    )
            except BaseException:
                (self.images / name).unlink(missing_ok=True)
                raise
            snapshot_id = cursor.lastrowid
            assert snapshot_id is not None
        return Snapshot(snapshot_id, created, session, room, labels, objects, name, len(jpeg))

    def delete(self, snapshot_id: int) -> bool:
        """Remove one snapshot and its image; False when there is no such snapshot."""
        with self._lock, self._db() as db:
            if db is None:
                return False
            row = db.execute("SELECT image FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
            if row is None:
                return False
            with db:
                db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))
            self._unlink(row[0])
        return True

    def delete_all(self) -> int:
        """Remove every snapshot and image; returns how many there were."""
        with self._lock, self._db() as db:
            if db is None:
                return 0
            names = [row[0] for row in db.execute("SELECT image FROM snapshots")]
            with db:
                db.execute("DELETE FROM snapshots")
            for name in names:
                self._unlink(name)
        return len(names)

    # -- reading ---------------------------------------------------------------------------

    def list(self, limit: int = 50, offset: int = 0) -> list[Snapshot]:
        """Newest first."""
        with self._lock, self._db() as db:
            if db is None:
                return []
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM snapshots ORDER BY id DESC LIMIT ? OFFSET ?",
                (max(0, limit), max(0, offset)),
            ).fetchall()
        return [_snapshot(row) for row in rows]

    def get(self, snapshot_id: int) -> Snapshot | None:
        with self._lock, self._db() as db:
            if db is None:
                return None
            row = db.execute(
                f"SELECT {_COLUMNS} FROM snapshots WHERE id = ?", (snapshot_id,)
            ).fetchone()
        return None if row is None else _snapshot(row)

    def image(self, snapshot_id: int) -> bytes | None:
        """The JPEG of a snapshot, None when there is none (or its file went missing)."""
        snapshot = self.get(snapshot_id)
        if snapshot is None:
            return None
        try:
            return (self.images / snapshot.image).read_bytes()
        except FileNotFoundError:
            log.warning("snapshot %d: image %s is missing", snapshot_id, snapshot.image)
            return None

    def usage(self) -> Usage:
        with self._lock, self._db() as db:
            if db is None:
                return Usage(0, 0)
            count, used = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM snapshots"
            ).fetchone()
        return Usage(int(count), int(used))

    # -- internals -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _db(self, create: bool = False) -> Iterator[sqlite3.Connection | None]:
        """A connection (closed afterwards); None when the library does not exist and
        `create` is False, so that reading an empty library creates nothing."""
        if not self.db_path.exists():
            if not create:
                yield None
                return
            self.images.mkdir(parents=True, exist_ok=True, mode=0o700)
        db = sqlite3.connect(self.db_path, timeout=10)
        try:
            db.execute(_SCHEMA)
            yield db
        finally:
            db.close()

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomically(path, data, mode=0o600)

    def _unlink(self, name: str) -> None:
        try:
            (self.images / name).unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove snapshot image %s: %s", name, exc)


def _snapshot(row: tuple[Any, ...]) -> Snapshot:
    snapshot_id, created, session, room, labels, objects, image, size = row
    return Snapshot(
        int(snapshot_id), created, session, room, json.loads(labels), json.loads(objects), image,
        int(size),
    )  # fmt: skip


# ------------------------------------------------------------------------- taking snapshots


class SnapshotSource(Protocol):
    """What a snapshot needs from a phone's session (`stream.sessions.Session` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def room(self) -> str | None: ...

    @property
    def latest_frame(self) -> SharedFrame | None: ...  # the newest camera frame

    @property
    def latest(self) -> SnapshotResult | None: ...  # the newest result

    @property
    def settings(self) -> _Settings: ...


class SnapshotResult(RenderableResult, Protocol):
    @property
    def objects(self) -> list[dict[str, Any]]: ...


class _Settings(Protocol):
    @property
    def output_height(self) -> int | None: ...


def render_jpeg(
    shared: SharedFrame, result: RenderableResult | None, output_height: int | None
) -> bytes:
    """The outgoing picture of `shared` with `result` drawn on it, as JPEG (blocking)."""
    painter = OverlayPainter(output_height, follow=False)
    frame = painter.paint(shared, result)
    rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return bytes(encoded.tobytes())


class SnapshotTaker:
    """A press of 📸: rate limit, draw, encode and save (see the module docstring)."""

    def __init__(
        self,
        store: SnapshotStore,
        *,
        per_session_per_minute: int = 6,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.per_session_per_minute = per_session_per_minute
        self._clock = clock
        self._recent: dict[str, deque[float]] = {}

    async def take(self, session: SnapshotSource) -> Snapshot:
        """Save `session`'s current picture; raises `SnapshotRefused` with the reason."""
        shared = session.latest_frame
        if shared is None:
            raise SnapshotRefused("no_frame", "no picture yet: wait for the camera")
        self._count(session.id)
        result = session.latest
        height = session.settings.output_height
        objects = list(result.objects) if result is not None else []
        try:
            jpeg = await asyncio.to_thread(render_jpeg, shared, result, height)
        except Exception as exc:  # a bad result: the plain picture is still worth keeping
            log.warning(
                "session %s: drawing the snapshot failed (%r); saved plain", session.id, exc
            )
            jpeg = await asyncio.to_thread(render_jpeg, shared, None, height)
            objects = []
        snapshot = await asyncio.to_thread(
            self.store.save, jpeg, session=session.id, room=session.room, objects=objects
        )
        log.info("session %s: snapshot %d saved (%d bytes)", session.id, snapshot.id, len(jpeg))
        return snapshot

    def _count(self, session_id: str) -> None:
        now = self._clock()
        recent = self._recent.setdefault(session_id, deque())
        while recent and recent[0] <= now - RATE_WINDOW_S:
            recent.popleft()
        if len(recent) >= self.per_session_per_minute:
            raise SnapshotRefused(
                "snapshot_limit",
                f"at most {self.per_session_per_minute} photos a minute: wait a little",
            )
        recent.append(now)
        # forget sessions that have been quiet for a minute (no unbounded growth)
        stale = now - RATE_WINDOW_S
        for key in [k for k, times in self._recent.items() if not times or times[-1] <= stale]:
            del self._recent[key]
