"""Replace a file in one step, so a reader (or a crash) sees the old file or the new one, never
half of one. Used for checkpoint records, the manifest, teacher accounts, TLS keys, snapshot
images and load-test reports."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600, fsync: bool = False) -> None:
    """Write `data` to a temporary file beside `path` (created with `mode`; private by
    default), flushed to disk first when `fsync`, then renamed onto `path`. Raises OSError; the
    temporary file never stays behind."""
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
