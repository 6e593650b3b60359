"""Write verified hashes and sizes into the manifest, so every file is pinned by sha256.

`visionanything weights pin` runs this after `weights fetch` on a machine that has the real
files: each `sha256: null` becomes the hash recorded at first fetch, and each `size: null` of a
verified file becomes its size. It changes nothing unless every file can be pinned.
"""

from __future__ import annotations

import json
import stat
from dataclasses import dataclass
from pathlib import Path

from inference.core.atomic_write import write_atomically
from inference.weights.checkpoints import CheckpointError, FileState, Manifest, ManifestEntry
from inference.weights.recorded_hashes import json_bytes


@dataclass(frozen=True)
class PinChange:
    """The values one file gets in the manifest; None = left as it was."""

    file: str
    sha256: str | None
    size: int | None


@dataclass(frozen=True)
class PinPlan:
    changes: tuple[PinChange, ...]
    problems: tuple[str, ...]  # files that cannot be pinned, and why


def plan_pins(manifest: Manifest) -> PinPlan:
    """What pinning would change; checks (and hashes) every file except those of optional
    groups that were never fetched; writes nothing."""
    changes: list[PinChange] = []
    problems: list[str] = []
    # an optional group nobody fetched (another detector) is not a problem: skip it
    absent = {group for group in manifest.optional_groups() if not manifest.group_present(group)}
    for entry in manifest.entries:
        if entry.group in absent or (entry.sha256 is not None and entry.size is not None):
            continue
        status = manifest.check(entry)
        if status.state is not FileState.OK:
            why = status.detail
            if status.state is FileState.UNPINNED:
                why += "; run `visionanything weights fetch` first to record its hash"
            problems.append(f"{entry.file} is {status.state.value} ({why})")
            continue
        changes.append(_change_for(entry, manifest))
    return PinPlan(tuple(changes), tuple(problems))


def _change_for(entry: ManifestEntry, manifest: Manifest) -> PinChange:
    size = entry.path(manifest.weights_dir).stat().st_size
    sha256 = None
    if entry.sha256 is None:
        recorded = manifest.recorded[entry.file]  # an OK unpinned file has a matching record
        sha256 = recorded.sha256
    return PinChange(entry.file, sha256, size if entry.size is None else None)


def write_pins(manifest: Manifest, changes: tuple[PinChange, ...]) -> Path:
    """Rewrite the manifest file with `changes` applied, atomically; keeps every other key."""
    if manifest.path is None:
        raise CheckpointError("this manifest was not read from a file; nothing to rewrite")
    path = manifest.path
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        by_file = {str(item["file"]): item for item in raw["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"cannot reread {path}: {exc}") from exc
    for change in changes:
        item = by_file[change.file]
        if change.sha256 is not None:
            item["sha256"] = change.sha256
        if change.size is not None:
            item["size"] = change.size
    try:
        # keep the manifest's permissions (a temporary file alone would make it private)
        write_atomically(path, json_bytes(raw), mode=stat.S_IMODE(path.stat().st_mode))
    except OSError as exc:
        raise CheckpointError(f"cannot write {path}: {exc}") from exc
    return path
