"""`PhotoLibrarySettings`: where the 📸 photo library lives and what it may hold
(`stream.app.ServerConfig.photo_library`; the library itself is `stream.photos.snapshots`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stream.photos.snapshots import SnapshotPolicy


@dataclass(frozen=True)
class PhotoLibrarySettings:
    """The 📸 photo library (SQLite + JPEG files) that snapshots are saved into.

    directory               where it lives; None: the default place
                            ($VISIONANYTHING_DATA_DIR/snapshots or
                            ~/.local/share/visionanything/snapshots)
    per_session_per_minute  📸 presses saved per phone per minute; more get `snapshot_limit`
                            (0: no limit)
    max_count, max_bytes    the library's caps: past them new photos are refused
    policy                  retention and each room's budget
                            (`stream.photos.snapshots.SnapshotPolicy`)
    """

    directory: Path | None = None
    per_session_per_minute: int = 6
    max_count: int = 1000
    max_bytes: int = 500 * 1024 * 1024
    policy: SnapshotPolicy = field(default_factory=SnapshotPolicy)

    def __post_init__(self) -> None:
        if self.per_session_per_minute < 0:
            raise ValueError(
                f"per_session_per_minute must be 0 or more, got {self.per_session_per_minute}"
            )
        if self.max_count < 1 or self.max_bytes < 1:
            raise ValueError("the library's max_count and max_bytes must be positive")
