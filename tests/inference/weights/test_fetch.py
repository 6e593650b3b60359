"""Downloading checkpoints from a loopback HTTP server that can misbehave on demand."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import json
import random
import re
import socket
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from inference.weights import fetch as weights_fetch
from inference.weights.checkpoints import CheckpointError, FileState, Manifest, require, sha256_of
from inference.weights.recorded_hashes import RECORD_FILE
from inference.weights.fetch import (
    FetchResult,
    UrlRefusedError,
    _HttpOnlyRedirectHandler,
    check_redirect,
    fetch,
    part_path,
)

pytestmark = pytest.mark.timeout(30)

PAYLOAD_SIZE = 300_000
CUT_AFTER = 100_000
TIMEOUT_S = 5.0


@dataclass
class SeenRequest:
    path: str
    range_header: str | None


@dataclass
class LoopbackFileServer:
    """Serves `files` by URL path, with `Range: bytes=N-` support and switchable faults."""

    base_url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)
    # path -> byte count: the next response for that path stops after that many body bytes
    cut_next_response_after: dict[str, int] = field(default_factory=dict)
    ignore_range: bool = False
    corrupt_paths: set[str] = field(default_factory=set)
    redirects: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def ranges_seen(self) -> list[str | None]:
        return [request.range_header for request in self.requests]


def _make_handler(state: LoopbackFileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            range_header = self.headers.get("Range")
            with state.lock:
                state.requests.append(SeenRequest(self.path, range_header))
                cut_after = state.cut_next_response_after.pop(self.path, None)
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            if self.path in state.corrupt_paths:
                body = bytes(b ^ 0xFF for b in body[:16]) + body[16:]
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
            if match and not state.ignore_range:
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            chunk = body[start:]
            if cut_after is not None:
                chunk = chunk[:cut_after]  # then the connection closes: a short read
            self.wfile.write(chunk)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[LoopbackFileServer]:
    with _loopback_server() as state:
        yield state


@pytest.fixture
def other_server() -> Iterator[LoopbackFileServer]:
    """A second loopback server, on another port: the target of cross-server redirects."""
    with _loopback_server() as state:
        yield state


@contextlib.contextmanager
def _loopback_server() -> Iterator[LoopbackFileServer]:
    state = LoopbackFileServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    state.base_url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests must go straight to the loopback server, whatever the environment says."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_manifest(tmp_path: Path, files: list[dict[str, object]]) -> Manifest:
    manifest_path = tmp_path / "weights" / "manifest.json"
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps({"files": files}), encoding="utf-8")
    return Manifest.load(manifest_path)


def pinned_entry(
    server: LoopbackFileServer, url_path: str, data: bytes, file: str, group: str = "model"
) -> dict[str, object]:
    """Serve `data` at `url_path` and describe it, size and hash pinned, as a manifest entry."""
    server.files[url_path] = data
    return {
        "group": group,
        "file": file,
        "url": server.url(url_path),
        "revision": "test",
        "size": len(data),
        "sha256": sha256_hex(data),
    }


def quick_fetch(
    manifest: Manifest, groups: list[str] | None = None, *, progress: bool = False, retries: int = 3
) -> list[FetchResult]:
    """`fetch` with short timeouts and no waiting between retries."""
    return fetch(
        manifest, groups, progress=progress, timeout=TIMEOUT_S, retries=retries, retry_delay=0.0
    )


def test_fresh_download_creates_directories_and_matches_hash(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=1)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "deep/dir/m.bin")])

    [result] = quick_fetch(manifest)

    final = tmp_path / "weights" / "deep" / "dir" / "m.bin"
    assert result.outcome == "downloaded", result.detail
    assert result.path == final and result.bytes_downloaded == PAYLOAD_SIZE
    assert sha256_of(final) == sha256_hex(data)
    assert not part_path(final).exists()
    assert server.ranges_seen() == [None]


def test_interrupted_transfer_keeps_part_and_next_fetch_resumes(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=2)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])
    server.cut_next_response_after["/m.bin"] = CUT_AFTER
    final = tmp_path / "weights" / "m.bin"

    [first] = quick_fetch(manifest, retries=0)

    assert first.outcome == "failed"
    assert "m.bin.part" in first.detail and f"{CUT_AFTER} bytes" in first.detail
    assert not final.exists()
    assert part_path(final).read_bytes() == data[:CUT_AFTER]

    [second] = quick_fetch(manifest, retries=0)

    assert second.outcome == "downloaded", second.detail
    assert second.bytes_downloaded == PAYLOAD_SIZE - CUT_AFTER
    assert server.ranges_seen() == [None, f"bytes={CUT_AFTER}-"]
    assert sha256_of(final) == sha256_hex(data)
    assert not part_path(final).exists()


def test_retry_within_one_fetch_resumes_with_range(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=3)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])
    server.cut_next_response_after["/m.bin"] = CUT_AFTER

    [result] = quick_fetch(manifest, retries=2)

    assert result.outcome == "downloaded", result.detail
    assert result.bytes_downloaded == PAYLOAD_SIZE
    assert server.ranges_seen() == [None, f"bytes={CUT_AFTER}-"]
    assert sha256_of(result.path) == sha256_hex(data)


def test_server_ignoring_range_restarts_from_zero(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=4)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])
    final = tmp_path / "weights" / "m.bin"
    stale = b"stale bytes from some other download"
    part_path(final).write_bytes(stale)
    server.ignore_range = True

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert server.ranges_seen() == [f"bytes={len(stale)}-"]
    assert final.read_bytes() == data


def test_complete_part_answered_416_goes_straight_to_verification(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=5)
    entry = pinned_entry(server, "/m.bin", data, "m.bin")
    entry["size"] = None  # unknown size: only the server can say the part is complete
    manifest = write_manifest(tmp_path, [entry])
    final = tmp_path / "weights" / "m.bin"
    part_path(final).write_bytes(data)

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert result.bytes_downloaded == 0
    assert server.ranges_seen() == [f"bytes={PAYLOAD_SIZE}-"]
    assert final.read_bytes() == data and not part_path(final).exists()


def test_part_longer_than_the_served_file_is_discarded_on_416(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=16)
    entry = pinned_entry(server, "/m.bin", data, "m.bin")
    entry["size"] = None
    manifest = write_manifest(tmp_path, [entry])
    final = tmp_path / "weights" / "m.bin"
    part_path(final).write_bytes(data + b"extra")

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert server.ranges_seen() == [f"bytes={PAYLOAD_SIZE + 5}-", None]
    assert final.read_bytes() == data


def test_complete_part_of_pinned_size_needs_no_request(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=6)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])
    part_path(tmp_path / "weights" / "m.bin").write_bytes(data)

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert server.requests == []


def test_hash_mismatch_is_rejected_and_leaves_nothing_behind(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=7)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])
    server.corrupt_paths.add("/m.bin")
    served = bytes(b ^ 0xFF for b in data[:16]) + data[16:]

    [result] = quick_fetch(manifest)

    final = tmp_path / "weights" / "m.bin"
    assert result.outcome == "failed"
    assert "m.bin" in result.detail
    assert sha256_hex(data) in result.detail and sha256_hex(served) in result.detail
    assert not final.exists() and not part_path(final).exists()


def test_size_mismatch_is_rejected(server: LoopbackFileServer, tmp_path: Path) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=8)
    entry = pinned_entry(server, "/m.bin", data, "m.bin")
    entry["size"] = PAYLOAD_SIZE - 1
    manifest = write_manifest(tmp_path, [entry])

    [result] = quick_fetch(manifest)

    final = tmp_path / "weights" / "m.bin"
    assert result.outcome == "failed" and "size mismatch" in result.detail
    assert not final.exists() and not part_path(final).exists()


def test_good_and_unpinned_files_are_skipped_without_requests(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = random_bytes(1000, seed=9)
    unpinned = pinned_entry(server, "/u.json", b"{}", "u.json")
    unpinned["sha256"] = unpinned["size"] = None
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin"), unpinned])
    (tmp_path / "weights" / "m.bin").write_bytes(data)
    (tmp_path / "weights" / "u.json").write_text('{"local": true}')

    results = quick_fetch(manifest)

    assert [r.outcome for r in results] == ["skipped", "skipped"]
    assert all(r.bytes_downloaded == 0 for r in results)
    assert server.requests == []


def test_corrupt_final_file_is_replaced(server: LoopbackFileServer, tmp_path: Path) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=10)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])
    final = tmp_path / "weights" / "m.bin"
    final.write_bytes(data[:-1] + b"\x00")

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert final.read_bytes() == data


def test_404_fails_that_file_and_the_others_still_download(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    first, last = random_bytes(5000, seed=11), random_bytes(7000, seed=12)
    missing = pinned_entry(server, "/gone.bin", b"x", "gone.bin")
    del server.files["/gone.bin"]
    manifest = write_manifest(
        tmp_path,
        [
            pinned_entry(server, "/a.bin", first, "a.bin"),
            missing,
            pinned_entry(server, "/b.bin", last, "b.bin"),
        ],
    )

    results = quick_fetch(manifest)

    assert [r.outcome for r in results] == ["downloaded", "failed", "downloaded"]
    assert "gone.bin" in results[1].detail and "404" in results[1].detail
    assert server.ranges_seen() == [None, None, None]  # a 404 is not retried
    assert (tmp_path / "weights" / "a.bin").read_bytes() == first
    assert (tmp_path / "weights" / "b.bin").read_bytes() == last
    assert not (tmp_path / "weights" / "gone.bin").exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/hostname", "only http and https"),
        ("ftp://127.0.0.1/m.bin", "only http and https"),
        ("data:,x", "only http and https"),
        ("http:///m.bin", "names no host"),
        ("http://[::1/m.bin", "malformed URL"),
    ],
)
def test_non_http_and_malformed_urls_are_refused(tmp_path: Path, url: str, reason: str) -> None:
    manifest = write_manifest(
        tmp_path,
        [{"group": "g", "file": "m.bin", "url": url, "revision": "r1", "sha256": None}],
    )

    [result] = quick_fetch(manifest)

    assert result.outcome == "failed"
    assert reason in result.detail
    assert list((tmp_path / "weights").iterdir()) == [tmp_path / "weights" / "manifest.json"]


@pytest.mark.parametrize("scheme", ["file", "ftp"])
def test_redirect_to_a_non_http_url_is_refused(
    server: LoopbackFileServer, tmp_path: Path, scheme: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("not for download")
    target = secret.as_uri() if scheme == "file" else "ftp://127.0.0.1/secret.txt"
    entry = pinned_entry(server, "/m.bin", b"unused", "m.bin")
    entry["size"] = entry["sha256"] = None
    server.redirects["/m.bin"] = target
    manifest = write_manifest(tmp_path, [entry])

    [result] = quick_fetch(manifest)

    # urllib itself refuses file: redirects; ftp: ones reach our own redirect check
    assert result.outcome == "failed" and target in result.detail
    assert [r.path for r in server.requests] == ["/m.bin"]  # refused, not retried
    assert not (tmp_path / "weights" / "m.bin").exists()


def test_redirect_between_http_urls_is_followed(server: LoopbackFileServer, tmp_path: Path) -> None:
    data = random_bytes(2000, seed=13)
    entry = pinned_entry(server, "/real.bin", data, "m.bin")
    entry["url"] = server.url("/moved.bin")
    server.redirects["/moved.bin"] = server.url("/real.bin")
    manifest = write_manifest(tmp_path, [entry])

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert [r.path for r in server.requests] == ["/moved.bin", "/real.bin"]


def test_unreachable_server_fails_after_bounded_retries(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    manifest = write_manifest(
        tmp_path,
        [{"group": "g", "file": "m.bin", "url": f"http://127.0.0.1:{port}/m", "revision": "r1"}],
    )

    [result] = quick_fetch(manifest, retries=2)

    assert result.outcome == "failed"
    assert "cannot reach" in result.detail and "3 attempt(s)" in result.detail


def test_groups_select_files_and_unknown_group_raises(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    manifest = write_manifest(
        tmp_path,
        [
            pinned_entry(server, "/a.bin", b"aaa", "a.bin", group="alpha"),
            pinned_entry(server, "/b.bin", b"bbb", "b.bin", group="beta"),
        ],
    )

    results = quick_fetch(manifest, groups=["beta"])

    assert [(r.entry.file, r.outcome) for r in results] == [("b.bin", "downloaded")]
    assert not (tmp_path / "weights" / "a.bin").exists()
    with pytest.raises(CheckpointError, match="nope"):
        quick_fetch(manifest, groups=["nope"])


def test_an_optional_group_is_fetched_only_when_named(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    """The detector one did not choose (`"optional": true`) stays off a plain fetch."""
    chosen = pinned_entry(server, "/gd.bin", b"grounding", "gd/model.bin", group="grounding_dino")
    other = pinned_entry(server, "/mm.bin", b"mm-gdino", "mm/model.bin", group="mm_grounding_dino")
    other["optional"] = True
    manifest = write_manifest(tmp_path, [chosen, other])

    results = quick_fetch(manifest)

    assert [(r.entry.file, r.outcome) for r in results] == [("gd/model.bin", "downloaded")]
    assert [r.path for r in server.requests] == ["/gd.bin"]
    [named] = quick_fetch(manifest, groups=["mm_grounding_dino"])
    assert named.outcome == "downloaded" and named.path.read_bytes() == b"mm-gdino"


def test_a_file_pinned_by_nothing_is_refused_without_a_request(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    """`revision: null` and no sha256: whatever the URL served could not be checked against
    anything, so the file is not downloaded; a sha256 alone pins a file well enough."""
    loose = unpinned_entry(server, "/loose.json", b"{}", "mm/config.json")
    loose["revision"] = None
    hashed = pinned_entry(server, "/hashed.bin", b"weights", "mm/model.bin")
    hashed["revision"] = None
    manifest = write_manifest(tmp_path, [loose, hashed])

    refused, fetched = quick_fetch(manifest)

    assert refused.outcome == "failed" and refused.bytes_downloaded == 0
    assert "pins neither a commit nor a sha256" in refused.detail
    assert server.url("/loose.json") in refused.detail and not refused.path.exists()
    assert fetched.outcome == "downloaded"
    assert [r.path for r in server.requests] == ["/hashed.bin"]
    assert not (tmp_path / "weights" / RECORD_FILE).exists(), "nothing recorded for it"


def test_progress_bar_goes_to_stderr(
    server: LoopbackFileServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = random_bytes(PAYLOAD_SIZE, seed=14)
    manifest = write_manifest(tmp_path, [pinned_entry(server, "/m.bin", data, "m.bin")])

    [result] = quick_fetch(manifest, progress=True)

    captured = capsys.readouterr()
    assert result.outcome == "downloaded"
    assert "m.bin" in captured.err and "100%" in captured.err
    assert captured.out == ""


@pytest.mark.parametrize(
    ("from_url", "to_url", "refused"),
    [
        ("https://a.example/m.bin", "http://b.example/m.bin", "downgrades https"),
        ("https://a.example/m.bin", "http://a.example/m.bin", "downgrades https"),
        ("HTTPS://a.example/m.bin", "HtTp://a.example:443/m.bin", "downgrades https"),
        ("https://a.example/m.bin", "ftp://a.example/m.bin", "only http and https"),
        ("http://a.example/m.bin", "file:///etc/passwd", "only http and https"),
        ("https://a.example/m.bin", "https:///m.bin", "names no host"),
        ("https://a.example/m.bin", "https://b.example/m.bin", None),
        ("https://a.example/m.bin", "HTTPS://b.example/m.bin", None),
        ("http://a.example/m.bin", "https://b.example/m.bin", None),
        ("http://a.example/m.bin", "http://b.example/m.bin", None),
    ],
)
def test_check_redirect_refuses_downgrades_and_non_http_targets(
    from_url: str, to_url: str, refused: str | None
) -> None:
    if refused is None:
        check_redirect(from_url, to_url)
        return
    with pytest.raises(UrlRefusedError, match=refused) as caught:
        check_redirect(from_url, to_url)
    assert to_url in str(caught.value)


def test_redirect_handler_refuses_https_to_http_without_following() -> None:
    """No real https on loopback: call urllib's redirect hook as `http_error_302` would."""
    handler = _HttpOnlyRedirectHandler()
    request = urllib.request.Request("https://weights.example/m.bin")
    with pytest.raises(UrlRefusedError, match="downgrades https to plain http"):
        handler.redirect_request(
            request, io.BytesIO(), 302, "Found", http.client.HTTPMessage(), "http://evil/m.bin"
        )
    follow = handler.redirect_request(
        request, io.BytesIO(), 302, "Found", http.client.HTTPMessage(), "https://cdn/m.bin"
    )
    assert follow is not None and follow.full_url == "https://cdn/m.bin"


def test_fetch_checks_every_redirect_hop_between_two_servers(
    server: LoopbackFileServer,
    other_server: LoopbackFileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = random_bytes(2000, seed=15)
    entry = pinned_entry(other_server, "/real.bin", data, "m.bin")
    entry["url"] = server.url("/moved.bin")
    server.redirects["/moved.bin"] = other_server.url("/real.bin")
    manifest = write_manifest(tmp_path, [entry])
    seen: list[tuple[str, str]] = []
    real_check = weights_fetch.check_redirect

    def recording_check(from_url: str, to_url: str) -> None:
        seen.append((from_url, to_url))
        real_check(from_url, to_url)

    monkeypatch.setattr(weights_fetch, "check_redirect", recording_check)

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert seen == [(server.url("/moved.bin"), other_server.url("/real.bin"))]
    assert [r.path for r in other_server.requests] == ["/real.bin"]


def test_redirect_refused_by_the_check_fails_the_file_and_is_not_followed(
    server: LoopbackFileServer,
    other_server: LoopbackFileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry = pinned_entry(other_server, "/real.bin", b"tampered", "m.bin")
    entry["size"] = entry["sha256"] = None  # unpinned: only the redirect check protects it
    entry["url"] = server.url("/moved.bin")
    server.redirects["/moved.bin"] = other_server.url("/real.bin")
    manifest = write_manifest(tmp_path, [entry])

    def downgrade(from_url: str, to_url: str) -> None:  # as if /moved.bin had been https
        raise UrlRefusedError(f"refusing the redirect from {from_url!r} to {to_url!r}: downgrade")

    monkeypatch.setattr(weights_fetch, "check_redirect", downgrade)

    [result] = quick_fetch(manifest)

    assert result.outcome == "failed" and "refusing the redirect" in result.detail
    assert [r.path for r in server.requests] == ["/moved.bin"]  # refused, not retried
    assert other_server.requests == []
    assert not (tmp_path / "weights" / "m.bin").exists()


def unpinned_entry(
    server: LoopbackFileServer, url_path: str, data: bytes, file: str
) -> dict[str, object]:
    """Like `pinned_entry`, but with neither size nor sha256: pinned by revision only."""
    described = pinned_entry(server, url_path, data, file)
    described["size"] = described["sha256"] = None
    return described


def reload(manifest: Manifest) -> Manifest:
    assert manifest.path is not None
    return Manifest.load(manifest.path)


def test_first_fetch_of_an_unpinned_file_records_its_hash(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = b'{"hidden_size": 256}'
    manifest = write_manifest(tmp_path, [unpinned_entry(server, "/c.json", data, "g/c.json")])

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded" and "recorded its sha256" in result.detail
    assert result.recorded is not None and result.recorded.sha256 == sha256_hex(data)
    on_disk = json.loads((tmp_path / "weights" / RECORD_FILE).read_text())
    assert on_disk["files"]["g/c.json"]["sha256"] == sha256_hex(data)
    assert on_disk["files"]["g/c.json"]["url"] == server.url("/c.json")
    [entry] = reload(manifest).entries
    status = reload(manifest).check(entry)
    assert status.state is FileState.OK and "recorded at first fetch" in status.detail


def test_a_file_changed_after_its_first_fetch_is_corrupt_and_fetched_again(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    data = b"[PAD]\n[UNK]\ncat\n"
    manifest = write_manifest(tmp_path, [unpinned_entry(server, "/vocab.txt", data, "vocab.txt")])
    quick_fetch(manifest)
    final = tmp_path / "weights" / "vocab.txt"
    final.write_bytes(b"[PAD]\n[UNK]\ndog\n")  # same size, other bytes

    [entry] = reload(manifest).entries
    status = reload(manifest).check(entry)
    assert status.state is FileState.CORRUPT and "changed since its first fetch" in status.detail
    with pytest.raises(CheckpointError, match=r"vocab\.txt is corrupt"):
        require(reload(manifest), "model")

    [result] = quick_fetch(reload(manifest))

    assert result.outcome == "downloaded", result.detail
    assert "matches the hash recorded at first fetch" in result.detail
    assert final.read_bytes() == data
    assert result.recorded is None  # the first record stands


def test_a_download_differing_from_the_first_fetch_is_discarded(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    original = b'{"model_type": "grounding-dino"}'
    manifest = write_manifest(tmp_path, [unpinned_entry(server, "/c.json", original, "c.json")])
    quick_fetch(manifest)
    final = tmp_path / "weights" / "c.json"
    final.unlink()
    server.files["/c.json"] = b'{"model_type": "something-else"}'  # same URL, other content

    [result] = quick_fetch(reload(manifest))

    assert result.outcome == "failed" and "differs from" in result.detail
    assert "recorded when this URL was first fetched" in result.detail
    assert not final.exists() and not part_path(final).exists()


def test_a_new_url_makes_the_record_stale_and_the_file_is_fetched_again(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    old, new = b"revision one", b"revision two!"
    described = unpinned_entry(server, "/rev1/c.json", old, "c.json")
    manifest = write_manifest(tmp_path, [described])
    quick_fetch(manifest)
    server.files["/rev2/c.json"] = new
    described["url"] = server.url("/rev2/c.json")
    manifest = write_manifest(tmp_path, [described])

    [entry] = manifest.entries
    status = manifest.check(entry)
    assert status.state is FileState.CORRUPT and "stale" in status.detail

    [result] = quick_fetch(manifest)

    assert result.outcome == "downloaded", result.detail
    assert (tmp_path / "weights" / "c.json").read_bytes() == new
    assert reload(manifest).recorded["c.json"].url == server.url("/rev2/c.json")
    assert reload(manifest).recorded["c.json"].sha256 == sha256_hex(new)


def test_a_present_unpinned_file_is_recorded_without_a_request(
    server: LoopbackFileServer, tmp_path: Path
) -> None:
    manifest = write_manifest(tmp_path, [unpinned_entry(server, "/u.json", b"{}", "u.json")])
    (tmp_path / "weights" / "u.json").write_text('{"local": true}')

    [result] = quick_fetch(manifest)

    assert result.outcome == "skipped" and "recorded its sha256" in result.detail
    assert server.requests == []
    recorded = reload(manifest).recorded["u.json"]
    assert recorded.sha256 == sha256_hex(b'{"local": true}') and recorded.size == 15


def test_an_unreadable_record_file_is_a_clear_manifest_error(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, [])
    (tmp_path / "weights" / RECORD_FILE).write_text('{"files": {"c.json": {"sha256": "zz"}}}')

    with pytest.raises(CheckpointError, match=f"{RECORD_FILE} is unreadable.*delete it"):
        reload(manifest)
