"""The load test: the frame code survives VP8 and an overlay; `visionanything loadtest` with two
phones against the real app (fake engine) measures setup, rates and latency and writes JSON and a
PNG; a closed port and a full server fail clearly with a non-zero exit status.

The rates, latencies and freezes the command measures are benchmarks of the machine it runs on:
they are printed and reported, and these tests assert only what holds at any speed (every
figure is there and consistent, frames come back in the order they were sent, never twice,
none from the future) plus very wide sanity bounds."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from stream.app import ServerConfig, create_app
from stream.edge.limits import ServerLimits
from stream.loadtest.client import Clip
from stream.loadtest.frame_code import code_block, frame_luma, read_code, stamp_code
from stream.loadtest.runner import load_clip
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from visionanything.cli import main

SIZE = (320, 240)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CONNECT = ["--connect-timeout", "60"]  # setup is not what these tests time


@pytest.fixture(scope="module")
def clip() -> Clip:
    return load_clip(None, 15, seconds=4, size=SIZE)


def _vp8_round_trip(frames: list[np.ndarray]) -> Iterator[av.VideoFrame]:
    encoder = av.CodecContext.create("libvpx", "w")
    encoder.width, encoder.height, encoder.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
    encoder.bit_rate, encoder.time_base = 250_000, fractions.Fraction(1, 15)
    encoder.options = {"deadline": "realtime", "cpu-used": "8"}
    decoder = av.CodecContext.create("vp8", "r")
    for n, image in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(image, format="yuv420p")
        frame.pts = n
        for packet in encoder.encode(frame):
            yield from decoder.decode(packet)


def test_frame_code_survives_vp8_a_translucent_overlay_and_rescaling(clip: Clip) -> None:
    block = code_block(SIZE)
    counters = [n * 977 % 65536 for n in range(30)]
    images = []
    for n, counter in enumerate(counters):
        image = np.array(clip.frames[n % len(clip)])
        stamp_code(image, SIZE, counter)
        rgb = av.VideoFrame.from_ndarray(image, format="yuv420p").to_ndarray(format="rgb24")
        strip = rgb[SIZE[1] - 3 * block :, : 8 * block]  # half the strip under a red mask
        strip[:] = (0.55 * strip + 0.45 * np.array([230, 38, 51])).astype(np.uint8)
        images.append(av.VideoFrame.from_ndarray(rgb, format="rgb24").to_ndarray(format="yuv420p"))
    decoded = list(_vp8_round_trip(images))
    assert len(decoded) >= 25
    for counter, frame in zip(counters, decoded, strict=False):
        assert read_code(frame_luma(frame), SIZE) == counter
        smaller = frame.reformat(width=240, height=180)  # a server that sends back less
        assert read_code(frame_luma(smaller), SIZE) == counter


def test_an_unreadable_strip_is_unmatched_never_a_wrong_counter(clip: Clip) -> None:
    image = np.array(clip.frames[0])
    stamp_code(image, SIZE, 1234)
    luma = image[: SIZE[1]]
    assert read_code(luma, SIZE) == 1234
    covered = luma.copy()
    covered[-code_block(SIZE) :, :40] = 200  # a badge over part of the strip
    assert read_code(covered, SIZE) is None
    flipped = luma.copy()
    block = code_block(SIZE)
    flipped[-block:, :block], flipped[-block:, block : 2 * block] = (
        luma[-block:, block : 2 * block].copy(),
        luma[-block:, :block].copy(),
    )  # one bit flipped: the CRC notices
    assert read_code(flipped, SIZE) is None


def _loadtest(argv: list[str]) -> int:
    return main(["loadtest", "--size", f"{SIZE[0]}x{SIZE[1]}", *argv])


def check_returned_frames(client: dict[str, Any], elapsed_s: float) -> None:
    """What holds for a phone's returned video on any machine: frames came back, each read
    frame is one the phone sent before (latency > 0 and within the run), in the order sent,
    and no sent frame is returned twice."""
    assert client["frames_matched"] >= 1, client
    assert client["frames_matched"] + client["frames_unmatched"] == client["frames_received"]
    assert client["frames_received"] <= client["frames_sent"]
    assert client["frames_matched"] + client["frames_dropped"] <= client["frames_sent"]
    latencies = client["latency_ms"]
    assert len(latencies) == client["frames_matched"]
    assert all(0 < ms < elapsed_s * 1000 for _, ms in latencies), latencies
    sent_at = [t - ms / 1000 for t, ms in latencies]  # seconds since the run's start
    assert all(b >= a - 0.002 for a, b in itertools.pairwise(sent_at)), sent_at  # rounding


async def _against_server(config: ServerConfig, argv: list[str]) -> int:
    engine = FakeEngine(delay_s=0.2)
    async with serving(create_app(config, engine=engine)) as base:
        # the CLI runs its own event loop: in a thread, while this loop serves
        return await asyncio.to_thread(_loadtest, ["--url", base, *argv])


def test_two_clients_run_to_the_end_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_png = tmp_path / "lt.json", tmp_path / "lt.png"
    argv = ["--clients", "2", "--duration", "3", "--fps", "15", *CONNECT]
    argv += ["--json", str(out_json), "--plot", str(out_png)]
    status = asyncio.run(asyncio.wait_for(_against_server(ServerConfig(), argv), 180))
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    for metric in ("connect (s)", "latency (ms)", "fps in (returned)", "dropped frames"):
        assert metric in captured.out
    assert "OK: 2/2 client(s)" in captured.out
    assert "connected 2/2" in captured.err  # the live progress lines
    assert out_png.read_bytes().startswith(PNG_SIGNATURE)

    report = json.loads(out_json.read_text())
    assert report["ok"] and report["exit_status"] == 0
    assert {row["name"] for row in report["summary"]} >= {"latency (ms)", "new object (s)"}
    assert len(report["clients"]) == 2
    for client in report["clients"]:
        assert client["state"] == "ok" and client["error_count"] == 0
        assert 0 < client["offer_s"] <= client["connected_s"]
        assert client["first_frame_s"] is not None and client["first_objects_s"] is not None
        # the camera never sends faster than its rate (a sanity bound: slower is allowed)
        assert 0 < client["fps_out"] <= 15 * 1.2, client["fps_out"]
        assert 0 < client["fps_in"] <= client["fps_out"]  # never a frame back twice
        check_returned_frames(client, report["elapsed_s"])
        # the stats arrive once a second of the run, whatever the machine's speed
        assert client["objects_messages"] >= 1 and client["stats_messages"] >= 2
        assert len(client["series"]) >= 2
        assert 0 < client["longest_freeze_s"] < report["elapsed_s"]
        assert client["rtp_dropped"] is None  # no lossy link asked for


def test_phones_on_a_lossy_link_keep_their_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """5 % of the phone's video packets (and of their retransmissions) vanish: the run still
    ends well, the video still comes back in order, and the report gives the link's numbers and
    the longest freeze. (How fast the server recovers from a loss is no figure to assert here:
    tests/stream/webrtc/test_loss_recovery.py checks the recovery itself; the rate the link drops at
    is checked in test_lossy_link.py.)"""
    out_json = tmp_path / "lossy.json"
    argv = ["--clients", "1", "--duration", "3", "--fps", "15", "--loss", "5", *CONNECT]
    argv += ["--json", str(out_json)]
    status = asyncio.run(asyncio.wait_for(_against_server(ServerConfig(), argv), 180))
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    assert "longest freeze (s)" in captured.out and "link dropped" in captured.out
    report = json.loads(out_json.read_text())
    [client] = report["clients"]
    assert client["state"] == "ok" and client["error_count"] == 0, client["errors"]
    # the link did drop packets, and let through at least one for each frame that came back
    assert client["rtp_dropped"] >= 1, client
    assert client["rtp_passed"] >= client["frames_received"], client
    check_returned_frames(client, report["elapsed_s"])
    assert 0 < client["longest_freeze_s"] < report["elapsed_s"], client


@pytest.mark.parametrize("loss", ["-1", "51", "nan"])
def test_an_impossible_loss_is_a_usage_error(loss: str, caplog: pytest.LogCaptureFixture) -> None:
    assert _loadtest(["--loss", loss, "--duration", "1"]) == 2
    assert "loss must lie in 0..50 %" in caplog.text


def test_a_closed_port_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    status = _loadtest(["--url", url, "--clients", "2", "--duration", "1"])
    captured = capsys.readouterr()
    assert status == 1
    assert f"cannot reach {url}: connection refused" in captured.out


def test_a_full_server_is_reported_as_busy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json = tmp_path / "busy.json"
    argv = ["--clients", "2", "--duration", "2", "--json", str(out_json), *CONNECT]
    status = asyncio.run(
        asyncio.wait_for(
            _against_server(ServerConfig(limits=ServerLimits(max_sessions=1)), argv), 180
        )
    )
    captured = capsys.readouterr()
    assert status == 1
    assert "server busy (503, Retry-After 5)" in captured.out
    report = json.loads(out_json.read_text())
    states = sorted(client["state"] for client in report["clients"])
    assert states == ["failed", "ok"]
    assert not report["ok"]
