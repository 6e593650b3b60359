"""Hashes recorded at first fetch for manifest files that have no published sha256.

Some checkpoint files (Grounding DINO's config and tokenizer files) are pinned in the manifest
by revision only: nobody publishes their sha256, and these machines cannot download them to
compute one. `visionanything weights fetch` therefore records each such file's sha256, size and
URL in `recorded-hashes.json` beside the files the first time it sees them (trust on first use),
and every later check (`weights verify`, model loading) compares against that record, so a file
changed after its first fetch is reported corrupt. A record made for another URL (the manifest
moved to a new revision) marks the file stale, so the next fetch downloads it again.

`visionanything weights pin` copies the records into the manifest itself: run once on a machine
with the real downloads, it turns every `sha256: null` into a pinned hash to commit.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from inference.core.atomic_write import write_atomically

RECORD_FILE = "recorded-hashes.json"
_ABOUT = (
    "sha256 of manifest files that have no published hash, recorded when "
    "`visionanything weights fetch` first saw them; later checks compare against these."
)


class RecordError(RuntimeError):
    """The record file exists but cannot be read or written."""


@dataclass(frozen=True)
class RecordedHash:
    """What a file looked like when it was first fetched from `url`."""

    url: str
    size: int
    sha256: str
    recorded_at: str  # UTC, ISO 8601


def record_path(weights_dir: Path) -> Path:
    return weights_dir / RECORD_FILE


def load_records(weights_dir: Path) -> dict[str, RecordedHash]:
    """The records kept under `weights_dir`, keyed by manifest file name; {} when none yet."""
    path = record_path(weights_dir)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        files = raw["files"]
        return {
            str(name): RecordedHash(
                url=str(item["url"]),
                size=int(item["size"]),
                sha256=_checked_sha256(item["sha256"]),
                recorded_at=str(item.get("recorded_at", "")),
            )
            for name, item in files.items()
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RecordError(
            f"{path} is unreadable ({exc}); delete it and run `visionanything weights fetch` "
            "to record the hashes again"
        ) from exc


def save_records(weights_dir: Path, new: Mapping[str, RecordedHash]) -> None:
    """Merge `new` into the record file, written atomically (a crash leaves the old one)."""
    if not new:
        return
    records = {**load_records(weights_dir), **new}
    payload = {
        "about": _ABOUT,
        "files": {name: asdict(records[name]) for name in sorted(records)},
    }
    path = record_path(weights_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json_bytes(payload), mode=0o644)
    except OSError as exc:
        raise RecordError(f"cannot write {path}: {exc}") from exc


def json_bytes(payload: object) -> bytes:
    """`payload` as indented UTF-8 JSON with a final newline (the manifest's own style)."""
    return (json.dumps(payload, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def new_record(url: str, size: int, sha256: str) -> RecordedHash:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return RecordedHash(url=url, size=size, sha256=sha256, recorded_at=stamp)


def _checked_sha256(value: object) -> str:
    text = str(value).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"sha256 {value!r} is not 64 hex digits")
    return text
