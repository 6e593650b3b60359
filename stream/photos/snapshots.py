"""Snapshots: a press of 📸 in a classroom room saves the picture the phone sees, with what was
found on it, into that room's teacher's library.

`SnapshotStore` is the library on disk: a SQLite database (standard `sqlite3`) beside a folder
of JPEG files,

    DIR/snapshots.sqlite3   table snapshots(id, created_at, session, room, teacher, labels,
                                            objects, image, bytes)   labels/objects as JSON text
    DIR/images/<random>.jpg

with DIR `$VISIONANYTHING_DATA_DIR/snapshots` or `~/.local/share/visionanything/snapshots`.
Nothing is created before the first save (listing an empty library touches nothing). Every
method blocks (disk, SQLite): call them off the event loop (`asyncio.to_thread`).

Who sees what. Every photo records the room it was taken in and that room's teacher. Reading
and deleting take a `teacher` scope: a name sees only the photos it owns, `EVERY_TEACHER`
(admins) sees all. Another teacher's photo is answered exactly like a missing one, so ids
reveal nothing. Photos saved before rooms were recorded have no teacher: admins only.

Limits. The library has a cap on the count and on the bytes of its images, and each room a
`RoomBudget` (photos per hour and photos kept), counted from the library itself, so neither a
reconnecting phone nor a restarted server resets it. A save past any of them is refused
(`SnapshotRefused`), never made room for by deleting old photos silently. Photos older than the
retention period are deleted by `RetentionSweeper`.

`SnapshotTaker` is what a press does (on the event loop): refuses a phone outside a room (its
page keeps the picture on the phone itself: nothing reaches the server), checks the per-session
rate limit, then in a worker thread draws the session's newest camera frame with its newest
result (a painter of its own: the outgoing track's painter belongs to the encoder's thread),
encodes it as JPEG and saves it with the result's objects. No other code path writes images.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from inference.core.atomic_write import write_atomically
from inference.core.directories import default_data_dir
from stream.webrtc.error_codes import ErrorCode
from stream.webrtc.protocol import ProtocolError

log = logging.getLogger(__name__)

DB_NAME = "snapshots.sqlite3"
IMAGES_DIR = "images"
JPEG_QUALITY = 88
RATE_WINDOW_S = 60.0
HOUR_S = 3600.0
DAY_S = 86400.0
DEFAULT_RETENTION_DAYS = 30


class _Everyone:
    """The scope of an admin: every teacher's photos (a distinct value, so that a missing
    name can never widen a teacher's scope by accident)."""

    def __repr__(self) -> str:
        return "EVERY_TEACHER"


EVERY_TEACHER: Final = _Everyone()
Scope = str | _Everyone

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    session TEXT NOT NULL,
    room TEXT,
    labels TEXT NOT NULL,
    objects TEXT NOT NULL,
    image TEXT NOT NULL UNIQUE,
    bytes INTEGER NOT NULL,
    teacher TEXT
)
"""
_COLUMNS = "id, created_at, session, room, teacher, labels, objects, image, bytes"


def default_snapshots_dir() -> Path:
    """`$VISIONANYTHING_DATA_DIR/snapshots`, else `~/.local/share/visionanything/snapshots`."""
    return default_data_dir() / "snapshots"


def iso_time(epoch_s: float) -> str:
    """UTC, whole seconds, one fixed width: stored times compare correctly as text."""
    return datetime.fromtimestamp(int(epoch_s), UTC).isoformat(timespec="seconds")


class SnapshotRefused(ProtocolError):
    """A snapshot not taken; `code` goes back to the phone in an `error` reply (snapshot_limit,
    room_limit, library_full, not_in_room, no_frame, ...)."""


@dataclass(frozen=True)
class RoomBudget:
    """What one room may add to the library: `per_hour` photos in any hour and `max_kept`
    photos at most (the teacher deleting some makes room again)."""

    per_hour: int = 60
    max_kept: int = 300

    def __post_init__(self) -> None:
        if self.per_hour < 1 or self.max_kept < 1:
            raise ValueError("a room's photo budget must be at least 1")


@dataclass(frozen=True)
class SnapshotPolicy:
    """The library's rules that `serve` can change
    (`stream.app.ServerConfig.photo_library.policy`).

    retention_days   photos older than this are deleted (checked every `sweep_every_s`)
    room             each room's budget (`RoomBudget`)
    """

    retention_days: float = DEFAULT_RETENTION_DAYS
    room: RoomBudget = RoomBudget()
    sweep_every_s: float = HOUR_S

    def __post_init__(self) -> None:
        if not 0 < self.retention_days <= 3650:
            raise ValueError(
                f"the photo retention must lie in 1..3650 days, got {self.retention_days}"
            )
        if self.sweep_every_s <= 0:
            raise ValueError("sweep_every_s must be positive")

    @property
    def retention_s(self) -> float:
        return self.retention_days * DAY_S


@dataclass(frozen=True)
class Snapshot:
    id: int
    created_at: str  # ISO 8601, UTC, seconds
    session: str
    room: str | None
    teacher: str | None
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
            "teacher": self.teacher,
            "labels": self.labels,
            "objects": self.objects,
            "bytes": self.bytes,
            "url": f"/api/snapshots/{self.id}.jpg",
        }


@dataclass(frozen=True)
class Usage:
    count: int
    bytes: int


@dataclass(frozen=True)
class RoomPhotos:
    """One room's part of a library (the library page's groups)."""

    room: str | None
    teacher: str | None
    count: int
    bytes: int
    newest: str

    def public(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "teacher": self.teacher,
            "count": self.count,
            "bytes": self.bytes,
            "newest": self.newest,
        }


def labels_of(objects: list[dict[str, Any]]) -> list[str]:
    """The distinct labels of `objects`, in order."""
    seen: dict[str, None] = {}
    for item in objects:
        label = item.get("label")
        if isinstance(label, str):
            seen.setdefault(label, None)
    return list(seen)


def _where(scope: Scope, room: str | None = None) -> tuple[str, tuple[Any, ...]]:
    """A WHERE clause (always present, so callers can append `AND ...`) for `scope`/`room`."""
    clauses, values = ["1 = 1"], []
    if not isinstance(scope, _Everyone):
        clauses.append("teacher = ?")
        values.append(scope)
    if room is not None:
        clauses.append("room = ?")
        values.append(room)
    return " WHERE " + " AND ".join(clauses), tuple(values)


class SnapshotStore:
    """The library (see the module docstring). Thread-safe: one lock around every operation;
    `clock` (wall time, seconds) dates new photos and decides what is old."""

    def __init__(
        self,
        directory: Path,
        *,
        max_count: int = 1000,
        max_bytes: int = 500 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_count < 1 or max_bytes < 1:
            raise ValueError("max_count and max_bytes must be positive")
        self.directory = directory
        self.db_path = directory / DB_NAME
        self.images = directory / IMAGES_DIR
        self.max_count = max_count
        self.max_bytes = max_bytes
        self.clock = clock
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------

    def save(
        self,
        jpeg: bytes,
        *,
        session: str,
        room: str | None,
        teacher: str | None = None,
        objects: list[dict[str, Any]],
        labels: list[str] | None = None,
        budget: RoomBudget | None = None,
    ) -> Snapshot:
        """Store one snapshot; raises `SnapshotRefused` past a cap of the library
        ("library_full") or of `room`'s `budget` ("room_limit"). The checks and the insert are
        one transaction, so concurrent saves cannot overshoot a cap."""
        labels = labels_of(objects) if labels is None else labels
        now = self.clock()
        created = iso_time(now)
        with self._lock, self._db(create=True) as db:
            assert db is not None
            db.execute("BEGIN IMMEDIATE")  # other processes on the same library wait
            try:
                self._check_caps(db, len(jpeg))
                if budget is not None and room is not None:
                    self._check_budget(db, room, teacher, budget, now)
                name = f"{secrets.token_hex(12)}.jpg"
                self._write(self.images / name, jpeg)
                try:
                    cursor = db.execute(
                        "INSERT INTO snapshots (created_at, session, room, teacher, labels,"
                        " objects, image, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            created,
                            session,
                            room,
                            teacher,
                            json.dumps(labels),
                            json.dumps(objects, separators=(",", ":")),
                            name,
                            len(jpeg),
                        ),
                    )
                    db.commit()
                except BaseException:
                    (self.images / name).unlink(missing_ok=True)
                    raise
            except BaseException:
                db.rollback()
                raise
            snapshot_id = cursor.lastrowid
            assert snapshot_id is not None
        return Snapshot(
            snapshot_id, created, session, room, teacher, labels, objects, name, len(jpeg)
        )

    def _check_caps(self, db: sqlite3.Connection, size: int) -> None:
        count, used = db.execute(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM snapshots"
        ).fetchone()
        if count >= self.max_count:
            raise SnapshotRefused(
                ErrorCode.LIBRARY_FULL,
                f"the photo library is full ({count} photos): ask a teacher to delete some",
            )
        if used + size > self.max_bytes:
            raise SnapshotRefused(
                ErrorCode.LIBRARY_FULL,
                f"the photo library is full ({used // (1024 * 1024)} MB): "
                "ask a teacher to delete some",
            )

    @staticmethod
    def _check_budget(
        db: sqlite3.Connection, room: str, teacher: str | None, budget: RoomBudget, now: float
    ) -> None:
        where, values = _where(teacher if teacher is not None else EVERY_TEACHER, room)
        (kept,) = db.execute(f"SELECT COUNT(*) FROM snapshots{where}", values).fetchone()
        if kept >= budget.max_kept:
            raise SnapshotRefused(
                ErrorCode.ROOM_LIMIT,
                f"this class has {kept} photos: ask your teacher to delete some",
            )
        (recent,) = db.execute(
            f"SELECT COUNT(*) FROM snapshots{where} AND created_at > ?",
            (*values, iso_time(now - HOUR_S)),
        ).fetchone()
        if recent >= budget.per_hour:
            raise SnapshotRefused(
                ErrorCode.ROOM_LIMIT, f"this class took {recent} photos this hour: try again later"
            )

    def delete(self, snapshot_id: int, *, teacher: Scope) -> bool:
        """Remove one snapshot of `teacher`'s and its image; False when there is no such
        snapshot in that scope."""
        return self._delete_where(*self._one(snapshot_id, teacher)) == 1

    def delete_room(self, room: str, *, teacher: Scope) -> int:
        """Remove every photo of `room` in `teacher`'s scope; returns how many there were."""
        return self._delete_where(*_where(teacher, room))

    def delete_all(self) -> int:
        """Remove every snapshot and image; returns how many there were."""
        return self._delete_where(*_where(EVERY_TEACHER))

    def delete_older_than(self, age_s: float) -> int:
        """Remove the photos taken more than `age_s` seconds ago (by the store's clock)."""
        where, values = _where(EVERY_TEACHER)
        cutoff = iso_time(self.clock() - age_s)
        return self._delete_where(f"{where} AND created_at < ?", (*values, cutoff))

    def _delete_where(self, where: str, values: tuple[Any, ...]) -> int:
        with self._lock, self._db() as db:
            if db is None:
                return 0
            names = [row[0] for row in db.execute(f"SELECT image FROM snapshots{where}", values)]
            with db:
                db.execute(f"DELETE FROM snapshots{where}", values)
            for name in names:
                self._unlink(name)
        return len(names)

    # -- reading ---------------------------------------------------------------------------

    def list(
        self, limit: int = 50, offset: int = 0, *, teacher: Scope, room: str | None = None
    ) -> list[Snapshot]:
        """Newest first, only `teacher`'s (and only `room`'s when given)."""
        where, values = _where(teacher, room)
        return self._select(
            f"{where} ORDER BY id DESC LIMIT ? OFFSET ?", (*values, max(0, limit), max(0, offset))
        )

    def rooms(self, *, teacher: Scope) -> builtins.list[RoomPhotos]:
        """The rooms with photos in `teacher`'s scope, newest photo first."""
        where, values = _where(teacher)
        with self._lock, self._db() as db:
            if db is None:
                return []
            rows = db.execute(
                "SELECT room, teacher, COUNT(*), COALESCE(SUM(bytes), 0), MAX(created_at)"
                f" FROM snapshots{where} GROUP BY room, teacher ORDER BY MAX(id) DESC",
                values,
            ).fetchall()
        return [RoomPhotos(r[0], r[1], int(r[2]), int(r[3]), r[4]) for r in rows]

    def get(self, snapshot_id: int, *, teacher: Scope) -> Snapshot | None:
        found = self._select(*self._one(snapshot_id, teacher))
        return found[0] if found else None

    def image(self, snapshot_id: int, *, teacher: Scope) -> bytes | None:
        """The JPEG of a snapshot in `teacher`'s scope, None when there is none (or its file
        went missing)."""
        snapshot = self.get(snapshot_id, teacher=teacher)
        return None if snapshot is None else self.read_image(snapshot)

    def read_image(self, snapshot: Snapshot) -> bytes | None:
        try:
            return (self.images / snapshot.image).read_bytes()
        except FileNotFoundError:
            log.warning("snapshot %d: image %s is missing", snapshot.id, snapshot.image)
            return None

    def usage(self, *, teacher: Scope = EVERY_TEACHER, room: str | None = None) -> Usage:
        where, values = _where(teacher, room)
        with self._lock, self._db() as db:
            if db is None:
                return Usage(0, 0)
            count, used = db.execute(
                f"SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM snapshots{where}", values
            ).fetchone()
        return Usage(int(count), int(used))

    # -- internals -------------------------------------------------------------------------

    @staticmethod
    def _one(snapshot_id: int, teacher: Scope) -> tuple[str, tuple[Any, ...]]:
        where, values = _where(teacher)
        return f"{where} AND id = ?", (*values, snapshot_id)

    def _select(self, tail: str, values: tuple[Any, ...]) -> builtins.list[Snapshot]:
        with self._lock, self._db() as db:
            if db is None:
                return []
            rows = db.execute(f"SELECT {_COLUMNS} FROM snapshots{tail}", values).fetchall()
        return [_snapshot(row) for row in rows]

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
            _add_teacher_column(db)
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


def _add_teacher_column(db: sqlite3.Connection) -> None:
    """Libraries from before photos belonged to a class lack `teacher`: add it (NULL, so
    their photos stay visible to admins only)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(snapshots)")}
    if "teacher" not in columns:
        with db:
            db.execute("ALTER TABLE snapshots ADD COLUMN teacher TEXT")


def _snapshot(row: tuple[Any, ...]) -> Snapshot:
    snapshot_id, created, session, room, teacher, labels, objects, image, size = row
    return Snapshot(
        int(snapshot_id), created, session, room, teacher, json.loads(labels),
        json.loads(objects), image, int(size),
    )  # fmt: skip
