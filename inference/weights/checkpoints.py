"""Checkpoint manifest: which files the real models need, where they come from, how to check them.

Nothing here downloads anything; `inference.weights.fetch` does that on request only
(`visionanything weights fetch`). Loading code calls `require()`, which fails with one clear
message naming the file and the fetch command when a file is missing or corrupt.

A file the manifest pins by revision only (`sha256: null`) is checked against the hash recorded
when it was first fetched (`inference.weights.recorded_hashes`), once there is one.

Optional groups (`"optional": true`: a second detector one may choose) are fetched only when
named (`weights fetch --only GROUP`) and checked by `check_all` only once some of their files are
present, so a user who never chose them is not told to download them. A file with
`"revision": null` and no sha256 waits for its commit to be pinned: `weights fetch` refuses it.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from inference.weights.recorded_hashes import RecordedHash, RecordError, load_records

FETCH_COMMAND = "visionanything weights fetch"
WEIGHTS_DIR_ENV = "VISIONANYTHING_WEIGHTS"
_HASH_CHUNK = 4 << 20


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or the manifest itself is unusable."""


class FileState(enum.Enum):
    OK = "ok"
    MISSING = "missing"
    CORRUPT = "corrupt"
    UNPINNED = "unpinned"  # present, but neither the manifest nor a first fetch gave a hash


@dataclass(frozen=True)
class ManifestEntry:
    """One file: `file` is relative to the weights directory; `group` names the model it serves.

    revision: the commit (or tag) `url` is pinned to; "" when the manifest names none yet.
    optional: its group is fetched only on request (see the module docstring).
    """

    group: str
    file: str
    url: str
    revision: str
    size: int | None
    sha256: str | None
    optional: bool = False

    @property
    def awaits_pin(self) -> bool:
        """Neither a sha256 nor a revision pins this file: nothing may download it yet."""
        return self.sha256 is None and not self.revision

    def path(self, weights_dir: Path) -> Path:
        return weights_dir / self.file


@dataclass(frozen=True)
class FileStatus:
    entry: ManifestEntry
    path: Path
    state: FileState
    detail: str


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest plus the directory its files live in.

    `recorded` holds the hashes recorded at first fetch for files without a published sha256,
    keyed by `ManifestEntry.file`; `path` is the manifest file it was read from.
    """

    entries: tuple[ManifestEntry, ...]
    weights_dir: Path
    recorded: Mapping[str, RecordedHash] = field(default_factory=dict)
    path: Path | None = None

    @classmethod
    def load(cls, path: Path | None = None, weights_dir: Path | None = None) -> Manifest:
        """Read `path` (default: the repository's weights/manifest.json).

        Files live beside the manifest unless `weights_dir` says otherwise.
        """
        path = Path(path) if path is not None else default_manifest_path()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            entries = tuple(_parse_entry(item) for item in raw["files"])
        except FileNotFoundError as exc:
            raise CheckpointError(f"checkpoint manifest not found: {path}") from exc
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"checkpoint manifest {path} is malformed: {exc}") from exc
        directory = Path(weights_dir) if weights_dir is not None else path.parent
        try:
            recorded = load_records(directory)
        except RecordError as exc:
            raise CheckpointError(str(exc)) from exc
        return cls(entries, directory, recorded, path)

    def check(self, entry: ManifestEntry) -> FileStatus:
        """`check_file` for one of this manifest's entries, with its recorded hash if any."""
        return check_file(entry, self.weights_dir, self.recorded.get(entry.file))

    def group(self, group: str) -> tuple[ManifestEntry, ...]:
        entries = tuple(e for e in self.entries if e.group == group)
        if not entries:
            raise CheckpointError(f"the checkpoint manifest lists no files for {group!r}")
        return entries

    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.group for e in self.entries))

    def optional_groups(self) -> tuple[str, ...]:
        """Groups fetched only on request: those whose entries are all `optional`."""
        return tuple(g for g in self.groups() if all(e.optional for e in self.group(g)))

    def group_present(self, group: str) -> bool:
        """Whether any file of `group`, or a fetch's partial download of one
        (`weights_fetch.part_path`), is on disk."""
        for entry in self.group(group):
            path = entry.path(self.weights_dir)
            if path.exists() or path.with_name(path.name + ".part").exists():
                return True
        return False

    def group_dir(self, group: str) -> Path:
        """The directory that holds all files of `group` (their common parent)."""
        parents = {e.path(self.weights_dir).parent for e in self.group(group)}
        return Path(os.path.commonpath([str(p) for p in parents]))


def default_manifest_path() -> Path:
    """`$VISIONANYTHING_WEIGHTS/manifest.json` if set, else the repository's weights/ folder."""
    root = os.environ.get(WEIGHTS_DIR_ENV)
    if root:
        return Path(root) / "manifest.json"
    return Path(__file__).resolve().parents[2] / "weights" / "manifest.json"


def _parse_entry(item: dict[str, object]) -> ManifestEntry:
    size = item.get("size")
    sha256 = item.get("sha256")
    revision = item.get("revision")
    optional = item.get("optional", False)
    file = str(item["file"])
    if Path(file).is_absolute() or ".." in Path(file).parts:
        raise ValueError(f"file {file!r} must be a relative path inside the weights directory")
    if sha256 is not None and (len(str(sha256)) != 64 or not _is_hex(str(sha256))):
        raise ValueError(f"sha256 of {file} is not 64 hex digits")
    if not isinstance(optional, bool):
        raise ValueError(f"optional of {file} must be true or false, got {optional!r}")
    return ManifestEntry(
        group=str(item["group"]),
        file=file,
        url=str(item["url"]),
        revision=str(revision) if revision is not None else "",
        size=int(size) if isinstance(size, int | str) else None,
        sha256=str(sha256).lower() if sha256 is not None else None,
        optional=optional,
    )


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def check_file(
    entry: ManifestEntry, weights_dir: Path, recorded: RecordedHash | None = None
) -> FileStatus:
    """Size first (cheap, catches truncation), then sha256 when the manifest pins one, else
    against `recorded` (the hash recorded at first fetch) when there is one."""
    path = entry.path(weights_dir)
    if not path.is_file():
        return FileStatus(entry, path, FileState.MISSING, "not downloaded")
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        what = "truncated" if size < entry.size else "too large"
        return FileStatus(
            entry, path, FileState.CORRUPT, f"{what}: {size} bytes, expected {entry.size}"
        )
    if entry.sha256 is None and recorded is not None:
        return _check_against_record(entry, path, size, recorded)
    if entry.sha256 is None:
        return FileStatus(entry, path, FileState.UNPINNED, f"{size} bytes, no pinned sha256")
    actual = sha256_of(path)
    if actual != entry.sha256:
        return FileStatus(
            entry, path, FileState.CORRUPT, f"sha256 {actual[:12]}…, expected {entry.sha256[:12]}…"
        )
    return FileStatus(entry, path, FileState.OK, f"{size} bytes, sha256 matches")


def _check_against_record(
    entry: ManifestEntry, path: Path, size: int, recorded: RecordedHash
) -> FileStatus:
    if recorded.url != entry.url:
        return FileStatus(
            entry,
            path,
            FileState.CORRUPT,
            f"stale: fetched from {recorded.url}, the manifest now names {entry.url}",
        )
    actual = sha256_of(path) if size == recorded.size else None
    if actual != recorded.sha256:
        found = f"sha256 {actual[:12]}…" if actual is not None else f"{size} bytes"
        return FileStatus(
            entry,
            path,
            FileState.CORRUPT,
            f"changed since its first fetch on {recorded.recorded_at}: {found}, "
            f"recorded {recorded.size} bytes, sha256 {recorded.sha256[:12]}…",
        )
    return FileStatus(
        entry,
        path,
        FileState.OK,
        f"{size} bytes, sha256 matches the hash recorded at first fetch ({recorded.recorded_at})",
    )


def check_all(manifest: Manifest, groups: Iterable[str] | None = None) -> list[FileStatus]:
    """The status of every file of `groups`; by default of every group except optional ones
    with no file on disk (never chosen, so not missing)."""
    if groups is None:
        skipped = {g for g in manifest.optional_groups() if not manifest.group_present(g)}
        wanted = set(manifest.groups()) - skipped
    else:
        wanted = set(groups)
    return [manifest.check(e) for e in manifest.entries if e.group in wanted]


def require(manifest: Manifest, group: str) -> Path:
    """Check every file of `group`; return the directory holding them or raise `CheckpointError`.

    The message names the bad file(s) and the command that repairs them.
    """
    entries = manifest.group(group)
    statuses = [manifest.check(e) for e in entries]
    problems = [s for s in statuses if s.state in (FileState.MISSING, FileState.CORRUPT)]
    if problems:
        lines = "; ".join(f"{s.path} is {s.state.value} ({s.detail})" for s in problems)
        optional = group in manifest.optional_groups()
        command = f"{FETCH_COMMAND} --only {group}" if optional else FETCH_COMMAND
        if any(s.entry.awaits_pin for s in problems):
            repair = (
                f"The manifest ({manifest.path or 'in memory'}) pins no commit for {group} "
                f'yet, so `{command}` refuses to download it: set the files\' "revision" '
                "(and the commit in their URLs) to a verified commit of the repository they "
                f"come from, then run `{command}`; or put the files in {manifest.group_dir(group)}"
                " yourself"
            )
        else:
            repair = f"Run `{command}` to download it"
        raise CheckpointError(
            f"cannot load {group}: {lines}. {repair}, "
            "or use `--models random` to run with random weights."
        )
    return manifest.group_dir(group)
