"""A real TURN relay (Debian's coturn) on 127.0.0.1 with a TURN REST shared secret, for the relay
tests of stream/webrtc/ice.py (aiortc on both ends) and of the pages (Chromium): started on a free
port, listening on UDP and TCP, loopback peers allowed, no TLS, killed afterwards.

The `coturn` fixture in tests/conftest.py wraps `running_coturn`; tests that need the process
itself (its pid, to read its CPU time) call `running_coturn` directly."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SECRET = "s3cret-for-tests"
"""coturn's `static-auth-secret` in the tests (serve the same one, or another to be refused)."""


@dataclass(frozen=True)
class Coturn:
    port: int  # UDP and TCP
    pid: int
    log: Path

    def url(self, transport: str) -> str:
        return f"turn:127.0.0.1:{self.port}?transport={transport}"


def free_port(kind: socket.SocketKind) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def running_coturn(workdir: Path, secret: str = SECRET) -> Iterator[Coturn]:
    """coturn on 127.0.0.1 until the block ends; its log in `workdir/coturn.log`."""
    binary = shutil.which("turnserver")
    assert binary is not None, "coturn is a system package of this project (make setup)"
    port = free_port(socket.SOCK_DGRAM)
    relay_base = 20000 + port % 20000
    log_file = workdir / "coturn.log"
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [
                binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}",
                "--relay-ip=127.0.0.1", f"--min-port={relay_base}",
                f"--max-port={relay_base + 100}", "--allow-loopback-peers", "--use-auth-secret",
                f"--static-auth-secret={secret}", "--realm=test", "--no-tls", "--no-dtls",
                "--no-cli", "--log-file=stdout", "--simple-log",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:  # listening on TCP too (no --no-tcp): ready once a connect succeeds
            assert process.poll() is None, log_file.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, log_file.read_text()
                time.sleep(0.05)
        yield Coturn(port, process.pid, log_file)
    finally:
        process.terminate()
        process.wait(timeout=5)
