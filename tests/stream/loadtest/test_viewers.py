"""`visionanything loadtest --viewers N`: a presenting phone and N simulated projectors against
the real app (fake engine) over loopback WebRTC. Every viewer must receive the room's screen,
read the presenter's frame codes from it and time them against the presenter's own send times;
the teacher path creates a room for the run and ends it afterwards; wrong arguments, a wrong
room code and a wrong password end in one clear line, never a traceback.

Rates and latencies are benchmarks of the machine: reported, never asserted beyond what holds
at any speed (frames arrive, in the order the presenter sent them, each latency positive and
within the run)."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
from pathlib import Path

import pytest

from stream.app import ServerConfig, create_app
from stream.classroom.classroom_settings import ClassroomSettings
from stream.classroom.rooms import ROOMS_KEY
from stream.classroom.teachers import TeacherStore
from tests.support.fake_engine import FakeEngine
from tests.support.rtc_client import serving
from tests.support.teachers import FAST
from visionanything.cli import main

SIZE = "320x240"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _loadtest(argv: list[str]) -> int:
    # a generous connect timeout: setup is not what these tests time
    return main(["loadtest", "--size", SIZE, "--fps", "15", "--connect-timeout", "60", *argv])


async def _against(
    config: ServerConfig, argv: list[str], *, make_room: bool = False
) -> tuple[int, FakeEngine, list[str]]:
    """Serve the app, optionally with a room (its code appended as --room), run the CLI in a
    thread (it runs its own event loop) while this loop serves; the exit status, the engine and
    the rooms still open afterwards."""
    engine = FakeEngine(delay_s=0.1)
    app = create_app(config, engine=engine)
    store = app[ROOMS_KEY].store
    async with serving(app) as base:
        if make_room:  # as the teacher would: a screen link, and the first phone presents
            code = (await store.create("t")).code
            hub = app[ROOMS_KEY]
            await hub.set_settings(code, first_phone_presents=True)
            _, key = await hub.mint_screen(code)
            argv = [*argv, "--room", code, "--screen-key", key]
        status = await asyncio.to_thread(_loadtest, ["--url", base, *argv])
        open_rooms = [r.code for r in await store.of_teacher("t")]
        open_rooms += [r.code for r in await store.of_teacher("lee")]
    return status, engine, open_rooms


def test_a_presenter_and_three_viewers_are_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_png = tmp_path / "viewers.json", tmp_path / "viewers.png"
    argv = ["--clients", "1", "--viewers", "3", "--duration", "3", "--tap"]
    argv += ["--json", str(out_json), "--plot", str(out_png)]
    status, engine, _ = asyncio.run(
        asyncio.wait_for(_against(ServerConfig(), argv, make_room=True), 240)
    )
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    assert "viewers 3/3 in p50" in captured.err  # the live progress lines
    for metric in ("viewer latency (ms)", "viewer fps in", "viewer presenter frames seen (%)"):
        assert metric in captured.out
    assert "OK: 1/1 client(s), 3/3 viewer(s) ran to the end" in captured.out
    assert out_png.read_bytes().startswith(PNG_SIGNATURE)
    assert len(engine.closed_sessions) == 1  # the phone's; viewers cost no engine session

    report = json.loads(out_json.read_text())
    assert report["ok"] and report["viewers_asked"] == 3 and report["room"]
    (phone,) = report["clients"]
    assert phone["presenting"] is True and phone["state"] == "ok"
    assert len(report["viewers"]) == 3
    run_ms = report["elapsed_s"] * 1000
    for viewer in report["viewers"]:
        assert viewer["state"] == "ok" and viewer["error_count"] == 0, viewer["errors"]
        assert viewer["session"].startswith("v") and viewer["presenting"] == phone["session"]
        assert 0 < viewer["offer_s"] <= viewer["connected_s"]
        # the room's screen shows the presenter's frames, each one it sent, at most once
        assert viewer["frames_matched"] >= 1, viewer
        assert viewer["frames_matched"] + viewer["frames_unmatched"] == viewer["frames_received"]
        seen, spanned = viewer["presenter_frames_seen"], viewer["presenter_frames"]
        assert 1 <= seen <= min(viewer["frames_matched"], spanned)
        assert spanned <= phone["frames_sent"]
        assert viewer["seen_fraction"] == pytest.approx(seen / spanned, abs=1e-4)
        latencies = viewer["latency_ms"]
        assert len(latencies) == viewer["frames_matched"]
        assert all(math.isfinite(ms) and 0 < ms < run_ms for _, ms in latencies), latencies
        sent_at = [t - ms / 1000 for t, ms in latencies]  # the presenter's send times
        assert all(b >= a - 0.002 for a, b in itertools.pairwise(sent_at)), "out of order"
        fps_p50, fps_p95 = viewer["fps_in_p50_p95"]
        assert 0 <= fps_p50 <= fps_p95
        latency_p50, latency_p95 = viewer["latency_ms_p50_p95"]
        assert 0 < latency_p50 <= latency_p95 < run_ms
        assert len(viewer["series"]) >= 2
        assert all(s["fps_out"] == 0 for s in viewer["series"])
        assert viewer["room_messages"] >= 1 and viewer["objects_messages"] >= 1
    names = {row["name"] for row in report["summary"]}
    assert {"viewer latency (ms)", "viewer fps in", "viewer connect (s)"} <= names


def test_a_teacher_creates_the_room_for_the_run_and_ends_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    TeacherStore(tmp_path / "teachers.json", hasher=FAST).add("lee", "correct horse")
    config = ServerConfig(classroom=ClassroomSettings(teachers_file=tmp_path / "teachers.json"))
    monkeypatch.setenv("VISIONANYTHING_TEACHER_PASSWORD", "correct horse")
    out_json = tmp_path / "teacher.json"
    argv = ["--viewers", "1", "--teacher", "lee", "--duration", "2", "--json", str(out_json)]
    status, _, open_rooms = asyncio.run(asyncio.wait_for(_against(config, argv), 180))
    captured = capsys.readouterr()
    assert status == 0, captured.out + captured.err
    report = json.loads(out_json.read_text())
    assert report["room"] and report["viewers"][0]["frames_matched"] > 0
    assert "password" not in out_json.read_text() and "correct horse" not in captured.err
    assert open_rooms == []  # ended after the run

    monkeypatch.setenv("VISIONANYTHING_TEACHER_PASSWORD", "wrong")
    status, _, open_rooms = asyncio.run(asyncio.wait_for(_against(config, argv), 180))
    captured = capsys.readouterr()
    assert status == 1
    assert "teacher login failed for 'lee': wrong name or password" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert open_rooms == []


def test_a_wrong_room_code_fails_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--viewers", "2", "--room", "ZZZZZZ", "--duration", "2"]
    status, engine, _ = asyncio.run(asyncio.wait_for(_against(ServerConfig(), argv), 120))
    captured = capsys.readouterr()
    assert status == 1
    assert "no room with code 'ZZZZZZ'" in captured.out
    assert "check the code on the teacher's screen" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert engine.closed_sessions == []  # nobody connected


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--viewers", "2"], "viewers watch a room: give --room CODE"),
        (["--viewers", "65", "--room", "ABCDEF"], "viewers must lie in 0..64"),
        (["--viewers", "-1", "--room", "ABCDEF"], "viewers must lie in 0..64"),
        (["--room", "ABCDEF", "--teacher", "lee"], "either --room"),
        (["--viewers", "1", "--room", "no such room!"], "a room code is 1-64 letters"),
    ],
)
def test_bad_viewer_arguments_are_usage_errors(
    argv: list[str], error: str, caplog: pytest.LogCaptureFixture
) -> None:
    # no server needed: the arguments are refused before anything connects
    status = _loadtest(["--url", "http://127.0.0.1:9", *argv])
    assert status == 2
    assert error in caplog.text
