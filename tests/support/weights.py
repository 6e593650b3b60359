"""Model weight files for the `weights` command's tests: made-up file contents, manifest
entries and manifests, and a directory served over loopback HTTP to download them from."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import random
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class QuietFileHandler(SimpleHTTPRequestHandler):
    """Serves files like `SimpleHTTPRequestHandler`, without a log line per request."""

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving_directory(root: Path) -> Iterator[str]:
    """`root` served over HTTP on 127.0.0.1 (a free port) while the block runs; its base URL."""
    handler = functools.partial(QuietFileHandler, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    host, port = httpd.server_address[:2]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://{host!s}:{port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def random_bytes(size: int, seed: int) -> bytes:
    """`size` bytes, the same for the same `seed`: a weight file's stand-in."""
    return random.Random(seed).randbytes(size)


def entry(
    group: str, file: str, data: bytes, url: str = "http://127.0.0.1:9/unused", pin: bool = True
) -> dict[str, object]:
    """A manifest's entry for `file` (in `group`, from `url`) holding `data`: pinned to its size
    and SHA-256, or unpinned (`pin=False`: both null)."""
    return {
        "group": group,
        "file": file,
        "url": url,
        "revision": "test",
        "size": len(data) if pin else None,
        "sha256": hashlib.sha256(data).hexdigest() if pin else None,
    }


def write_manifest(path: Path, files: list[dict[str, object]]) -> Path:
    """A weights manifest listing `files` (see `entry`) at `path` (its folder made); `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"files": files}), encoding="utf-8")
    return path
