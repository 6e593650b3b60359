"""The recorded clip: deterministic, has cuts, a dim stretch and camera motion; y4m/mp4/webm
files are exact and decode back; the `clip` command writes them."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from stream.loadtest.clip import (
    DIM_LEVEL,
    ClipFrame,
    clip_frame_count,
    iter_clip_frames,
    parse_size,
    plan_scenes,
)
from stream.loadtest.clip_files import read_video_frames, write_clip, write_frames, y4m_header
from visionanything.cli import main

SIZE = (320, 240)
SECONDS, FPS = 2.0, 15


def _digest(frames: list[ClipFrame]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.rgb.tobytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def frames() -> list[ClipFrame]:
    return list(iter_clip_frames(SECONDS, FPS, SIZE, seed=0))


def test_frames_are_rgb_of_the_asked_size_and_timed(frames: list[ClipFrame]) -> None:
    assert len(frames) == clip_frame_count(SECONDS, FPS) == 30
    for i, frame in enumerate(frames):
        assert frame.index == i
        assert frame.t == pytest.approx(i / FPS)
        assert frame.rgb.shape == (240, 320, 3) and frame.rgb.dtype == np.uint8


def test_same_seed_same_frames_other_seed_other_frames(frames: list[ClipFrame]) -> None:
    assert _digest(list(iter_clip_frames(SECONDS, FPS, SIZE, seed=0))) == _digest(frames)
    assert _digest(list(iter_clip_frames(SECONDS, FPS, SIZE, seed=1))) != _digest(frames)


def test_the_clip_has_a_cut_and_a_dim_stretch(frames: list[ClipFrame]) -> None:
    scenes = [frame.scene for frame in frames]
    cuts = [i for i in range(1, len(frames)) if scenes[i] != scenes[i - 1]]
    assert len(cuts) >= 1
    assert scenes[0] == "chelsea"
    dims = np.array([frame.dim for frame in frames])
    assert dims.min() == pytest.approx(DIM_LEVEL)
    luma = np.array([cv2.cvtColor(f.rgb, cv2.COLOR_RGB2GRAY).mean() for f in frames])
    dim_luma = luma[dims < 0.3].mean()
    normal_luma = luma[dims == 1.0].mean()
    assert dim_luma < 0.4 * normal_luma, (dim_luma, normal_luma)


def test_the_camera_moves_smoothly_except_at_cuts(frames: list[ClipFrame]) -> None:
    change = [
        float(np.abs(frames[i].rgb.astype(np.int16) - frames[i - 1].rgb).mean())
        for i in range(1, len(frames))
    ]
    at_cut = [c for i, c in enumerate(change, 1) if frames[i].scene != frames[i - 1].scene]
    within = [c for i, c in enumerate(change, 1) if frames[i].scene == frames[i - 1].scene]
    assert min(within) > 0.5  # every frame moves (shake, motion, noise)
    assert max(within) < 40  # ... but no jumps inside a scene
    assert min(at_cut) > max(within)


def test_a_twenty_second_clip_visits_every_photo_once() -> None:
    scenes = plan_scenes(20, 15)
    assert [s.name for s in scenes] == ["chelsea", "coffee", "astronaut", "rocket", "motorcycle"]
    assert sum(s.dim for s in scenes) == 1
    assert scenes[0].start == 0 and scenes[-1].stop == 300
    assert all(a.stop == b.start for a, b in itertools.pairwise(scenes))


def test_y4m_is_exact_and_decodes_back(tmp_path: Path, frames: list[ClipFrame]) -> None:
    path = tmp_path / "clip.y4m"
    info = write_clip(path, SECONDS, FPS, SIZE, seed=0)
    assert info.frames == 30 and info.format == "y4m"
    raw = path.read_bytes()
    header = b"YUV4MPEG2 W320 H240 F15:1 Ip A1:1 C420\n"
    assert y4m_header(SIZE, FPS) == header
    assert raw.startswith(header + b"FRAME\n")
    frame_bytes = len(b"FRAME\n") + 320 * 240 * 3 // 2
    assert len(raw) == len(header) + 30 * frame_bytes
    assert raw.count(b"FRAME\n") >= 30
    rates: list[float | None] = []
    decoded = list(read_video_frames(path, on_open=rates.append))
    assert rates == [15.0]
    assert len(decoded) == 30
    assert decoded[0].shape == (240, 320, 3)
    error = np.abs(decoded[5].astype(np.int16) - frames[5].rgb).mean()
    assert error < 6  # I420 chroma subsampling and rounding only
    assert not list(tmp_path.glob(".*partial"))


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_encoded_clips_write_and_decode(
    tmp_path: Path, frames: list[ClipFrame], suffix: str
) -> None:
    path = tmp_path / f"clip{suffix}"
    info = write_frames(path, (f.rgb for f in frames), FPS, SIZE)
    assert info.frames == 30 and info.bytes == path.stat().st_size > 0
    decoded = list(read_video_frames(path))
    assert abs(len(decoded) - 30) <= 1
    assert decoded[0].shape == (240, 320, 3)
    assert np.abs(decoded[3].astype(np.int16) - frames[3].rgb).mean() < 12


def test_bad_arguments_are_clear(tmp_path: Path) -> None:
    assert parse_size("640x480") == (640, 480)
    with pytest.raises(ValueError, match="even"):
        parse_size("641x480")
    with pytest.raises(ValueError, match="640x480"):
        parse_size("big")
    with pytest.raises(ValueError, match="seed"):
        iter_clip_frames(1, FPS, SIZE, seed=-1)
    with pytest.raises(ValueError, match="fps"):
        iter_clip_frames(1, 0, SIZE)
    with pytest.raises(ValueError, match=r"\.y4m"):
        write_clip(tmp_path / "clip.avi", 1, FPS, SIZE)
    with pytest.raises(ValueError, match="shape"):
        write_frames(tmp_path / "x.y4m", [np.zeros((10, 10, 3), np.uint8)], FPS, SIZE)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind
    with pytest.raises(FileNotFoundError):
        next(read_video_frames(tmp_path / "missing.mp4"))


def test_clip_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "cli.y4m"
    args = ["clip", str(out), "--seconds", "1", "--size", "160x120", "--no-progress"]
    assert main(args) == 0
    assert out.read_bytes().startswith(b"YUV4MPEG2 W160 H120 F15:1 Ip A1:1 C420\nFRAME\n")
    assert len(list(read_video_frames(out))) == 15
    assert main(["clip", str(tmp_path / "x.gif"), "--seconds", "1"]) == 2
    assert main(["clip", str(tmp_path / "no" / "x.y4m"), "--seconds", "1"]) == 2
    assert main(["clip", str(tmp_path / "x.y4m"), "--seconds", "1", "--seed", "-1"]) == 2
