"""`visionanything serve`: options, URLs and QR code, and the real command in a subprocess
(listens at once over HTTPS while the models load, Ctrl-C shuts down cleanly, missing weights
end it with a clear error)."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.app import ServerConfig
from stream.classroom.classroom_settings import ClassroomSettings
from stream.edge.limits import ServerLimits
from stream.edge.network import NetworkSettings
from stream.edge.urls import banner, certificate_hosts, lan_addresses, qr_code, server_urls
from stream.photos.library_settings import PhotoLibrarySettings
from visionanything.cli import build_parser
from visionanything.commands.serve_options import config_from_args

REPO = Path(__file__).resolve().parents[2]


def test_serve_options_and_defaults() -> None:
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.http, args.cert_dir) == (
        None,  # resolved by listen_host: all interfaces over HTTPS, 127.0.0.1 with --http
        None,
        False,
        Path(".tls"),
    )
    assert (args.models, args.device, args.size, args.detector_size) == ("real", "auto", 512, 512)
    assert (args.max_sessions, args.idle_timeout, args.output_height) == (4, 20.0, None)
    args = build_parser().parse_args(
        ["serve", "--http", "--port", "9000", "--models", "random", "--output-height", "360"]
    )
    assert (args.http, args.port, args.models, args.output_height) == (True, 9000, "random", 360)


def test_serve_takes_every_default_from_the_config() -> None:
    """No default is typed twice: `serve` without options builds the default `ServerConfig`, in
    every group, but for what `serve` itself decides (the page's folder, whether the weights are
    random, Secure cookies over HTTPS, this machine's LAN addresses)."""
    args = build_parser().parse_args(["serve", "--http"])
    assert config_from_args(args) == ServerConfig(web_dir=Path("web"), random_weights=False)
    args = build_parser().parse_args(["serve", "--models", "random"])
    config = config_from_args(args, lan_hosts=("192.168.1.20",))
    assert config.random_weights is True
    assert config.classroom == ClassroomSettings(secure_cookies=True)
    assert config.network == NetworkSettings(lan_hosts=("192.168.1.20",))


def test_serve_options_land_in_their_groups() -> None:
    argv = ["serve", "--max-sessions", "9", "--screens-per-address", "3", "--max-viewers", "12"]
    argv += ["--public-url", "https://va.school.org/", "--trusted-proxy", "10.0.0.0/8"]
    argv += ["--teachers-file", "t.json", "--max-rooms-per-teacher", "2"]
    argv += ["--room-idle-minutes", "30", "--photo-retention-days", "7"]
    config = config_from_args(build_parser().parse_args(argv))
    assert config.limits == ServerLimits(max_sessions=9, viewers_per_address=3, max_viewers=12)
    assert config.network == NetworkSettings("https://va.school.org", (), ("10.0.0.0/8",))
    assert config.classroom == ClassroomSettings(
        max_rooms_per_teacher=2, room_idle_s=1800, teachers_file=Path("t.json"), secure_cookies=True
    )
    assert config.photo_library.policy.retention_days == 7


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ServerLimits(max_sessions=0), "max_sessions"),
        (lambda: ServerLimits(max_offer_bytes=512), "max_offer_bytes"),
        (lambda: ServerLimits(render_threads=0), "render_threads"),
        (lambda: ServerLimits(viewers_per_address=-1), "viewers_per_address"),
        (lambda: NetworkSettings(public_url="https://localhost/"), "public-url"),
        (lambda: NetworkSettings(trusted_proxies=("10.0.0.0/33",)), "trusted-proxy"),
        (lambda: ClassroomSettings(max_rooms=0), "max_rooms"),
        (lambda: ClassroomSettings(room_idle_s=0), "room_idle_s"),
        (lambda: PhotoLibrarySettings(max_count=0), "max_count"),
        (lambda: PhotoLibrarySettings(per_session_per_minute=-1), "per_session_per_minute"),
    ],
)
def test_each_config_group_refuses_a_bad_value(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_urls_cover_localhost_and_the_lan() -> None:
    lan = ["192.168.1.20"]
    assert server_urls("0.0.0.0", 8443, True, lan) == [
        "https://localhost:8443/",
        "https://192.168.1.20:8443/",
    ]
    assert server_urls("127.0.0.1", 8080, False, lan) == ["http://127.0.0.1:8080/"]
    assert server_urls("::1", 8443, True, lan) == ["https://[::1]:8443/"]
    assert certificate_hosts("0.0.0.0", lan) == ["localhost", "127.0.0.1", "192.168.1.20"]
    assert certificate_hosts("10.1.2.3", lan) == ["localhost", "127.0.0.1", "10.1.2.3"]
    for address in lan_addresses():
        assert not address.startswith("127.") and not address.startswith("169.254.")


def test_the_terminal_qr_code_scans() -> None:
    url = "https://192.168.1.20:8443/"
    text = qr_code(url)
    # rebuild what a dark terminal shows: block characters light, the background dark
    rows = [line for line in text.splitlines() if line]
    cells = np.zeros((2 * len(rows), max(len(r) for r in rows)), np.uint8)
    for y, row in enumerate(rows):
        for x, char in enumerate(row):
            cells[2 * y, x] = 255 if char in "█▀" else 0
            cells[2 * y + 1, x] = 255 if char in "█▄" else 0
    image = cv2.resize(cells, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    image = cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=0)
    decoded, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert decoded == url
    shown = banner(["https://localhost:8443/", url], https=True)
    assert url in shown and text in shown


def _start(args: list[str], cwd: Path) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "visionanything", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return process, lines


def _wait_for_line(
    lines: queue.Queue[str], pattern: str, timeout: float
) -> tuple[re.Match[str], str]:
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen += line
        match = re.search(pattern, line)
        if match:
            return match, seen
    raise AssertionError(f"no line matching {pattern!r} within {timeout} s; output:\n{seen}")


def test_serve_listens_at_once_over_https_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>VisionAnything Live</title>")
    process, lines = _start(
        [
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--models",
            "random",
            "--device",
            "cpu",
            "--cert-dir",
            str(tmp_path / "tls"),
            "--web-dir",
            str(web),
        ],
        tmp_path,
    )
    try:
        match, _ = _wait_for_line(lines, r"(https://127\.0\.0\.1:\d+/)", 60)
        base = match.group(1)
        trust = ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))
        # "at once": the server answers while the models are still loading (readyz says so,
        # and loading takes seconds: torch, transformers, full-size random models), which
        # shows it listened before they were ready, with no stopwatch that a busy machine fails
        try:
            urllib.request.urlopen(f"{base}readyz", context=trust, timeout=30)
            raise AssertionError("ready before the full-size models could have loaded")
        except urllib.error.HTTPError as exc:
            assert exc.code == 503 and b"loading models" in exc.read()
        with urllib.request.urlopen(f"{base}healthz", context=trust, timeout=30) as r:
            assert r.status == 200
        with urllib.request.urlopen(base, context=trust, timeout=30) as r:
            assert b"VisionAnything Live" in r.read()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_exits_with_a_clear_error_when_the_weights_are_missing(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"  # its files would sit beside it: they do not
    shutil.copy(REPO / "weights" / "manifest.json", manifest)
    process, lines = _start(
        [
            "serve",
            "--http",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--device",
            "cpu",
            "--manifest",
            str(manifest),
            "--web-dir",
            str(tmp_path),
        ],
        tmp_path,
    )
    try:
        _wait_for_line(lines, r"http://127\.0\.0\.1:\d+/", 60)
        # the models load after the server listens: torch and transformers import first
        _, output = _wait_for_line(lines, r"cannot serve without models", 180)
        assert process.wait(timeout=60) == 1
        assert "weights fetch" in output or "missing" in output.lower(), output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize(("cores", "threads"), [(1, 1), (2, 1), (3, 1), (16, 8)])
def test_models_leave_cores_for_the_video_codecs(cores: int, threads: int) -> None:
    from visionanything.commands.serve import model_threads

    assert model_threads(cores) == threads


def test_serve_leaves_at_once_past_a_build_still_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """Interpreter shutdown under a conversion in native code aborted (exit -6): with a build
    running, serve leaves by os._exit with its own status; without one, it returns normally."""
    from inference.graphs import background_builds
    from visionanything.commands import serve_loading

    exits: list[int] = []
    monkeypatch.setattr(serve_loading.os, "_exit", exits.append)
    monkeypatch.setattr(
        serve_loading.logging, "shutdown", lambda: None
    )  # keep pytest's handlers open
    monkeypatch.setattr(background_builds, "builds_running", lambda: False)
    assert serve_loading.exit_past_unfinished_builds(0) == 0 and exits == []
    monkeypatch.setattr(background_builds, "builds_running", lambda: True)
    serve_loading.exit_past_unfinished_builds(0)
    assert exits == [0]
    # Ctrl-C while the models still load: the loader thread is in native code too
    monkeypatch.setattr(background_builds, "builds_running", lambda: False)
    serve_loading.exit_past_unfinished_builds(1, loading=True)
    assert exits == [0, 1]
