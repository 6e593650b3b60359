"""The size bound of the exported-model-graph cache (OpenVINO and ONNX graphs on disk).

What is bounded: the total apparent size (sum of file sizes) of every entry under the cache
root (`default_cache_dir()`: `$VISIONANYTHING_CACHE_DIR` or ~/.cache/visionanything). An entry
is one directory per exported graph:

- `<root>/mobile_sam_encoder/<runtime>/<key>/`: the MobileSAM encoder (`encoder_runtimes`)
- `<root>/grounding_dino_openvino/<key>/`: the Grounding DINO image side (`detector_runtime`)

plus temporary directories (`.<key>.*`, beside the entries) that a killed export left behind,
once they are a day old. Anything else under the root is not ours and is left alone.

The bound: `max_bytes` where given, else `$VISIONANYTHING_CACHE_MAX_MB` (MB = 2**20 bytes),
else 2048 MB.

Every entry holds its files and a `meta.json` of their sha256s (`write_checked_entry`); a
loader checks them (`verify_entry`) and rebuilds an entry that fails.

How: an entry's last use is its directory's mtime. `write_entry` (the writers' one atomic write
path) sets it when an entry is written and `reading` when one is loaded; right after each write,
`evict` deletes least-recently-used entries until the total is under the bound, never the one
just written (so one entry larger than the bound stays, alone).

Sharing the cache between threads and processes: a loader holds a shared `flock` on the entry
directory while it reads it into memory (`reading`); eviction takes an exclusive lock without
waiting and skips an entry it cannot lock. flock locks belong to open file descriptions, so this
holds between threads of one process as between processes. The other races are benign: an
entry removed between a loader's existence check and its lock fails to load and is rebuilt
(the loaders already rebuild a broken entry), two evictors may each remove one (a bit early),
and a clock or mtime off by a little evicts a bit early or late. Files are only ever renamed
into place or unlinked, never rewritten, so no reader sees half a file (on Linux a file unlinked
while memory-mapped, as OpenVINO maps model.bin, stays readable until unmapped).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

MAX_ENV = "VISIONANYTHING_CACHE_MAX_MB"
DEFAULT_MAX_MB = 2048
MB = 1 << 20
ENCODER_SUBDIR = "mobile_sam_encoder"
DETECTOR_SUBDIR = "grounding_dino_openvino"
STALE_TEMPORARY_S = 24 * 3600  # an export takes minutes; a day-old temporary is an orphan
# the root's subdirectories we own → directory levels from there down to an entry
_LAYOUT = {ENCODER_SUBDIR: 2, DETECTOR_SUBDIR: 1}


@dataclass(frozen=True)
class CacheEntry:
    """One exported graph on disk.

    kind:       "mobile_sam_encoder/<runtime>" or "grounding_dino_openvino"
    key:        the entry's directory name (a temporary's starts with ".")
    path:       the entry's directory
    size_bytes: the sum of its files' sizes
    last_used:  when it was last written or loaded (its directory's mtime, Unix seconds)
    """

    kind: str
    key: str
    path: Path
    size_bytes: int
    last_used: float


@dataclass
class Scan:
    """Every entry under a cache root, and what could not be read (messages, never raised)."""

    entries: list[CacheEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.entries)


@dataclass
class ClearResult:
    """What `clear` did: removed entries, (entry, reason) pairs it could not remove, the bytes
    freed (partly removed entries included) and what could not be read."""

    removed: list[CacheEntry] = field(default_factory=list)
    failed: list[tuple[CacheEntry, str]] = field(default_factory=list)
    freed_bytes: int = 0
    problems: list[str] = field(default_factory=list)


def max_bytes_from_env() -> int:
    """The bound in bytes: `$VISIONANYTHING_CACHE_MAX_MB` when it is a number ≥ 0, else 2048 MB
    (a bad value is logged, never raised: a cache setting must not stop the server)."""
    text = os.environ.get(MAX_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_MB * MB
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = math.nan
    if not math.isfinite(megabytes) or megabytes < 0:
        log.warning("%s=%r is not a size in MB; using %d", MAX_ENV, text, DEFAULT_MAX_MB)
        return DEFAULT_MAX_MB * MB
    return int(megabytes * MB)


def cache_root(directory: Path) -> Path | None:
    """The cache root an entry directory lies under, by the layout above; None for a path
    outside it."""
    parents = directory.parents
    for subdir, levels in _LAYOUT.items():
        if len(parents) > levels and parents[levels - 1].name == subdir:
            return parents[levels]
    return None


# -- listing --------------------------------------------------------------------------------


def scan(root: Path, *, now: float | None = None) -> Scan:
    """Every entry under `root` (any order). Unreadable or unexpected things are skipped and
    described in `problems`; nothing raises. `now` (default: the clock) dates temporaries."""
    found = Scan()
    clock = time.time() if now is None else now
    for subdir, levels in _LAYOUT.items():
        _collect(root / subdir, subdir, levels, clock, found)
    return found


def _collect(folder: Path, kind: str, levels: int, now: float, found: Scan) -> None:
    for item in _children(folder, found):
        try:
            if not item.is_dir(follow_symlinks=False):
                continue  # a stray file or a link: not an entry we wrote
            mtime = item.stat(follow_symlinks=False).st_mtime
        except OSError as exc:
            found.problems.append(f"cannot read {item.path}: {_reason(exc)}")
            continue
        path = Path(item.path)
        if levels > 1:
            if not item.name.startswith("."):
                _collect(path, f"{kind}/{item.name}", levels - 1, now, found)
        elif not item.name.startswith(".") or now - mtime > STALE_TEMPORARY_S:
            found.entries.append(CacheEntry(kind, item.name, path, _size(path, found), mtime))


def _children(folder: Path, found: Scan) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as items:
            return list(items)
    except FileNotFoundError:
        return []  # nothing of this kind cached yet
    except OSError as exc:
        found.problems.append(f"cannot read {folder}: {_reason(exc)}")
        return []


def _size(directory: Path, found: Scan) -> int:
    total = 0
    pending = [directory]
    while pending:
        for item in _children(pending.pop(), found):
            try:
                if item.is_dir(follow_symlinks=False):
                    pending.append(Path(item.path))
                else:
                    total += item.stat(follow_symlinks=False).st_size
            except OSError as exc:
                found.problems.append(f"cannot read {item.path}: {_reason(exc)}")
    return total


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# -- use and write --------------------------------------------------------------------------


def touch(directory: Path, when: float | None = None) -> None:
    """Record a use of an entry now (or at `when`, Unix seconds). A cache we may not write
    (read-only, another owner) keeps its old date: it can be evicted a bit early, no more."""
    with contextlib.suppress(OSError):
        os.utime(directory, None if when is None else (when, when))


@contextlib.contextmanager
def reading(directory: Path) -> Iterator[None]:
    """Mark an entry used and hold it against eviction, by any thread or process, while the
    block reads it into memory. Never raises for the entry itself: when it is missing or cannot
    be locked the block runs unguarded, and the load in it fails (and rebuilds) or succeeds on
    its own."""
    try:
        descriptor: int | None = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        descriptor = None
    try:
        if descriptor is not None:
            with contextlib.suppress(OSError):  # e.g. a file system without flock
                fcntl.flock(descriptor, fcntl.LOCK_SH)  # waits out an eviction in progress
        touch(directory)
        yield
    finally:
        if descriptor is not None:
            os.close(descriptor)  # releases the lock


def write_entry(
    directory: Path, fill: Callable[[Path], None], *, max_bytes: int | None = None
) -> None:
    """Write one entry atomically, then keep the cache under its bound.

    fill(temporary) writes the entry's files into a new temporary directory beside
    `directory`, which is then renamed into place; when another process put the entry there
    first, theirs is kept. The entry is then marked used and `evict` runs on its cache root
    (`cache_root`), keeping it. Eviction problems are logged, never raised.
    """
    directory.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        fill(temporary)
        try:
            os.replace(temporary, directory)
        except OSError:  # another process put it there first: keep theirs
            if not directory.is_dir():
                raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    touch(directory)
    root = cache_root(directory)
    if root is None:
        log.warning("graph cache: %s lies outside the cache layout; not bounding it", directory)
        return
    try:
        evict(root, keep=directory, max_bytes=max_bytes)
    except Exception:  # a full or odd cache must never cost the model it just wrote
        log.warning("graph cache: evicting from %s failed", root, exc_info=True)


META_FILE = "meta.json"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_checked_entry(
    directory: Path,
    files: Sequence[str],
    fill: Callable[[Path], None],
    *,
    max_bytes: int | None = None,
) -> None:
    """`write_entry`, with a `meta.json` recording the sha256 of each of `files` (which
    fill(temporary) must write) for `verify_entry`."""

    def fill_and_record(temporary: Path) -> None:
        fill(temporary)
        meta = {"sha256": {name: file_sha256(temporary / name) for name in files}}
        (temporary / META_FILE).write_text(json.dumps(meta))

    write_entry(directory, fill_and_record, max_bytes=max_bytes)


def verify_entry(directory: Path, files: Sequence[str]) -> None:
    """Raise (ValueError, OSError, KeyError) unless each of `files` matches the sha256
    `write_checked_entry` recorded."""
    recorded = json.loads((directory / META_FILE).read_text())
    for name in files:
        if file_sha256(directory / name) != recorded["sha256"][name]:
            raise ValueError(f"{name} does not match its recorded sha256")


# -- eviction -------------------------------------------------------------------------------


def evict(
    root: Path, *, keep: Path | None = None, max_bytes: int | None = None
) -> list[CacheEntry]:
    """Delete least-recently-used entries under `root` until their total is at most
    `max_bytes` (default `max_bytes_from_env()`), never `keep` nor an entry being read
    (`reading`). Returns the entries deleted, oldest first."""
    bound = max_bytes_from_env() if max_bytes is None else max_bytes
    found = scan(root)
    total = found.total_bytes
    kept = _resolved(keep) if keep is not None else None
    evicted: list[CacheEntry] = []
    for entry in sorted(found.entries, key=lambda entry: entry.last_used):
        if total <= bound:
            break
        if kept is not None and _resolved(entry.path) == kept:
            continue
        problem = _remove(entry.path)
        if problem is not None:
            log.info("graph cache: keeping %s over the bound (%s)", entry.path, problem)
            continue
        total -= entry.size_bytes
        evicted.append(entry)
        log.info(
            "graph cache: evicted %s %s (%.0f MB, last used %s) to stay under %.0f MB",
            entry.kind,
            entry.key,
            entry.size_bytes / MB,
            time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used)),
            bound / MB,
        )
    return evicted


def clear(
    root: Path, *, older_than_s: float | None = None, now: float | None = None
) -> ClearResult:
    """Delete every entry under `root`, or those last used more than `older_than_s` seconds
    before `now` (default: the clock). An entry being read, or one that cannot be deleted, is
    reported in `failed`; nothing raises."""
    clock = time.time() if now is None else now
    found = scan(root, now=clock)
    result = ClearResult(problems=found.problems)
    for entry in sorted(found.entries, key=lambda entry: entry.last_used):
        if older_than_s is not None and clock - entry.last_used <= older_than_s:
            continue
        problem = _remove(entry.path)
        if problem is None:
            result.removed.append(entry)
            result.freed_bytes += entry.size_bytes
        else:
            result.failed.append((entry, problem))
            left = _size(entry.path, Scan()) if entry.path.exists() else 0
            result.freed_bytes += max(0, entry.size_bytes - left)
    return result


def _remove(directory: Path) -> str | None:
    """Delete an entry unless someone is reading it. None when it is gone, else why not."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None  # another process removed it first
    except OSError as exc:
        return _reason(exc)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return "in use (being loaded)"
        except OSError:
            pass  # no flock here: remove it anyway; a reader caught out rebuilds it
        shutil.rmtree(directory)
    except OSError as exc:
        if not os.path.lexists(directory):
            return None
        return f"{_reason(exc)}: {exc.filename}" if exc.filename else _reason(exc)
    finally:
        os.close(descriptor)
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()
