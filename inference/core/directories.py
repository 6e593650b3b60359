"""Where VisionAnything keeps things on disk: the one place that says so.

- the cache (exported model graphs, safe to delete): `$VISIONANYTHING_CACHE_DIR`, else
  `$XDG_CACHE_HOME/visionanything` (~/.cache/visionanything);
- the data (the teachers file, the photo library: kept): `$VISIONANYTHING_DATA_DIR`, else
  ~/.local/share/visionanything.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "VISIONANYTHING_CACHE_DIR"
DATA_DIR_ENV = "VISIONANYTHING_DATA_DIR"


def default_cache_dir() -> Path:
    """`$VISIONANYTHING_CACHE_DIR`, else `$XDG_CACHE_HOME/visionanything` (~/.cache/...)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "visionanything"


def default_data_dir() -> Path:
    """`$VISIONANYTHING_DATA_DIR`, else ~/.local/share/visionanything."""
    explicit = os.environ.get(DATA_DIR_ENV)
    return Path(explicit) if explicit else Path.home() / ".local" / "share" / "visionanything"
