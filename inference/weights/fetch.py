"""Download the checkpoint files a manifest lists: resumable, verified, atomically installed.

Only `visionanything weights fetch` calls this; nothing downloads implicitly at run time.

Each file is downloaded to `<file>.part` beside its final path. An interrupted transfer keeps
the `.part`, and the next attempt (a retry, or a later fetch) asks for the rest with an HTTP
`Range` header. Once complete, the `.part` is checked against the pinned size and sha256 and
only then renamed onto the final path, so the final file never exists half-written.

A file the manifest pins by revision only (`sha256: null`) gets its hash recorded the first
time a fetch sees it (`inference.weights.recorded_hashes`); later downloads of it must match. A file
pinned by neither (`revision: null`, `ManifestEntry.awaits_pin`) is never downloaded: its URL
could serve other bytes tomorrow, and nothing would notice.

Without named groups a fetch takes every group except the optional ones (the detector one did
not choose); `--only GROUP` fetches those.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from tqdm import tqdm  # type: ignore[import-untyped, unused-ignore]

from inference.weights.checkpoints import (
    CheckpointError,
    FileState,
    Manifest,
    ManifestEntry,
    check_file,
    sha256_of,
)
from inference.weights.recorded_hashes import RecordedHash, RecordError, new_record, save_records

log = logging.getLogger(__name__)

Outcome = Literal["skipped", "downloaded", "failed"]

ALLOWED_SCHEMES = frozenset({"http", "https"})
PART_SUFFIX = ".part"
_CHUNK = 256 << 10
_USER_AGENT = "visionanything-weights-fetch/1"
# Server-side trouble worth another attempt; every other HTTP error is final.
_TRANSIENT_HTTP_CODES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


@dataclass(frozen=True)
class FetchResult:
    """What happened to one manifest entry; `bytes_downloaded` counts this call's bytes only.

    `recorded` is the hash this call recorded for a file without a published sha256.
    """

    entry: ManifestEntry
    path: Path
    outcome: Outcome
    detail: str
    bytes_downloaded: int
    recorded: RecordedHash | None = None


class UrlRefusedError(ValueError):
    """A URL (or a redirect target) is malformed or uses a scheme other than http(s), or a
    redirect goes from https down to http."""


class _FatalDownloadError(Exception):
    """The download cannot succeed by trying again (404, refused URL, ...)."""


class _RetryableDownloadError(Exception):
    """The transfer broke off; the `.part` is kept and another attempt resumes it."""

    def __init__(self, reason: str, received: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.received = received  # bytes this attempt added to the `.part` before it broke


class _HttpOnlyRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects like urllib does, except to anything that is not http(s) and from
    https down to plain http (see `check_redirect`)."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        check_redirect(req.full_url, newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_redirect(from_url: str, to_url: str) -> None:
    """Raise `UrlRefusedError` unless a redirect from `from_url` to `to_url` may be followed.

    The target must be a well-formed http(s) URL (`ensure_http_url`), and a redirect must not
    leave https for plain http: that would let anyone on the path tamper with the download (an
    unpinned file has no sha256 to catch it). http to https, and https to https, are fine.
    """
    ensure_http_url(to_url)
    source = urllib.parse.urlsplit(from_url).scheme.lower()
    target = urllib.parse.urlsplit(to_url).scheme.lower()
    if source == "https" and target != "https":
        raise UrlRefusedError(
            f"refusing the redirect from {from_url!r} to {to_url!r}: "
            "it downgrades https to plain http"
        )


def ensure_http_url(url: str) -> None:
    """Raise `UrlRefusedError` unless `url` is a well-formed http:// or https:// URL."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what validates it
    except ValueError as exc:
        raise UrlRefusedError(f"refusing to download {url!r}: malformed URL ({exc})") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise UrlRefusedError(f"refusing to download {url!r}: only http and https URLs are allowed")
    if not parts.hostname:
        raise UrlRefusedError(f"refusing to download {url!r}: the URL names no host")


def part_path(path: Path) -> Path:
    """Where the download of `path` accumulates until it is verified."""
    return path.with_name(path.name + PART_SUFFIX)


def fetch(
    manifest: Manifest,
    groups: Iterable[str] | None = None,
    *,
    progress: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
    retry_delay: float = 1.0,
) -> list[FetchResult]:
    """Download every file of `groups` (default: all but the optional groups,
    `Manifest.optional_groups`) that is not already present and valid.

    A present file that checks OK, or is present and unpinned, is skipped without a request.
    `timeout` bounds each connect and each read; a broken transfer is resumed up to `retries`
    more times, waiting `retry_delay * attempt` seconds in between. A per-file failure is
    reported in its `FetchResult` and the other files go on; only an unknown group, or a record
    file that cannot be written, raises (`CheckpointError`).

    Files without a published sha256 get their hash recorded beside them the first time a
    fetch sees them, whether downloaded or already present.
    """
    if groups is None:
        optional = set(manifest.optional_groups())
        entries = tuple(e for e in manifest.entries if e.group not in optional)
    else:
        wanted = list(dict.fromkeys(groups))
        for group in wanted:
            manifest.group(group)  # raises CheckpointError for an unknown group
        entries = tuple(e for e in manifest.entries if e.group in wanted)
    opener = _build_opener()
    fetcher = _FileFetcher(opener, progress=progress, timeout=timeout)
    results = [
        fetcher.fetch(
            entry,
            manifest.weights_dir,
            manifest.recorded.get(entry.file),
            retries=retries,
            retry_delay=retry_delay,
        )
        for entry in entries
    ]
    try:
        save_records(
            manifest.weights_dir,
            {r.entry.file: r.recorded for r in results if r.recorded is not None},
        )
    except RecordError as exc:
        raise CheckpointError(str(exc)) from exc
    return results


def _build_opener() -> urllib.request.OpenerDirector:
    # Built by hand rather than with build_opener() so file:, ftp: and data: handlers are
    # not even installed: the URL checks are then not the only line of defence.
    opener = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        _HttpOnlyRedirectHandler(),
        urllib.request.HTTPErrorProcessor(),
    ]
    if hasattr(urllib.request, "HTTPSHandler"):
        handlers.append(urllib.request.HTTPSHandler())
    for handler in handlers:
        opener.add_handler(handler)
    return opener


class _FileFetcher:
    """Downloads one manifest entry at a time with a shared opener and settings."""

    def __init__(
        self, opener: urllib.request.OpenerDirector, *, progress: bool, timeout: float
    ) -> None:
        self._opener = opener
        self._progress = progress
        self._timeout = timeout

    def fetch(
        self,
        entry: ManifestEntry,
        weights_dir: Path,
        recorded: RecordedHash | None,
        *,
        retries: int,
        retry_delay: float,
    ) -> FetchResult:
        path = entry.path(weights_dir)
        status = check_file(entry, weights_dir, recorded)
        if status.state is FileState.OK:
            return FetchResult(entry, path, "skipped", f"already present: {status.detail}", 0)
        if status.state is FileState.UNPINNED:
            try:
                found = new_record(entry.url, path.stat().st_size, sha256_of(path))
            except OSError as exc:
                return FetchResult(entry, path, "failed", f"{entry.file}: {exc}", 0)
            return FetchResult(
                entry,
                path,
                "skipped",
                f"already present: {found.size} bytes; recorded its sha256 {found.sha256[:12]}…",
                0,
                found,
            )
        if entry.awaits_pin:
            return FetchResult(
                entry,
                path,
                "failed",
                f"{entry.file}: not downloaded: the manifest pins neither a commit nor a sha256 "
                'for it, so nothing could check what arrives. Set its "revision" and the '
                f"commit in its URL ({entry.url}) to a verified commit first",
                0,
            )

        received = 0
        try:
            ensure_http_url(entry.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            part = part_path(path)
            with self._progress_bar(entry) as bar:
                attempt = 0
                while True:
                    try:
                        received += self._download_attempt(entry, part, bar)
                        break
                    except _RetryableDownloadError as exc:
                        received += exc.received
                        attempt += 1
                        if attempt > retries:
                            kept = _size_of(part)
                            resumable = (
                                f", kept {kept} bytes in {part.name} to resume" if kept else ""
                            )
                            raise _FatalDownloadError(
                                f"{exc.reason}; gave up after {attempt} attempt(s){resumable}"
                            ) from exc
                        log.info("%s: %s; retry %d of %d", entry.file, exc.reason, attempt, retries)
                        time.sleep(retry_delay * attempt)
            detail, first = _verify_part(entry, part, recorded)
            _install(part, path)
        # OSError here is local trouble (permissions, disk full) and ValueError a URL urllib
        # rejects: network errors were already turned into the download errors above.
        except (_FatalDownloadError, ValueError, OSError) as exc:
            return FetchResult(entry, path, "failed", f"{entry.file}: {exc}", received)
        return FetchResult(entry, path, "downloaded", detail, received, first)

    def _progress_bar(self, entry: ManifestEntry) -> tqdm:
        return tqdm(
            desc=entry.file,
            total=entry.size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=sys.stderr,
            disable=not self._progress,
            leave=True,
        )

    def _download_attempt(self, entry: ManifestEntry, part: Path, bar: tqdm) -> int:
        """Bring `part` up to the full file, resuming what is there; return bytes received.

        Raises `_RetryableDownloadError` (carrying the bytes received so far) when the
        transfer breaks off, `_FatalDownloadError` when trying again is futile.
        """
        offset = _size_of(part)
        if entry.size is not None:
            if offset == entry.size:
                return 0  # a previous run got every byte; verification decides the rest
            if offset > entry.size:
                part.unlink()
                offset = 0

        request = urllib.request.Request(entry.url, headers={"User-Agent": _USER_AGENT})
        if offset:
            request.add_header("Range", f"bytes={offset}-")
        try:
            response = self._opener.open(request, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code == 416 and offset:
                return _handle_unsatisfiable_range(part, offset, exc.headers.get("Content-Range"))
            reason = f"HTTP {exc.code} {exc.reason} from {entry.url}"
            if exc.code in _TRANSIENT_HTTP_CODES:
                raise _RetryableDownloadError(reason) from exc
            raise _FatalDownloadError(reason) from exc
        except http.client.InvalidURL as exc:
            raise _FatalDownloadError(f"invalid URL {entry.url!r}: {exc}") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise _RetryableDownloadError(f"cannot reach {entry.url}: {_reason(exc)}") from exc

        with response:
            start, expected = _plan_body(response, offset)
            if start == 0 and offset:
                log.info("%s: server ignored the range request; starting over", entry.file)
            total = start + expected if expected is not None else entry.size
            bar.reset(total=total)
            bar.n = bar.last_print_n = start  # show resumed bytes without counting them in bytes/s
            bar.refresh()
            return _stream_to_part(response, part, start, expected, bar)


def _handle_unsatisfiable_range(part: Path, offset: int, content_range: str | None) -> int:
    """416: usually the `.part` already holds the whole file; otherwise start over."""
    match = _UNSATISFIED_RANGE.match(content_range or "")
    if match and int(match.group(1)) != offset:
        part.unlink(missing_ok=True)
        raise _RetryableDownloadError(
            f"server reports {match.group(1)} bytes but {part.name} holds {offset}; starting over"
        )
    return 0


def _plan_body(response: http.client.HTTPResponse, offset: int) -> tuple[int, int | None]:
    """Where the response body starts in the file, and how many bytes it announces."""
    length_header = response.headers.get("Content-Length")
    expected = int(length_header) if length_header and length_header.isdigit() else None
    if response.status != 206:
        return 0, expected
    match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
    if match is None or int(match.group(1)) != offset:
        raise _RetryableDownloadError(
            f"server answered the range request for byte {offset} with "
            f"{response.headers.get('Content-Range')!r}"
        )
    if expected is None:
        expected = int(match.group(2)) - offset + 1
    return offset, expected


def _stream_to_part(
    response: http.client.HTTPResponse,
    part: Path,
    start: int,
    expected: int | None,
    bar: tqdm,
) -> int:
    """Append the body to `part` (truncated first when `start` is 0); return bytes received."""
    received = 0
    with part.open("ab" if start else "wb") as out:
        while True:
            try:
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise _RetryableDownloadError(
                    f"connection lost after {start + received} bytes: {_reason(exc)}", received
                ) from exc
            if not chunk:
                break
            out.write(chunk)  # a local OSError here (disk full) is not retried
            received += len(chunk)
            bar.update(len(chunk))
    # http.client returns a clean EOF when the peer closes early, so count the bytes ourselves.
    if expected is not None and received < expected:
        raise _RetryableDownloadError(
            f"connection closed after {start + received} of {start + expected} bytes", received
        )
    return received


def _verify_part(
    entry: ManifestEntry, part: Path, recorded: RecordedHash | None
) -> tuple[str, RecordedHash | None]:
    """Check the finished `.part` against the manifest, or else against the hash recorded at
    the file's first fetch from the same URL; delete it and raise on mismatch.

    Returns a description and, for a file with no hash to check against yet, its new record.
    """
    size = _size_of(part)
    if entry.size is not None and size != entry.size:
        part.unlink(missing_ok=True)
        raise _FatalDownloadError(f"size mismatch: expected {entry.size} bytes, got {size}")
    actual = sha256_of(part)
    if entry.sha256 is None:
        if recorded is None or recorded.url != entry.url:
            return f"{size} bytes; recorded its sha256 {actual[:12]}… (first fetch)", new_record(
                entry.url, size, actual
            )
        if actual != recorded.sha256:
            part.unlink(missing_ok=True)
            raise _FatalDownloadError(
                f"sha256 {actual} differs from {recorded.sha256}, recorded when this URL was "
                f"first fetched on {recorded.recorded_at}; the download was discarded"
            )
        return f"{size} bytes, sha256 matches the hash recorded at first fetch", None
    if actual != entry.sha256:
        part.unlink(missing_ok=True)
        raise _FatalDownloadError(
            f"sha256 mismatch: expected {entry.sha256}, got {actual}; the download was discarded"
        )
    return f"{size} bytes, sha256 matches", None


def _install(part: Path, path: Path) -> None:
    """Make `part` durable, then rename it onto `path` in one step."""
    with part.open("rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(part, path)
    if os.name == "posix":  # persist the rename itself; directories cannot be opened on Windows
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__
